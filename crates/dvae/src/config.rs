//! Model and training configuration: presets, recipes, validation.
//!
//! A run is fully described by a [`RunConfig`]: it is printed at start and saved as
//! `config.json` in the run directory, so a run can be reproduced and resumed from it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::model::quantizer::Family;

/// Version of the run-directory format written by this library. A run directory written
/// by a newer version is refused rather than misread.
pub const FORMAT_VERSION: u32 = 1;

/// Largest model a configuration may describe (parameters, about 4 GB of f32 weights).
pub const MAX_PARAMS: f64 = 1e9;

/// What the decoder predicts and how reconstruction is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReconLoss {
    /// DALL·E's logit-Laplace likelihood: the decoder outputs μ and ln b per channel (6 channels).
    LogitLaplace,
    /// Mean squared error in pixel space: the decoder outputs 3 channels (a logit per pixel).
    Mse,
}

/// Architecture of encoder and decoder, with DALL·E's field names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Side of the square input image in pixels.
    pub image_size: usize,
    /// Channels of the input image (3 for RGB).
    pub input_channels: usize,
    /// Number of resolution groups; the token grid is `image_size / 2^(group_count-1)`.
    pub group_count: usize,
    /// Width of the first group; group g has width `n_hid * 2^g`.
    pub n_hid: usize,
    /// Bottleneck residual blocks per group.
    pub n_blk_per_group: usize,
    /// Number of codebook entries K.
    pub vocab_size: usize,
    /// Dimension of a codebook vector (the decoder's 1×1 input convolution).
    pub n_init: usize,
    /// Reconstruction likelihood; decides the decoder's output channels.
    pub recon_loss: ReconLoss,
    /// Tokenizer family: what sits between encoder and decoder.
    #[serde(default)]
    pub family: Family,
    /// Latent vector size per cell for `vqvae`, `vae` and `ae` (the dVAE's is `vocab_size`).
    #[serde(default = "default_code_dim")]
    pub code_dim: usize,
    /// VQ-VAE: compare l2-normalised vectors (cosine similarity) instead of raw ones.
    #[serde(default)]
    pub vq_cosine: bool,
}

fn default_code_dim() -> usize {
    64
}

impl ModelConfig {
    /// A named preset: `tiny`, `small` or `dalle`.
    pub fn preset(name: &str) -> Result<Self> {
        let base = |image_size, group_count, n_hid, n_blk_per_group, vocab_size, n_init| Self {
            image_size,
            input_channels: 3,
            group_count,
            n_hid,
            n_blk_per_group,
            vocab_size,
            n_init,
            recon_loss: ReconLoss::LogitLaplace,
            family: Family::Dvae,
            code_dim: default_code_dim(),
            vq_cosine: false,
        };
        match name {
            "tiny" => Ok(base(64, 4, 32, 1, 512, 64)),
            "small" => Ok(base(64, 3, 32, 1, 1024, 128)),
            "dalle" => Ok(base(256, 4, 256, 2, 8192, 128)),
            other => Err(Error::config(
                "preset",
                format!("expected one of tiny, small, dalle; got {other:?}"),
            )),
        }
    }

    /// Side of the token grid.
    pub fn grid_size(&self) -> usize {
        self.image_size >> (self.group_count - 1)
    }

    /// Width of group `g` (0-based).
    pub fn group_width(&self, g: usize) -> usize {
        self.n_hid << g
    }

    /// Channels of the decoder's input: K for the dVAE, `code_dim` otherwise.
    pub fn latent_channels(&self) -> usize {
        match self.family {
            Family::Dvae => self.vocab_size,
            _ => self.code_dim,
        }
    }

    /// Channels of the encoder's output: K logits, D vectors, or μ and log σ² (2D).
    pub fn encoder_channels(&self) -> usize {
        match self.family {
            Family::Vae => 2 * self.code_dim,
            _ => self.latent_channels(),
        }
    }

    /// Channels the decoder outputs.
    pub fn output_channels(&self) -> usize {
        match self.recon_loss {
            ReconLoss::LogitLaplace => 2 * self.input_channels,
            ReconLoss::Mse => self.input_channels,
        }
    }

