//! The flags of `dvae train` and the configuration they resolve to: a preset and a recipe,
//! then every override. A family's flags are registered here, each with the family it
//! belongs to and its `config.json` key; one given for another family is refused.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use dvae::config::{ModelConfig, Recipe, ReconLoss, TrainConfig};
use dvae::kernels::device::DeviceSpec;
use dvae::model::family::FamilyConfig;
use dvae::run_config::{FORMAT_VERSION, RunConfig};

use super::family_flags::FamilyFlags;

/// Every flag of `dvae train`.
#[derive(Args)]
pub struct Flags {
    /// Architecture preset: tiny, small (the default) or dalle.
    #[arg(long)]
    pub preset: Option<String>,
    /// Training recipe: default (tuned for short CPU runs; the default) or dalle (the
    /// paper's, scaled).
    #[arg(long)]
    pub recipe: Option<Recipe>,
    /// default (the embedded data set; the default), a folder of images, mnist:PATH,
    /// cifar10:PATH, or WebDataset tar shards (train-{000000..000127}.tar, a folder of .tar,
    /// a .txt list of shard paths), which are streamed.
    #[arg(long)]
    pub data: Option<String>,
    /// Evaluate on this data source instead of a held-out part of --data (all of --data is
    /// then trained on). Without it, shards hold out the first --holdout of their last
    /// shard (at most 256 images).
    #[arg(long)]
    pub eval_data: Option<String>,
    /// Stream a folder's images (decoded on worker threads ahead of the step, a seeded
    /// permutation of the files an epoch) instead of decoding all of them into memory
    /// first; shards always stream.
    #[arg(long)]
    pub stream: bool,
    /// Encoded samples in a shard stream's shuffle buffer [default: 1000].
    #[arg(long)]
    pub shuffle_buffer: Option<usize>,
    /// Threads decoding and resizing a shard stream ahead of the step [default: the cores,
    /// at most 4]; does not change the run.
    #[arg(long)]
    pub data_workers: Option<usize>,
    /// Random square crops of LO to HI of each training image's area, resized to the
    /// model's size (e.g. 0.5,1) [default: the centre crop].
    #[arg(long, value_name = "LO,HI")]
    pub crop_scale: Option<CropScale>,
    /// Mirror each training image left-right with probability 1/2.
    #[arg(long)]
    pub hflip: bool,
    /// Total optimisation steps of the run (with --resume: extend the run to this many).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Images per step.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of every random stream (init, data order, noise).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run directory to write.
    #[arg(long, default_value = "runs/default")]
    pub out: PathBuf,
    /// Checkpoint, evaluate and write a grid every N steps.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Continue the run in --out from its last checkpoint (its config.json is used; see
    /// "Resume" below for the flags that may be given with it).
    #[arg(long)]
    pub resume: bool,
    /// Stop at the first unreadable file in a data folder instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Also write a checkpoint (no evaluation) once this many minutes (a decimal number)
    /// have passed since the last one; the weights are those of a run without it.
    #[arg(long, value_name = "M", value_parser = positive_minutes)]
    pub checkpoint_every_minutes: Option<f64>,
    /// Reconstruction loss: logit-laplace or mse.
    #[arg(long)]
    pub loss: Option<ReconLoss>,
    /// Side of the square input images in pixels.
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Resolution groups; the token grid is image_size / 2^(group_count-1).
    #[arg(long)]
    pub group_count: Option<usize>,
    /// Width of the first group (group g has n_hid·2^g channels).
    #[arg(long)]
    pub n_hid: Option<usize>,
    /// Residual blocks per group.
    #[arg(long)]
    pub n_blk_per_group: Option<usize>,
    /// Number of codes K.
    #[arg(long)]
    pub vocab_size: Option<usize>,
    /// Channels of the decoder's 1×1 input convolution (the codebook's vector size).
    #[arg(long)]
    pub n_init: Option<usize>,
    /// Latent vector size per cell of the vector families (vqvae, vae, ae), and of the
    /// dVAE's codes with --logits dot|distance (the default recipe's).
    #[arg(long)]
    pub code_dim: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Final learning rate of the cosine decay.
    #[arg(long)]
    pub lr_end: Option<f64>,
    /// Steps of the linear learning-rate warm-up.
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    /// AdamW's decoupled weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Decay of the weight EMA that evaluation and export use.
    #[arg(long)]
    pub ema_decay: Option<f64>,
    /// Clip the global gradient norm (0 turns clipping off).
    #[arg(long)]
    pub grad_clip: Option<f64>,
    /// Log a line every N steps.
    #[arg(long)]
    pub log_every: Option<usize>,
    /// Fraction of the data held out for evaluation.
    #[arg(long)]
    pub holdout: Option<f64>,
    /// Tokenizer family: dvae (the default), vqvae, vae, ae, fsq or lfq.
    #[arg(long)]
    pub family: Option<String>,
    #[command(flatten)]
    pub family_flags: FamilyFlags,
    #[command(flatten)]
    pub device: super::DeviceArg,
    /// Data-parallel training over these devices, comma-separated and of one kind
    /// (wgpu:0,wgpu:1 or cuda:0,cuda:1; cpu,cpu runs two replicas on the CPU): each takes an
    /// equal share of every batch, and the gradients are averaged on the first, which
    /// applies the update. Not with --device.
    #[arg(long, value_delimiter = ',', conflicts_with = "device")]
    pub devices: Vec<DeviceSpec>,
}

