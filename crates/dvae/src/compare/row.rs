//! One row of the comparison: what a trained variant measured, and how it is derived from
//! the training log and the held-out evaluation.

use serde::Serialize;

use super::variant::Variant;
use crate::metrics::EvalReport;
use crate::train::StepLog;

/// One row of the comparison table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Variant name.
    pub name: String,
    /// Family.
    pub family: String,
    /// What differs, in words.
    pub note: String,
    /// Held-out MSE (pixels in [0, 1]).
    pub mse: f64,
    /// Held-out PSNR (dB).
    pub psnr: f64,
    /// Held-out SSIM (Gaussian window, as `dvae eval`).
    pub ssim: Option<f64>,
    /// Held-out bits per dimension under the decoder's likelihood given the tokens (or the
    /// deterministic latent); `None` for an MSE decoder.
    pub bits_per_dim: Option<f64>,
    /// Information per latent cell in bits: log2 K for the discrete families, the KL rate
    /// for the VAE, 32·D (float32) for the AE.
    pub bits_per_cell: f64,
    /// Codebook usage on the held-out images in [0, 1] (discrete families).
    pub usage: Option<f64>,
    /// Token perplexity on the held-out images (discrete families).
    pub perplexity: Option<f64>,
    /// Codes never used on the held-out images (discrete families).
    pub dead_codes: Option<usize>,
    /// First logged step at which the training batch's tokens used half of the codes.
    pub usage_50_step: Option<usize>,
    /// First logged step at which the training batch's tokens used 90% of the codes.
    pub usage_90_step: Option<usize>,
    /// Mean over logged steps of ‖∇encoder‖ / ‖∇decoder‖.
    pub enc_dec_grad_ratio: f64,
    /// First logged step at which the training reconstruction loss (mean of the last three
    /// logged values) reached the comparison's target (see `Comparison::target_recon`).
    pub steps_to_target: Option<usize>,
    /// Mean wall time of a training step (ms).
    pub ms_per_step: f64,
    /// Wall time of the whole training run, evaluations and checkpoints included (s).
    pub wall_s: f64,
    /// How the family generates without a learned prior.
    pub sampling: String,
    /// Final training reconstruction loss (mean of the last three logged values).
    pub final_recon: f64,
}

/// The measured comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Steps each variant trained.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Seed shared by every variant.
    pub seed: u64,
    /// Data source.
    pub data: String,
    /// What the rows were scored on: a separate data set, or the training data's held-out
    /// split.
    pub eval_data: String,
    /// The training reconstruction loss every variant is timed to: the worst final value.
    pub target_recon: f64,
    /// One row per variant.
    pub rows: Vec<Row>,
}

/// A trained variant, before it is compared.
pub(super) struct Trained {
    pub variant: Variant,
    pub logs: Vec<StepLog>,
    pub report: EvalReport,
    pub wall_s: f64,
}

/// Mean of the last three logged reconstruction losses.
pub(super) fn tail_mean(logs: &[StepLog]) -> f64 {
    let tail = &logs[logs.len().saturating_sub(3)..];
    tail.iter().map(|l| l.recon).sum::<f64>() / tail.len().max(1) as f64
}

/// The first logged step whose training-batch usage reached `fraction`.
fn usage_step(logs: &[StepLog], fraction: f64) -> Option<usize> {
    logs.iter().find(|l| l.usage >= fraction).map(|l| l.step)
}

pub(super) fn row(t: &Trained, target: f64, final_recon: f64) -> Row {
    let c = &t.variant.config;
    let family = c.bottleneck.family();
    let logs = &t.logs;
    let mean =
        |f: &dyn Fn(&StepLog) -> f64| logs.iter().map(f).sum::<f64>() / logs.len().max(1) as f64;
    let steps_to_target = (0..logs.len())
        .find(|&i| tail_mean(&logs[..=i]) <= target)
        .map(|i| logs[i].step);
    let last_kl = logs.last().map_or(0.0, |l| l.kl);
    let discrete = family.vocab(&c.model).is_some();
    let r = &t.report;
    Row {
        name: t.variant.name.clone(),
        family: family.name().into(),
        note: t.variant.note.clone(),
        mse: r.mse,
        psnr: r.psnr,
        ssim: r.ssim,
        bits_per_dim: r.bits_per_dim,
        bits_per_cell: family.bits_per_cell(&c.model, last_kl),
        usage: discrete.then_some(r.usage),
        perplexity: discrete.then_some(r.perplexity),
        dead_codes: discrete.then_some(r.dead_codes),
        usage_50_step: discrete.then(|| usage_step(logs, 0.5)).flatten(),
        usage_90_step: discrete.then(|| usage_step(logs, 0.9)).flatten(),
        enc_dec_grad_ratio: mean(&|l| l.enc_grad_norm / l.dec_grad_norm.max(1e-12)),
        steps_to_target,
        ms_per_step: mean(&|l| 1000.0 * c.train.batch as f64 / l.img_s.max(1e-9)),
        wall_s: t.wall_s,
        sampling: family.sampling().into(),
        final_recon,
    }
}