    /// An upper estimate of the parameter count, in floating point so that no field value
    /// can overflow it: per block at most 4.5·w² weights (a 3×3 from w to w/4, two 3×3 at
    /// w/4, a 1×1 back to w, an identity path), in the encoder and the decoder, plus the
    /// input, codebook and output convolutions.
    fn approx_params(&self) -> f64 {
        let f = |v: usize| v as f64;
        let blocks: f64 = (0..self.group_count.min(64))
            .map(|g| {
                let w = f(self.n_hid) * 2f64.powi(g as i32);
                f(self.n_blk_per_group) * 4.5 * w * w
            })
            .sum();
        let top = f(self.n_hid) * 2f64.powi(self.group_count.min(64) as i32);
        let latent = f(self.vocab_size).max(2.0 * f(self.code_dim));
        2.0 * blocks
            + f(self.input_channels) * f(self.n_hid) * 49.0
            + top * latent
            + latent * f(self.n_init) * 2.0
            + f(self.n_init) * f(self.n_hid) * 9.0
            + f(self.input_channels) * 2.0 * f(self.n_hid)
    }

    /// Checks every field; the error names the field, the expected range and the value.
    pub fn validate(&self) -> Result<()> {
        let min = |field: &str, v: usize, lo: usize| {
            if v < lo {
                Err(Error::config(
                    field,
                    format!("must be at least {lo}, got {v}"),
                ))
            } else {
                Ok(())
            }
        };
        min("group_count", self.group_count, 2)?;
        min("n_hid", self.n_hid, 4)?;
        min("n_blk_per_group", self.n_blk_per_group, 1)?;
        min("vocab_size", self.vocab_size, 2)?;
        min("n_init", self.n_init, 1)?;
        min("code_dim", self.code_dim, 1)?;
        min("input_channels", self.input_channels, 1)?;
        if !self.n_hid.is_multiple_of(4) {
            return Err(Error::config(
                "n_hid",
                format!(
                    "must be a multiple of 4 (blocks use n_out/4 hidden channels), got {}",
                    self.n_hid
                ),
            ));
        }
        if self.group_count > 12 {
            return Err(Error::config(
                "group_count",
                format!("at most 12, got {}", self.group_count),
            ));
        }
        let factor = 1usize << (self.group_count - 1);
        if self.image_size > crate::data::image_io::MAX_SIDE as usize {
            return Err(Error::config(
                "image_size",
                format!(
                    "at most {}, got {}",
                    crate::data::image_io::MAX_SIDE,
                    self.image_size
                ),
            ));
        }
        if self.image_size == 0 || !self.image_size.is_multiple_of(factor) {
            return Err(Error::config(
                "image_size",
                format!(
                    "must be a positive multiple of 2^(group_count-1) = {factor}, got {}",
                    self.image_size
                ),
            ));
        }
        // A config.json is user input: a model too large to allocate is refused here,
        // before any tensor is built, rather than aborting the process later.
        let params = self.approx_params();
        if params > MAX_PARAMS {
            return Err(Error::config(
                "model",
                format!(
                    "about {params:.3e} parameters (n_hid {}, group_count {}, n_blk_per_group {}, \
                     vocab_size {}, n_init {}, code_dim {}), more than the limit of {MAX_PARAMS:.0e}",
                    self.n_hid,
                    self.group_count,
                    self.n_blk_per_group,
                    self.vocab_size,
                    self.n_init,
                    self.code_dim
                ),
            ));
        }
        if self.vocab_size > u16::MAX as usize + 1 {
            return Err(Error::config(
                "vocab_size",
                format!(
                    "at most 65536 (tokens are stored as u16), got {}",
                    self.vocab_size
                ),
            ));
        }
        Ok(())
    }
}

/// How τ is annealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TauSchedule {
    /// Half-cosine from `tau_start` to `tau_end` over `tau_steps`.
    Cosine,
    /// Geometric decay from `tau_start` to `tau_end` over `tau_steps`.
    Exponential,
}

/// How the KL weight β is brought in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BetaSchedule {
    /// Half-cosine from 0 to `kl_weight` over `beta_steps`, then constant.
    Cosine,
    /// `kl_weight` from the first step.
    Fixed,
}

