//! One training step, as `train` runs it and `dvae bench` times it: the forward pass and
//! its losses, the gradients, the clipped update, the family's work after it.
//!
//! Every random draw of step `s` (the family's first-step work and its noise) comes from a
//! generator seeded by `(seed, s)`, so a step is a pure function of the weights, the
//! optimizer state, the batch and the step.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::params;
use crate::config::ReconLoss;
use crate::kernels::host::int_values;
use crate::loss;
use crate::model::Network;
use crate::model::pixels::map_pixels;
use crate::run_config::RunConfig;

/// The generator of step `step`'s random draws.
pub fn step_rng(seed: u64, step: usize) -> ChaCha8Rng {
    let s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (step as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)
        ^ 0x5851_f42d;
    ChaCha8Rng::seed_from_u64(s)
}

/// What a step's forward pass computed.
pub struct Forward {
    /// Reconstruction term plus the family's latent term (per image dimension).
    pub total: Tensor<1>,
    /// The reconstruction term (logit-Laplace NLL or MSE per dimension).
    pub recon: Tensor<1>,
    /// The family's latent loss, unweighted.
    pub latent: Tensor<1>,
    /// The encoder's output.
    pub z_e: Tensor<4>,
    /// The batch's tokens (discrete families).
    pub indices: Option<Tensor<3, Int>>,
}

/// The forward pass of step `step` on pixels `x` in [0, 1]: the family's first-step work
/// (at step 0), its noise, encoder, bottleneck, decoder, and the losses.
///
/// # Shapes
/// x `[B, C, S, S]`
pub fn forward(
    model: Network,
    config: &RunConfig,
    x: Tensor<4>,
    step: usize,
    rng: &mut ChaCha8Rng,
) -> (Network, Forward) {
    let (model, xm, noise) = prepare(model, config, &x, step, rng);
    let f = losses(&model, config, x, xm, step, noise);
    (model, f)
}

/// What step `step` does before its forward pass, on the whole batch `x`: the family's
/// first-step work (at step 0) and its noise; returns the model, the mapped pixels and the
/// noise.
pub fn prepare(
    mut model: Network,
    config: &RunConfig,
    x: &Tensor<4>,
    step: usize,
    rng: &mut ChaCha8Rng,
) -> (Network, Tensor<4>, Option<Tensor<4>>) {
    let family = config.bottleneck.family();
    let xm = map_pixels(x.clone());
    if step == 0 {
        let params = model.bottleneck.take();
        model.bottleneck = family.first_step(params, &|| model.encode(xm.clone()), rng);
    }
    let noise = family.noise(&config.model, x.dims()[0], rng, &x.device());
    (model, xm, noise)
}

/// Encoder, bottleneck, decoder and the losses of step `step` on pixels `x`, mapped pixels
/// `xm` and the family's `noise` for them.
pub fn losses(
    model: &Network,
    config: &RunConfig,
    x: Tensor<4>,
    xm: Tensor<4>,
    step: usize,
    noise: Option<Tensor<4>>,
) -> Forward {
    let m = &config.model;
    let (z_e, q, out) = model.forward_train(xm.clone(), step, noise);
    let recon = match m.recon_loss {
        ReconLoss::LogitLaplace => loss::logit_laplace_nll(out, xm),
        ReconLoss::Mse => loss::mse_from_logits(out, x),
    };
    let total = match config.bottleneck.family().latent_term(m, step, &z_e, &q) {
        Some(t) => recon.clone() + t,
        None => recon.clone(),
    };
    Forward {
        total,
        recon,
        latent: q.latent_loss,
        z_e,
        indices: q.indices,
    }
}

/// The gradients of `total` for `model`'s parameters, and their global norm (non-finite
/// when a gradient is).
pub fn gradients(model: &Network, total: Tensor<1>) -> (GradientsParams, f64) {
    let grads = GradientsParams::from_grads(total.backward(), model);
    let norm = params::grad_norm(model, &grads);
    (grads, norm)
}

/// The optimizer step at learning rate `lr`, the gradients first clipped to a global norm
/// of `clip` (their norm is `norm`).
pub fn update(
    model: Network,
    optim: &mut ModuleOptimizer,
    lr: f64,
    mut grads: GradientsParams,
    norm: f64,
    clip: Option<f64>,
) -> Network {
    if let Some(max) = clip
        && norm > max
    {
        params::scale_grads(&model, &mut grads, max / norm);
    }
    optim.step(lr, model, grads)
}

/// The family's work after the update (e.g. EMA codebook, restarts), with the batch's
/// tokens on the host when the family or the log (`want_ids`) needs them; returns them.
pub fn after_update(
    mut model: Network,
    config: &RunConfig,
    step: usize,
    f: Forward,
    want_ids: bool,
    rng: &mut ChaCha8Rng,
) -> (Network, Option<Vec<u32>>) {
    let family = config.bottleneck.family();
    let ids = f
        .indices
        .filter(|_| want_ids || family.tokens_every_step())
        .map(|t| int_values(t.inner()));
    let params = model.bottleneck.take();
    model.bottleneck = family.after_step(params, step, f.z_e.inner(), ids.as_deref(), rng);
    (model, ids)
}
