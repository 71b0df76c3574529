//! The Gaussian VAE (Kingma & Welling 2014): μ and log σ² per cell, a reparameterised
//! sample in training, μ at inference, and the KL to N(0, 1) with a linear warm-up.

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::api::{Encoded, Family, FamilyParams, Head, QuantizerOutput, Step};
use crate::config::ModelConfig;
use crate::config::check::non_negative;
use crate::error::Result;
use crate::model::latent::DecoderInput;

/// The VAE's options.
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

impl VaeOptions {
    /// The options of a run of `steps` steps: β warms up over the first tenth.
    pub fn for_steps(steps: usize) -> Self {
        Self {
            warmup_steps: steps / 10,
            ..Self::default()
        }
    }

    /// The KL weight at `step`: linear from 0 over `warmup_steps`.
    pub fn beta(&self, step: usize) -> f64 {
        let w = self.warmup_steps;
        if w == 0 {
            self.kl_weight
        } else {
            self.kl_weight * ((step as f64 + 1.0) / w as f64).min(1.0)
        }
    }

    /// The comparison's variant.
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        vec![("vae", self.clone())]
    }
}

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
fn reparameterize(z_e: Tensor<4>, noise: Option<Tensor<4>>) -> QuantizerOutput {
    let (mu, log_var) = split_moments(z_e);
    let latent_loss = kl_to_standard_normal(mu.clone(), log_var.clone());
    let z_q = match noise {
        Some(eps) => mu + (log_var * 0.5).exp() * eps,
        None => mu,
    };
    QuantizerOutput {
        hard: None,
        regularisers: None,
        z_q,
        latent_loss,
        indices: None,
    }
}

impl Family for VaeOptions {
    fn name(&self) -> &'static str {
        "vae"
    }

    fn validate(&self) -> Result<()> {
        non_negative("kl_weight", self.kl_weight)
    }

    fn describe(&self) -> String {
        "Gaussian, KL to N(0, 1), β warm-up".into()
    }

    fn encoder_channels(&self, m: &ModelConfig) -> usize {
        2 * m.code_dim
    }

    fn vocab(&self, _: &ModelConfig) -> Option<usize> {
        None
    }

    fn noise(
        &self,
        m: &ModelConfig,
        batch: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Option<Tensor<4>> {
        let g = m.grid_size();
        Some(standard_normal([batch, m.code_dim, g, g], rng, device))
    }

    fn quantize(
        &self,
        _: Step,
        _: Option<&FamilyParams>,
        z_e: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> QuantizerOutput {
        reparameterize(z_e, noise)
    }

    /// `β·KL/dims` (nats per image dimension), β warming up.
    fn latent_term(
        &self,
        m: &ModelConfig,
        step: usize,
        _: &Tensor<4>,
        q: &QuantizerOutput,
    ) -> Option<Tensor<1>> {
        let dims = (m.input_channels * m.image_size * m.image_size) as f64;
        Some(q.latent_loss.clone() * (self.beta(step) / dims))
    }

    fn schedule(&self, step: usize) -> (f64, f64) {
        (f64::NAN, self.beta(step))
    }

    fn tokens(&self, _: Option<&FamilyParams>, _: &dyn Head) -> Option<Tensor<3, Int>> {
        None
    }

    /// μ: the deterministic latent.
    fn encode(&self, _: Option<&FamilyParams>, head: &dyn Head) -> Encoded {
        let (mu, _) = split_moments(head.z_e());
        Encoded {
            tokens: None,
            entropy: 0.0,
            input: DecoderInput::Dense(mu),
        }
    }

    /// z ~ N(0, 1).
    fn sample_prior(
        &self,
        m: &ModelConfig,
        _: Option<&FamilyParams>,
        n: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Option<DecoderInput> {
        let g = m.grid_size();
        Some(DecoderInput::Dense(standard_normal(
            [n, m.code_dim, g, g],
            rng,
            device,
        )))
    }

    /// The KL rate: nats per image over the cells, in bits.
    fn bits_per_cell(&self, m: &ModelConfig, last_latent_loss: f64) -> f64 {
        let g = m.grid_size() as f64;
        last_latent_loss / (g * g) / std::f64::consts::LN_2
    }

    fn sampling(&self) -> &'static str {
        "z ~ N(0, 1)"
    }
}