/// A named set of training hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// The DALL·E paper's recipe, scaled to the run length.
    Dalle,
    /// This toolkit's recipe for short CPU runs (thousands of steps).
    Default,
}

impl std::str::FromStr for Recipe {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dalle" => Ok(Recipe::Dalle),
            "default" => Ok(Recipe::Default),
            other => Err(Error::config(
                "recipe",
                format!("expected dalle or default, got {other:?}"),
            )),
        }
    }
}

/// Training hyperparameters. Every schedule is a pure function of the step (see `schedule`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The recipe these values came from.
    pub recipe: Recipe,
    /// Total optimisation steps of the run.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Seed of every random stream (init, data order, Gumbel noise).
    pub seed: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate of the cosine decay.
    pub lr_end: f64,
    /// Linear warm-up steps of the learning rate.
    pub warmup_steps: usize,
    /// AdamW β1.
    pub adam_beta1: f64,
    /// AdamW β2.
    pub adam_beta2: f64,
    /// AdamW ε.
    pub adam_eps: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Initial Gumbel-softmax temperature.
    pub tau_start: f64,
    /// Final Gumbel-softmax temperature.
    pub tau_end: f64,
    /// Shape of the τ annealing.
    pub tau_schedule: TauSchedule,
    /// Steps over which τ is annealed (then held at `tau_end`).
    pub tau_steps: usize,
    /// Final KL weight β.
    pub kl_weight: f64,
    /// Shape of the β warm-up.
    pub beta_schedule: BetaSchedule,
    /// Steps of the β warm-up.
    pub beta_steps: usize,
    /// Weight of the codebook-diversity term: KL of the batch-mean q(z|x) to uniform
    /// (see `loss::marginal_kl_to_uniform`), added as is to the per-dimension loss.
    #[serde(default)]
    pub diversity_weight: f64,
    /// Straight-through hard Gumbel-softmax (one-hot forward, soft gradient).
    pub hard: bool,
    /// Scale of the Gumbel noise in training (1: the Gumbel-softmax; 0: no noise, so the
    /// hard forward is the inference argmax).
    #[serde(default = "one")]
    pub gumbel_scale: f64,
    /// Decay of the weight EMA used for evaluation and export.
    pub ema_decay: f64,
    /// Clip the global gradient norm to this value (none: no clipping).
    pub grad_clip: Option<f64>,
    /// Standard deviation of the dVAE codebook's initial values (none: DALL·E's
    /// 1/sqrt(vocab_size)); other families ignore it.
    pub codebook_std: Option<f64>,
    /// Write a checkpoint, an eval and a reconstruction grid every this many steps.
    pub checkpoint_every: usize,
    /// Log a line every this many steps.
    pub log_every: usize,
    /// Fraction of the data held out for evaluation.
    pub holdout: f64,
    /// VQ-VAE options (used when the family is `vqvae`).
    #[serde(default)]
    pub vq: VqOptions,
    /// Gaussian VAE options (used when the family is `vae`).
    #[serde(default)]
    pub vae: VaeOptions,
}

/// VQ-VAE training options; the defaults switch on the field's remedies against collapse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VqOptions {
    /// Commitment weight β of `‖z_e − sg[e]‖²`.
    pub commitment: f64,
    /// Update the codebook by EMA instead of the codebook loss.
    pub ema: bool,
    /// Decay γ of the EMA codebook.
    pub decay: f64,
    /// Laplace smoothing ε of the EMA counts.
    pub epsilon: f64,
    /// Initialise the codebook by k-means on the first batch's encoder outputs.
    pub kmeans_init: bool,
    /// Re-seed codes unused for this many steps from encoder outputs (none: never).
    pub restart_after: Option<usize>,
}

impl Default for VqOptions {
    fn default() -> Self {
        Self {
            commitment: 0.25,
            ema: true,
            decay: 0.99,
            epsilon: 1e-5,
            kmeans_init: true,
            restart_after: Some(50),
        }
    }
}

impl VqOptions {
    /// The plain VQ-VAE of the paper: codebook loss, random init, no restarts.
    pub fn plain() -> Self {
        Self {
            ema: false,
            kmeans_init: false,
            restart_after: None,
            ..Self::default()
        }
    }
}

