//! The optimiser and the run's length: a recipe plus overrides, validated.

use serde::{Deserialize, Serialize};

use crate::data::augment::Augment;
use crate::error::Result;

/// A named set of training hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// The DALL·E paper's recipe, scaled to the run length.
    Dalle,
    /// This toolkit's recipe for short CPU runs (thousands of steps).
    Default,
}

crate::names::kebab_from_str!(Recipe, "recipe", [Dalle => "dalle", Default => "default"]);

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
    /// Decay of the weight EMA used for evaluation and export.
    pub ema_decay: f64,
    /// Clip the global gradient norm to this value (none: no clipping).
    pub grad_clip: Option<f64>,
    /// Write a checkpoint, an eval and a reconstruction grid every this many steps.
    pub checkpoint_every: usize,
    /// Log a line every this many steps.
    pub log_every: usize,
    /// Fraction of the data held out for evaluation.
    pub holdout: f64,
    /// Random crops and flips of the training images (none by default).
    #[serde(default, skip_serializing_if = "Augment::is_none")]
    pub augment: Augment,
    /// Encoded samples in a shard stream's shuffle buffer (data in memory is shuffled
    /// whole each epoch).
    #[serde(
        default = "default_shuffle_buffer",
        skip_serializing_if = "is_default_shuffle_buffer"
    )]
    pub shuffle_buffer: usize,
    /// A separate data source to evaluate on instead of a held-out part of the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_data: Option<String>,
}

/// The shuffle buffer of a shard stream unless set: WebDataset's usual size.
pub const DEFAULT_SHUFFLE_BUFFER: usize = 1000;

fn default_shuffle_buffer() -> usize {
    DEFAULT_SHUFFLE_BUFFER
}

fn is_default_shuffle_buffer(n: &usize) -> bool {
    *n == DEFAULT_SHUFFLE_BUFFER
}

/// An EMA decay that averages over roughly the last 5% of a run, capped at DALL·E's 0.999.
pub fn ema_for(steps: usize) -> f64 {
    let horizon = (steps as f64 / 20.0).max(10.0);
    (1.0 - 1.0 / horizon).min(0.999)
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
            ema_decay: 0.999,
            grad_clip: None,
            checkpoint_every: 500,
            log_every: 10,
            holdout: 0.05,
            augment: Augment::default(),
            shuffle_buffer: DEFAULT_SHUFFLE_BUFFER,
            eval_data: None,
        };
        match recipe {
            Recipe::Dalle => dalle,
            // See the README's "Recipes" for the runs behind each choice.
            Recipe::Default => Self {
                lr: 2e-3,
                lr_end: 1e-5,
                ema_decay: ema_for(steps),
                grad_clip: Some(1.0),
                ..dalle
            },
        }
    }

    /// Checks ranges; the error names the field and the value.
    pub fn validate(&self) -> Result<()> {
        use super::check::{at_least_one, non_negative, positive, unit};
        at_least_one("steps", self.steps)?;
        at_least_one("batch", self.batch)?;
        at_least_one("checkpoint_every", self.checkpoint_every)?;
        at_least_one("log_every", self.log_every)?;
        at_least_one("shuffle_buffer", self.shuffle_buffer)?;
        self.augment.validate()?;
        positive("lr", self.lr)?;
        positive("adam_eps", self.adam_eps)?;
        unit("ema_decay", self.ema_decay)?;
        unit("adam_beta1", self.adam_beta1)?;
        unit("adam_beta2", self.adam_beta2)?;
        unit("holdout", self.holdout)?;
        non_negative("lr_end", self.lr_end)?;
        non_negative("weight_decay", self.weight_decay)?;
        if let Some(c) = self.grad_clip {
            positive("grad_clip", c)?;
        }
        Ok(())
    }
}
