//! What the training loop does differently per family: the noise it draws, how the
//! latent loss is weighted, and the VQ-VAE's codebook updates between optimizer steps.

use burn::prelude::*;
use rand::Rng;

use crate::config::{Family, ModelConfig, TrainConfig};
use crate::model::DvaeModel;
use crate::model::quantizer::{QuantizerOutput, gaussian, gumbel, vq};
use crate::pipeline::float_values;
use crate::schedule;

/// The step's noise: standard Gumbel `[B, K, h, w]` (scaled by `gumbel_scale`) for the
/// dVAE, standard normal `[B, D, h, w]` for the VAE, none otherwise.
pub fn noise(
    m: &ModelConfig,
    c: &TrainConfig,
    batch: usize,
    rng: &mut impl Rng,
    device: &Device,
) -> Option<Tensor<4>> {
    let g = m.grid_size();
    match m.family {
        Family::Dvae => {
            let noise = gumbel::gumbel_noise([batch, m.vocab_size, g, g], rng, device);
            Some(if c.gumbel_scale == 1.0 {
                noise
            } else {
                noise * c.gumbel_scale
            })
        }
        Family::Vae => Some(gaussian::standard_normal(
            [batch, m.code_dim, g, g],
            rng,
            device,
        )),
        Family::Vqvae | Family::Ae => None,
    }
}

/// The latent part of the loss, per image dimension like the reconstruction term:
/// dVAE `β·KL·cells/dims (+ diversity)`, VQ-VAE its codebook and commitment losses,
/// VAE `β_vae·KL/dims` with a linear warm-up, AE nothing.
pub fn latent_term(
    m: &ModelConfig,
    c: &TrainConfig,
    step: usize,
    z_e: &Tensor<4>,
    q: &QuantizerOutput,
) -> Option<Tensor<1>> {
    let g = m.grid_size();
    let cells = (g * g) as f64;
    let dims = (m.input_channels * m.image_size * m.image_size) as f64;
    match m.family {
        Family::Dvae => {
            let mut t = q.latent_loss.clone() * (schedule::beta(c, step) * cells / dims);
            if c.diversity_weight > 0.0 {
                t = t + crate::loss::marginal_kl_to_uniform(z_e.clone()) * c.diversity_weight;
            }
            Some(t)
        }
        Family::Vqvae => Some(q.latent_loss.clone()),
        Family::Vae => Some(q.latent_loss.clone() * (vae_beta(c, step) / dims)),
        Family::Ae => None,
    }
}

/// The VAE's KL weight at `step`: linear from 0 over `vae.warmup_steps`.
pub fn vae_beta(c: &TrainConfig, step: usize) -> f64 {
    let w = c.vae.warmup_steps;
    if w == 0 {
        c.vae.kl_weight
    } else {
        c.vae.kl_weight * ((step as f64 + 1.0) / w as f64).min(1.0)
    }
}

/// Encoder outputs of a batch as host rows `[N, D]`, l2-normalised for a cosine codebook.
fn host_rows(model: &DvaeModel, z_e: Tensor<4>) -> Vec<f32> {
    float_values(vq::compared_rows(z_e, model.vq_cosine))
}

/// k-means initialisation of a VQ-VAE codebook from `x` (mapped pixels of the first batch).
pub fn kmeans_init(model: DvaeModel, x: Tensor<4>, rng: &mut impl Rng) -> DvaeModel {
    let Some(q) = &model.vq else {
        return model;
    };
    let z = host_rows(&model, model.encoder.forward(x).detach());
    let mut host = q.to_host();
    let device = Device::flex();
    host.kmeans_init(&z, 10, rng, &device);
    set_codebook(model, &host)
}

fn set_codebook(mut model: DvaeModel, host: &vq::HostCodebook) -> DvaeModel {
    model.vq = model.vq.map(|q| q.set_host(host));
    model
}

/// The VQ-VAE's updates after an optimizer step: codes chosen at `step` (`ids`, the
/// batch's tokens in raster order) are marked used, the EMA codebook moves toward their
/// encoder outputs, and codes unused for `restart_after` steps are re-seeded.
pub fn after_step(
    model: DvaeModel,
    c: &TrainConfig,
    step: usize,
    z_e: Tensor<4>,
    ids: Option<&[u32]>,
    rng: &mut impl Rng,
) -> DvaeModel {
    let (Some(q), Some(ids)) = (&model.vq, ids) else {
        return model;
    };
    let z = host_rows(&model, z_e.detach());
    let mut host = q.to_host();
    host.mark_used(ids, step);
    if c.vq.ema {
        host.ema_update(&z, ids, c.vq.decay as f32, c.vq.epsilon as f32);
    }
    if let Some(after) = c.vq.restart_after {
        host.restart_dead(&z, step, after, rng);
    }
    set_codebook(model, &host)
}
