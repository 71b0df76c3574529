//! How a prior is trained: its steps, optimiser and data split, validated.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a prior is trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorTrainConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Grids per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    /// Seed of the weights, the batches and the class dropout.
    pub seed: u64,
    /// Held-out fraction (the same split the tokenizer was trained with).
    pub holdout: f64,
    /// Evaluate and checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Log the training loss every this many steps.
    pub log_every: usize,
    /// Fraction of training grids whose class is replaced by "no class", so one network
    /// is both the conditional and the unconditional model (classifier-free guidance).
    pub class_dropout: f64,
}

impl Default for PriorTrainConfig {
    fn default() -> Self {
        Self {
            steps: 2000,
            batch: 32,
            lr: 1e-3,
            warmup: 100,
            weight_decay: 0.01,
            grad_clip: 1.0,
            seed: 0,
            holdout: 0.05,
            checkpoint_every: 500,
            log_every: 50,
            class_dropout: 0.1,
        }
    }
}

impl PriorTrainConfig {
    /// Checks every field, naming the one that is wrong.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("steps", self.steps),
            ("batch", self.batch),
            ("checkpoint_every", self.checkpoint_every),
            ("log_every", self.log_every),
        ] {
            if v == 0 {
                return Err(Error::config(field, "must be at least 1"));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::config("lr", format!("must be > 0; got {}", self.lr)));
        }
        if !(0.0..1.0).contains(&self.class_dropout) {
            return Err(Error::config(
                "class_dropout",
                format!("must be in [0, 1); got {}", self.class_dropout),
            ));
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return Err(Error::config(
                "holdout",
                format!("must be in [0, 1); got {}", self.holdout),
            ));
        }
        Ok(())
    }
}