/// A positive, finite number of minutes.
fn positive_minutes(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 => Ok(m),
        _ => Err(format!("expected a positive number of minutes, got {s:?}")),
    }
}

/// Steps and batch of a run when --steps/--batch are not given: `small` (the README's
/// default run) takes about five minutes on two CPU cores.
fn preset_budget(preset: &str) -> (usize, usize) {
    match preset {
        "small" => (700, 16),
        "tiny" => (2000, 32),
        _ => (1000, 32),
    }
}

impl Flags {
    /// The configuration these flags describe: preset and recipe, then every override.
    pub fn resolve(&self) -> Result<RunConfig> {
        let preset = self.preset.as_deref().unwrap_or("small");
        let recipe = self.recipe.unwrap_or(Recipe::Default);
        let mut m = ModelConfig::preset(preset)?;
        macro_rules! set {
            ($dst:expr, $($f:ident),*) => { $( if let Some(v) = self.$f { $dst.$f = v; } )* };
        }
        set!(
            m,
            image_size,
            group_count,
            n_hid,
            n_blk_per_group,
            vocab_size,
            n_init,
            code_dim
        );
        if let Some(l) = self.loss {
            m.recon_loss = l;
        }
        let (default_steps, default_batch) = preset_budget(preset);
        let steps = self.steps.unwrap_or(default_steps);
        let mut t = TrainConfig::recipe(recipe, steps);
        t.batch = default_batch;
        set!(
            t,
            batch,
            seed,
            checkpoint_every,
            lr,
            lr_end,
            warmup_steps,
            weight_decay
        );
        set!(t, ema_decay, log_every, holdout, shuffle_buffer);
        t.eval_data = self.eval_data.clone();
        t.augment.crop_scale = self.crop_scale.map(|c| c.0);
        t.augment.hflip = self.hflip;
        t.stream = self.stream;
        if let Some(c) = self.grad_clip {
            t.grad_clip = (c > 0.0).then_some(c);
        }
        t.checkpoint_every = t.checkpoint_every.min(steps.max(1));
        let family_name = self.family.as_deref().unwrap_or("dvae");
        let family = FamilyConfig::of_model(family_name, recipe, steps, &m)?;
        let bottleneck = self.family_flags.apply(family)?;
        if self.vocab_size.is_none()
            && let Some(k) = bottleneck.family().vocab(&m)
        {
            // A family whose options fix the vocabulary (FSQ's levels) sets it.
            m.vocab_size = k;
        }
        let config = RunConfig {
            format_version: FORMAT_VERSION,
            preset: preset.to_string(),
            model: m,
            bottleneck,
            train: t,
            data: self.data.clone().unwrap_or_else(|| "default".into()),
        };
        config.validate()?;
        Ok(config)
    }
}

/// `--crop-scale LO,HI`.
#[derive(Clone, Copy, Debug)]
pub struct CropScale(pub [f64; 2]);

impl std::str::FromStr for CropScale {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?}: expected LO,HI with 0 < LO <= HI <= 1 (e.g. 0.5,1)");
        let (lo, hi) = s.split_once(',').ok_or_else(bad)?;
        let (lo, hi): (f64, f64) = (
            lo.trim().parse().map_err(|_| bad())?,
            hi.trim().parse().map_err(|_| bad())?,
        );
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return Err(bad());
        }
        Ok(Self([lo, hi]))
    }
}
