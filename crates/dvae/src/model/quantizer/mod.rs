//! Quantizers: how the encoder's output becomes the decoder's input.
//!
//! Every family shares the encoder and decoder backbone and differs only here. Each
//! variant of [`Quantizer`] returns the same [`QuantizerOutput`], so the training loop and
//! the model swap them freely.

pub mod gaussian;
pub mod gumbel;
pub mod vq;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use vq::VectorQuantizer;

/// The four tokenizer families of the article, on one backbone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// DALL·E's discrete VAE: K logits per cell, Gumbel-softmax, KL to a uniform prior.
    #[default]
    Dvae,
    /// VQ-VAE: nearest codebook vector, straight-through gradient, codebook/commitment losses.
    Vqvae,
    /// Gaussian VAE: μ and log σ² per cell, reparameterised sample, KL to N(0, 1).
    Vae,
    /// Deterministic autoencoder with a bottleneck of the same size; no latent loss.
    Ae,
}

impl Family {
    /// Every family, in the order the comparison table lists them.
    pub const ALL: [Family; 4] = [Family::Dvae, Family::Vqvae, Family::Vae, Family::Ae];

    /// The command-line and `config.json` name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Dvae => "dvae",
            Family::Vqvae => "vqvae",
            Family::Vae => "vae",
            Family::Ae => "ae",
        }
    }

    /// Whether the latent is a grid of token ids from a finite codebook.
    pub fn is_discrete(self) -> bool {
        matches!(self, Family::Dvae | Family::Vqvae)
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Family {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> crate::error::Result<Self> {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                crate::error::Error::config(
                    "family",
                    format!("expected dvae, vqvae, vae or ae, got {s:?}"),
                )
            })
    }
}

/// What every quantizer returns.
#[derive(Debug, Clone)]
pub struct QuantizerOutput {
    /// The decoder's input `[B, in, h, w]`: (soft) one-hots for the dVAE, vectors otherwise.
    pub z_q: Tensor<4>,
    /// The family's latent loss in its own units (see each variant), unweighted by the
    /// schedule; zero for the AE.
    pub latent_loss: Tensor<1>,
    /// Token ids `[B, h, w]` for the discrete families.
    pub indices: Option<Tensor<3, Int>>,
}

/// One quantization step, with what it needs at this step.
pub enum Quantizer<'a> {
    /// Gumbel-softmax over K logits at temperature `tau`; `noise` is standard Gumbel noise
    /// (scaled as the caller likes). Latent loss: mean per-cell KL(q ‖ uniform), nats.
    Gumbel {
        /// Temperature τ.
        tau: f64,
        /// Straight-through: one-hot forward, soft gradient.
        hard: bool,
        /// Gumbel noise `[B, K, h, w]`.
        noise: Tensor<4>,
    },
    /// Nearest codebook vector with the straight-through estimator. Latent loss:
    /// `‖sg[z_e] − e‖²` (omitted when the codebook follows an EMA) `+ commitment·‖z_e − sg[e]‖²`,
    /// each a mean over elements.
    Vector {
        /// The codebook.
        vq: &'a VectorQuantizer,
        /// Commitment weight β (0.25 in the VQ-VAE paper).
        commitment: f64,
        /// The codebook is updated by EMA, so it gets no codebook loss.
        ema: bool,
        /// Compare l2-normalised vectors (cosine similarity) instead of raw ones.
        cosine: bool,
    },
    /// `z = μ + σ·ε` from μ and log σ² halves of the channels. Latent loss:
    /// KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dimensions and cells, mean over the batch
    /// (nats per image). `noise: None` uses `z = μ` (inference).
    Gaussian {
        /// Standard normal noise `[B, D, h, w]`.
        noise: Option<Tensor<4>>,
    },
    /// The encoder's output as is.
    Identity,
}

impl Quantizer<'_> {
    /// Quantizes the encoder's output.
    ///
    /// # Shapes
    /// `z_e [B, E, h, w]` (E = K logits, D, 2D or D channels by variant) → [`QuantizerOutput`]
    pub fn quantize(&self, z_e: Tensor<4>) -> QuantizerOutput {
        let device = z_e.device();
        match self {
            Quantizer::Gumbel { tau, hard, noise } => {
                let latent_loss = crate::loss::kl_to_uniform(z_e.clone());
                let indices = Some(gumbel::argmax_tokens(z_e.clone()));
                QuantizerOutput {
                    z_q: gumbel::gumbel_softmax(z_e, noise.clone(), *tau, *hard),
                    latent_loss,
                    indices,
                }
            }
            Quantizer::Vector {
                vq,
                commitment,
                ema,
                cosine,
            } => vq.quantize(z_e, *commitment, *ema, *cosine),
            Quantizer::Gaussian { noise } => gaussian::reparameterize(z_e, noise.clone()),
            Quantizer::Identity => QuantizerOutput {
                z_q: z_e,
                latent_loss: Tensor::zeros([1], &device),
                indices: None,
            },
        }
    }
}
