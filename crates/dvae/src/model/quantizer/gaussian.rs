//! The Gaussian VAE's latent: reparameterised sampling and the KL to N(0, 1).

use burn::prelude::*;

use super::QuantizerOutput;

/// Standard normal samples from `rng`, as a tensor of `shape`.
pub fn standard_normal<const D: usize>(
    shape: [usize; D],
    rng: &mut impl rand::Rng,
    device: &Device,
) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, rng))
        .collect();
    Tensor::<1>::from_floats(values.as_slice(), device).reshape(shape)
}

/// Splits `[B, 2D, h, w]` into μ and log σ² (`[B, D, h, w]` each), the latter clamped to
/// [−30, 20] so `exp` stays finite early in training.
pub fn split_moments(z_e: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let d = z_e.dims()[1] / 2;
    let mu = z_e.clone().narrow(1, 0, d);
    let log_var = z_e.narrow(1, d, d).clamp(-30.0, 20.0);
    (mu, log_var)
}

/// KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ (μ² + σ² − 1 − log σ²), summed over every latent
/// dimension and cell, averaged over the batch (nats per image).
///
/// # Shapes
/// μ, log σ² `[B, D, h, w]` → `[1]`
pub fn kl_to_standard_normal(mu: Tensor<4>, log_var: Tensor<4>) -> Tensor<1> {
    let b = mu.dims()[0] as f64;
    let per = mu.powi_scalar(2) + log_var.clone().exp() - 1.0 - log_var;
    per.sum() * (0.5 / b)
}

/// `z = μ + σ·ε` (or `μ` without noise), with the KL as the latent loss.
///
/// # Shapes
/// `z_e [B, 2D, h, w]`, noise `[B, D, h, w]` → `z_q [B, D, h, w]`
pub fn reparameterize(z_e: Tensor<4>, noise: Option<Tensor<4>>) -> QuantizerOutput {
    let (mu, log_var) = split_moments(z_e);
    let latent_loss = kl_to_standard_normal(mu.clone(), log_var.clone());
    let z_q = match noise {
        Some(eps) => mu + (log_var * 0.5).exp() * eps,
        None => mu,
    };
    QuantizerOutput {
        z_q,
        latent_loss,
        indices: None,
    }
}
