//! The flags of `dvae train` and the configuration they resolve to: a preset and a recipe,
//! then every override. A family's flags are registered here, each with the family it
//! belongs to and its `config.json` key; one given for another family is refused.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use dvae::config::{ModelConfig, Recipe, ReconLoss, TrainConfig};
use dvae::model::family::FamilyConfig;
use dvae::run_config::{FORMAT_VERSION, RunConfig};
use dvae::schedule::{BetaSchedule, TauSchedule};
use serde_json::{Value, json};

/// Every flag of `dvae train`.
#[derive(Args)]
pub struct Flags {
    /// Architecture preset: tiny, small or dalle.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Training recipe: default (tuned for short CPU runs) or dalle (the paper's, scaled).
    #[arg(long, default_value = "default")]
    pub recipe: Recipe,
    /// default, a folder of images, mnist:PATH or cifar10:PATH.
    #[arg(long, default_value = "default")]
    pub data: String,
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
    /// Continue the run in --out from its last checkpoint (its config.json is used).
    #[arg(long)]
    pub resume: bool,
    /// Stop at the first unreadable file in a data folder instead of skipping it.
    #[arg(long)]
    pub strict: bool,
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
    /// Latent vector size per cell of the vector families (vqvae, vae, ae).
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
    /// Tokenizer family: dvae, vqvae, vae, ae, fsq or lfq.
    #[arg(long, default_value = "dvae")]
    pub family: String,
    #[command(flatten)]
    pub family_flags: FamilyFlags,
}

/// The families' own flags.
#[derive(Args)]
pub struct FamilyFlags {
    /// dvae: initial Gumbel-softmax temperature τ.
    #[arg(long)]
    tau_start: Option<f64>,
    /// dvae: final temperature τ.
    #[arg(long)]
    tau_end: Option<f64>,
    /// dvae: shape of the τ annealing, cosine or exponential.
    #[arg(long)]
    tau_schedule: Option<TauSchedule>,
    /// dvae: steps over which τ is annealed (then held).
    #[arg(long)]
    tau_steps: Option<usize>,
    /// dvae: final KL weight β.
    #[arg(long)]
    kl_weight: Option<f64>,
    /// dvae: shape of the β warm-up, cosine or fixed.
    #[arg(long)]
    beta_schedule: Option<BetaSchedule>,
    /// dvae: steps of the β warm-up.
    #[arg(long)]
    beta_steps: Option<usize>,
    /// dvae: weight of the codebook-diversity term (KL of the batch-mean code distribution to uniform).
    #[arg(long)]
    diversity_weight: Option<f64>,
    /// dvae: weight of the mean per-cell entropy of q(z|x) (pushes each cell to be confident).
    #[arg(long)]
    cell_entropy_weight: Option<f64>,
    /// dvae: straight-through hard Gumbel-softmax (true/false).
    #[arg(long)]
    hard: Option<bool>,
    /// dvae: scale of the Gumbel noise (1 = Gumbel-softmax, 0 = no noise).
    #[arg(long)]
    gumbel_scale: Option<f64>,
    /// dvae: initial std of the codebook (0 keeps DALL·E's 1/sqrt(vocab_size)).
    #[arg(long)]
    codebook_std: Option<f64>,
    /// vqvae: compare codes by cosine similarity (l2-normalised).
    #[arg(long)]
    vq_cosine: Option<bool>,
    /// vqvae: commitment weight β.
    #[arg(long)]
    commitment: Option<f64>,
    /// vqvae: update the codebook by EMA (true) or by the codebook loss (false).
    #[arg(long)]
    vq_ema: Option<bool>,
    /// vqvae: EMA decay.
    #[arg(long)]
    vq_decay: Option<f64>,
    /// vqvae: k-means initialisation of the codebook from the first batch.
    #[arg(long)]
    kmeans_init: Option<bool>,
    /// vqvae: re-seed codes unused for N steps (0: never).
    #[arg(long)]
    restart_after: Option<usize>,
    /// vqvae: l2-normalised code lookup in this many dimensions (ViT-VQGAN's factorised codes).
    #[arg(long)]
    lookup_dim: Option<usize>,
    /// vqvae: the rotation trick for the gradient through the quantizer (true/false).
    #[arg(long)]
    rotation_trick: Option<bool>,
    /// vqvae: SimVQ, a frozen random codebook through one learned linear map (true/false;
    /// unless given, --vq-ema, --kmeans-init and --restart-after are then turned off).
    #[arg(long)]
    simvq: Option<bool>,
    /// fsq: levels of each latent dimension, e.g. 8,8,8 (512 codes; sets --vocab-size).
    #[arg(long, value_delimiter = ',')]
    levels: Option<Vec<usize>>,
    /// lfq: weight of the entropy penalty.
    #[arg(long)]
    entropy_weight: Option<f64>,
    /// lfq: weight γ of the batch's code entropy against the per-cell entropy.
    #[arg(long)]
    diversity_gamma: Option<f64>,
    /// lfq: commitment weight.
    #[arg(long)]
    lfq_commitment: Option<f64>,
    /// lfq: inverse temperature of the code distribution the entropies are taken of.
    #[arg(long)]
    inv_temperature: Option<f64>,
    /// lfq: BSQ, latents and codes on the unit sphere (true/false).
    #[arg(long)]
    spherical: Option<bool>,
    /// vae: final KL weight β (1 is the ELBO).
    #[arg(long)]
    vae_kl_weight: Option<f64>,
    /// vae: steps of the linear β warm-up.
    #[arg(long)]
    vae_warmup_steps: Option<usize>,
}