/// Gaussian VAE training options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VaeOptions {
    /// Final weight β of KL(N(μ, σ²) ‖ N(0, 1)) (nats per image, divided like the
    /// reconstruction loss by the image's dimensions; 1 is the ELBO).
    pub kl_weight: f64,
    /// Steps of the linear β warm-up from 0.
    pub warmup_steps: usize,
}

impl Default for VaeOptions {
    fn default() -> Self {
        Self {
            kl_weight: 1.0,
            warmup_steps: 0,
        }
    }
}

impl TrainConfig {
    /// The hyperparameters of `recipe` for a run of `steps` steps.
    pub fn recipe(recipe: Recipe, steps: usize) -> Self {
        let dalle = Self {
            recipe,
            steps,
            batch: 32,
            seed: 0,
            lr: 1e-4,
            lr_end: 1.25e-6,
            warmup_steps: steps / 20,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            weight_decay: 1e-4,
            tau_start: 1.0,
            tau_end: 1.0 / 16.0,
            tau_schedule: TauSchedule::Cosine,
            tau_steps: steps,
            kl_weight: 6.6,
            beta_schedule: BetaSchedule::Cosine,
            beta_steps: (steps / 10).max(1),
            diversity_weight: 0.0,
            hard: false,
            gumbel_scale: 1.0,
            ema_decay: 0.999,
            grad_clip: None,
            codebook_std: None,
            checkpoint_every: 500,
            log_every: 10,
            holdout: 0.05,
            vq: VqOptions::default(),
            vae: VaeOptions {
                warmup_steps: steps / 10,
                ..VaeOptions::default()
            },
        };
        match recipe {
            Recipe::Dalle => dalle,
            // See the README's "Recipes" for the runs behind each choice.
            Recipe::Default => Self {
                lr: 2e-3,
                lr_end: 1e-5,
                hard: true,
                tau_start: 1.0,
                tau_end: 0.5,
                gumbel_scale: 0.3,
                kl_weight: 0.0,
                beta_schedule: BetaSchedule::Fixed,
                diversity_weight: 0.3,
                codebook_std: Some(1.0),
                ema_decay: ema_for(steps),
                grad_clip: Some(1.0),
                ..dalle
            },
        }
    }

    /// Checks ranges; the error names the flag and the value.
    pub fn validate(&self) -> Result<()> {
        let pos = |field: &str, v: usize| {
            if v == 0 {
                Err(Error::config(field, "must be at least 1, got 0"))
            } else {
                Ok(())
            }
        };
        pos("steps", self.steps)?;
        pos("batch", self.batch)?;
        pos("checkpoint_every", self.checkpoint_every)?;
        pos("log_every", self.log_every)?;
        let positive = |field: &str, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::config(
                    field,
                    format!("must be a finite number > 0, got {v}"),
                ))
            }
        };
        positive("tau_start", self.tau_start)?;
        positive("tau_end", self.tau_end)?;
        positive("lr", self.lr)?;
        positive("adam_eps", self.adam_eps)?;
        let unit = |field: &str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::config(field, format!("must be in [0, 1), got {v}")))
            }
        };
        unit("ema_decay", self.ema_decay)?;
        unit("adam_beta1", self.adam_beta1)?;
        unit("adam_beta2", self.adam_beta2)?;
        unit("holdout", self.holdout)?;
        if !(self.gumbel_scale >= 0.0 && self.gumbel_scale.is_finite()) {
            return Err(Error::config(
                "gumbel_scale",
                format!("must be >= 0, got {}", self.gumbel_scale),
            ));
        }
        if !(self.lr_end >= 0.0 && self.lr_end.is_finite()) {
            return Err(Error::config(
                "lr_end",
                format!("must be >= 0, got {}", self.lr_end),
            ));
        }
        if !(self.diversity_weight >= 0.0 && self.diversity_weight.is_finite()) {
            return Err(Error::config(
                "diversity_weight",
                format!("must be >= 0, got {}", self.diversity_weight),
            ));
        }
        if !(self.kl_weight >= 0.0 && self.kl_weight.is_finite()) {
            return Err(Error::config(
                "kl_weight",
                format!("must be >= 0, got {}", self.kl_weight),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::config(
                "weight_decay",
                format!("must be >= 0, got {}", self.weight_decay),
            ));
        }
        if let Some(c) = self.grad_clip {
            positive("grad_clip", c)?;
        }
        if let Some(c) = self.codebook_std {
            positive("codebook_std", c)?;
        }
        positive("vq.epsilon", self.vq.epsilon)?;
        if !(0.0..1.0).contains(&self.vq.decay) {
            return Err(Error::config(
                "vq.decay",
                format!("must be in [0, 1), got {}", self.vq.decay),
            ));
        }
        for (field, v) in [
            ("vq.commitment", self.vq.commitment),
            ("vae.kl_weight", self.vae.kl_weight),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(Error::config(field, format!("must be >= 0, got {v}")));
            }
        }
        Ok(())
    }
}

