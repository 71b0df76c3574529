//! What the training loop reports: a logged step ([`StepLog`], a line of `log.jsonl`) and
//! the events an observer of [`super::train`] sees.

use serde::Serialize;

use crate::pipeline::EvalReport;
use crate::run_config::RunConfig;

/// One logged training step.
#[derive(Clone, Debug, Serialize)]
pub struct StepLog {
    /// Steps completed.
    pub step: usize,
    /// Total loss (per pixel dimension).
    pub loss: f64,
    /// Reconstruction term (logit-Laplace NLL or MSE per dimension).
    pub recon: f64,
    /// The family's latent loss, unweighted: dVAE mean KL to the uniform prior per cell
    /// (nats), VQ-VAE codebook + β·commitment loss, VAE KL to N(0, 1) per image (nats), AE 0.
    pub kl: f64,
    /// Temperature.
    pub tau: f64,
    /// KL weight.
    pub beta: f64,
    /// Learning rate.
    pub lr: f64,
    /// Fraction of codes used by the batch's tokens (NaN, logged as null, for continuous
    /// families).
    pub usage: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Norm of the encoder's gradients before clipping.
    pub enc_grad_norm: f64,
    /// Norm of the decoder's gradients before clipping.
    pub dec_grad_norm: f64,
    /// Training throughput over this step.
    pub img_s: f64,
    /// Seconds of this step, waiting for its batch included.
    pub step_s: f64,
    /// Seconds of this step spent waiting for its batch (for data in memory, building it).
    pub data_wait_s: f64,
}

/// What the loop reports while it runs.
pub enum Event<'a> {
    /// Training starts (or resumes) at `start_step`.
    Start {
        /// The run's configuration.
        config: &'a RunConfig,
        /// Trainable parameters.
        params: usize,
        /// First step to run.
        start_step: usize,
        /// Training images (0 for a shard stream, whose size is not known before reading).
        train_images: usize,
        /// Shards streamed (0 for data in memory).
        shards: usize,
        /// Held-out images.
        holdout_images: usize,
    },
    /// A step finished (every step; `log` is written every `log_every`).
    Step(&'a StepLog),
    /// A held-out evaluation finished.
    Eval {
        /// Steps completed.
        step: usize,
        /// Its metrics.
        report: &'a EvalReport,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Steps completed.
        step: usize,
    },
    /// A step gave a non-finite loss or gradient norm: nothing of it was applied, and the
    /// run went back to its last checkpoint (or to its start) with half the learning rate.
    Rollback {
        /// The faulty step (1-based, as logged).
        step: usize,
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// Steps completed at the state training continues from.
        to_step: usize,
        /// The factor on the scheduled learning rate from now on.
        lr_scale: f64,
    },
}