/// A value for JSON, `null` where a "0 means none" flag says none.
fn some_or_null<T: PartialOrd + Default + Into<Value>>(v: T) -> Value {
    if v > T::default() {
        v.into()
    } else {
        Value::Null
    }
}

/// A given flag's value as JSON.
fn j<T: Into<Value>>(v: Option<T>) -> Option<Value> {
    v.map(Into::into)
}

impl FamilyFlags {
    /// (family, flag, config key, value) of every flag given.
    fn given(&self) -> Vec<(&'static str, &'static str, &'static str, Value)> {
        let f = |family, flag, key, v: Option<Value>| v.map(|v| (family, flag, key, v));
        [
            f("dvae", "tau-start", "tau_start", j(self.tau_start)),
            f("dvae", "tau-end", "tau_end", j(self.tau_end)),
            f(
                "dvae",
                "tau-schedule",
                "tau_schedule",
                self.tau_schedule.map(|s| json!(s.name())),
            ),
            f("dvae", "tau-steps", "tau_steps", j(self.tau_steps)),
            f("dvae", "kl-weight", "kl_weight", j(self.kl_weight)),
            f(
                "dvae",
                "beta-schedule",
                "beta_schedule",
                self.beta_schedule.map(|s| json!(s.name())),
            ),
            f("dvae", "beta-steps", "beta_steps", j(self.beta_steps)),
            f(
                "dvae",
                "diversity-weight",
                "diversity_weight",
                j(self.diversity_weight),
            ),
            f(
                "dvae",
                "cell-entropy-weight",
                "cell_entropy_weight",
                j(self.cell_entropy_weight),
            ),
            f("dvae", "hard", "hard", j(self.hard)),
            f("dvae", "gumbel-scale", "gumbel_scale", j(self.gumbel_scale)),
            f(
                "dvae",
                "codebook-std",
                "codebook_std",
                self.codebook_std.map(some_or_null),
            ),
            f("vqvae", "vq-cosine", "cosine", j(self.vq_cosine)),
            f("vqvae", "commitment", "commitment", j(self.commitment)),
            f("vqvae", "vq-ema", "ema", j(self.vq_ema)),
            f("vqvae", "vq-decay", "decay", j(self.vq_decay)),
            f("vqvae", "kmeans-init", "kmeans_init", j(self.kmeans_init)),
            f(
                "vqvae",
                "restart-after",
                "restart_after",
                self.restart_after.map(some_or_null),
            ),
            f(
                "vqvae",
                "lookup-dim",
                "lookup_dim",
                self.lookup_dim.map(some_or_null),
            ),
            f(
                "vqvae",
                "rotation-trick",
                "rotation_trick",
                j(self.rotation_trick),
            ),
            f("vqvae", "simvq", "simvq", j(self.simvq)),
            f(
                "fsq",
                "levels",
                "levels",
                self.levels.clone().map(|l| json!(l)),
            ),
            f(
                "lfq",
                "entropy-weight",
                "entropy_weight",
                j(self.entropy_weight),
            ),
            f(
                "lfq",
                "diversity-gamma",
                "diversity_gamma",
                j(self.diversity_gamma),
            ),
            f(
                "lfq",
                "lfq-commitment",
                "commitment",
                j(self.lfq_commitment),
            ),
            f(
                "lfq",
                "inv-temperature",
                "inv_temperature",
                j(self.inv_temperature),
            ),
            f("lfq", "spherical", "spherical", j(self.spherical)),
            f("vae", "vae-kl-weight", "kl_weight", j(self.vae_kl_weight)),
            f(
                "vae",
                "vae-warmup-steps",
                "warmup_steps",
                j(self.vae_warmup_steps),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `family` with these flags applied; a flag of another family is an error.
    fn apply(&self, family: FamilyConfig) -> Result<FamilyConfig> {
        let name = family.name();
        let mut v = serde_json::to_value(&family)?;
        if self.simvq == Some(true) {
            // SimVQ's codebook is a frozen basis seen through a learned map: nothing for
            // an EMA, k-means or a restart to move, unless asked for (then refused).
            v["ema"] = json!(false);
            v["kmeans_init"] = json!(false);
            v["restart_after"] = Value::Null;
        }
        for (owner, flag, key, value) in self.given() {
            if owner != name {
                bail!("--{flag} is an option of --family {owner}, not of {name}");
            }
            v[key] = value;
        }
        Ok(serde_json::from_value(v)?)
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
        let mut m = ModelConfig::preset(&self.preset)?;
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
        let (default_steps, default_batch) = preset_budget(&self.preset);
        let steps = self.steps.unwrap_or(default_steps);
        let mut t = TrainConfig::recipe(self.recipe, steps);
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
        set!(t, ema_decay, log_every, holdout);
        if let Some(c) = self.grad_clip {
            t.grad_clip = (c > 0.0).then_some(c);
        }
        t.checkpoint_every = t.checkpoint_every.min(steps.max(1));
        let family = FamilyConfig::of_model(&self.family, self.recipe, steps, &m)?;
        let bottleneck = self.family_flags.apply(family)?;
        if self.vocab_size.is_none()
            && let Some(k) = bottleneck.family().vocab(&m)
        {
            // A family whose options fix the vocabulary (FSQ's levels) sets it.
            m.vocab_size = k;
        }
        let config = RunConfig {
            format_version: FORMAT_VERSION,
            preset: self.preset.clone(),
            model: m,
            bottleneck,
            train: t,
            data: self.data.clone(),
        };
        config.validate()?;
        Ok(config)
    }
}