fn one() -> f64 {
    1.0
}

/// An EMA decay that averages over roughly the last 5% of a run, capped at DALL·E's 0.999.
fn ema_for(steps: usize) -> f64 {
    let horizon = (steps as f64 / 20.0).max(10.0);
    (1.0 - 1.0 / horizon).min(0.999)
}

/// Everything that defines a run; saved as `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Run-directory format version ([`FORMAT_VERSION`] when written by this library).
    pub format_version: u32,
    /// The preset the model came from (informational).
    pub preset: String,
    /// Architecture.
    pub model: ModelConfig,
    /// Training hyperparameters.
    pub train: TrainConfig,
    /// The data source, as given on the command line (`default`, a folder, `mnist:…`, `cifar10:…`).
    pub data: String,
}

impl RunConfig {
    /// Parses and validates the text of a `config.json`; `path` is used in messages.
    pub fn from_json(path: &Path, text: &str) -> Result<Self> {
        let config: RunConfig = serde_json::from_str(text)
            .map_err(|e| Error::run(path, format!("config.json is not a valid run config: {e}")))?;
        config
            .validate()
            .map_err(|e| Error::run(path, e.to_string()))?;
        Ok(config)
    }

    /// Validates model and training fields.
    pub fn validate(&self) -> Result<()> {
        if self.format_version > FORMAT_VERSION {
            return Err(Error::config(
                "format_version",
                format!(
                    "run written by a newer dvae (format {}, this build reads up to {FORMAT_VERSION})",
                    self.format_version
                ),
            ));
        }
        self.model.validate()?;
        self.train.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_grids_match() {
        for (name, grid) in [("tiny", 8), ("small", 16), ("dalle", 32)] {
            let m = ModelConfig::preset(name).unwrap();
            m.validate().unwrap();
            assert_eq!(m.grid_size(), grid, "{name}");
        }
        assert!(ModelConfig::preset("huge").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut t = TrainConfig::recipe(Recipe::Default, 100);
        t.tau_start = 0.0;
        let msg = t.validate().unwrap_err().to_string();
        assert!(msg.contains("tau_start"), "{msg}");
        let mut m = ModelConfig::preset("tiny").unwrap();
        m.image_size = 60;
        let msg = m.validate().unwrap_err().to_string();
        assert!(msg.contains("image_size") && msg.contains("60"), "{msg}");
    }

    #[test]
    fn absurd_sizes_are_refused_before_allocation() {
        let dalle = ModelConfig::preset("dalle").unwrap();
        assert!(dalle.approx_params() > 9.0e7 && dalle.approx_params() < MAX_PARAMS);
        type Edit = fn(&mut ModelConfig);
        let edits: [(&str, Edit); 4] = [
            ("parameters", |m| m.n_hid = 1 << 60),
            ("parameters", |m| m.n_blk_per_group = usize::MAX),
            ("parameters", |m| m.n_init = usize::MAX),
            ("image_size", |m| m.image_size = 1 << 40),
        ];
        for (field, set) in edits {
            let mut m = dalle.clone();
            set(&mut m);
            let msg = m.validate().unwrap_err().to_string();
            assert!(msg.contains(field), "{msg}");
        }
    }
}
