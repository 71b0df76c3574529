//! Lookup-free quantization (MAGVIT-v2, Yu et al. 2023): a cell's code is the signs of its
//! log₂K latent dimensions, with a straight-through gradient, and an entropy penalty
//! keeps every code in use: each cell's distribution over codes is pushed to be
//! confident (low per-sample entropy) while the batch's mean distribution is pushed to be
//! uniform (high codebook entropy). With `spherical` it is BSQ (Zhao et al. 2024): latents
//! and codes are projected onto the unit sphere first.
//!
//! Numerics follow `vector_quantize_pytorch.LFQ` (bits most significant first, the
//! distribution `softmax(2·inv_temperature·x·c)` over codes c, entropies with `log`
//! clamped at 1e-5); `tools/make_quantizer_fixtures.py` pins them.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::api::{Encoded, Family, FamilyParams, Head, QuantizerOutput, Step};
use super::codebook::{flatten_cells, lookup};
use super::entropy_penalty::{Entropies, EntropyPenalty};
use crate::config::ModelConfig;
use crate::config::check::non_negative;
use crate::error::{Error, Result};
use crate::model::latent::DecoderInput;

/// LFQ's options: the entropy penalty and the commitment weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LfqOptions {
    /// Weight of the entropy penalty.
    pub entropy_weight: f64,
    /// γ: weight of the codebook (batch-mean) entropy against the per-sample entropy.
    pub diversity_gamma: f64,
    /// Weight of the commitment loss `‖x − sg[q]‖²`.
    pub commitment: f64,
    /// Inverse temperature of the distribution over codes the entropies are taken of.
    pub inv_temperature: f64,
    /// BSQ: l2-normalise latents and codes (codes ±1/√d).
    pub spherical: bool,
}

impl Default for LfqOptions {
    fn default() -> Self {
        Self {
            // 0.1 in `vector-quantize-pytorch`; against this toolkit's per-dimension
            // logit-Laplace loss 0.5 uses more codes and reconstructs better (README,
            // "Families").
            entropy_weight: 0.5,
            diversity_gamma: 1.0,
            commitment: 0.25,
            inv_temperature: 100.0,
            spherical: false,
        }
    }
}

/// The parts of LFQ's auxiliary loss (unweighted), for tests against the reference.
#[derive(Debug, Clone)]
pub struct LfqLoss {
    /// Mean over cells of the entropy of a cell's distribution over codes, nats.
    pub per_sample_entropy: Tensor<1>,
    /// Entropy of the batch-mean distribution over codes, nats.
    pub codebook_entropy: Tensor<1>,
    /// Mean of `(x − sg[q])²`.
    pub commitment: Tensor<1>,
}

impl LfqOptions {
    /// The comparison's variants: LFQ, and BSQ (spherical).
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        vec![
            ("lfq", self.clone()),
            (
                "bsq",
                Self {
                    spherical: true,
                    ..self.clone()
                },
            ),
        ]
    }

    /// The entropy penalty's weights.
    fn penalty(&self) -> EntropyPenalty {
        EntropyPenalty {
            weight: self.entropy_weight,
            gamma: self.diversity_gamma,
            inv_temperature: self.inv_temperature,
        }
    }

    /// l2-normalised over the channels when spherical.
    ///
    /// # Shapes
    /// `[B, d, h, w]` → `[B, d, h, w]`
    fn project(&self, x: Tensor<4>) -> Tensor<4> {
        if self.spherical {
            let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
            x / norm
        } else {
            x
        }
    }

    /// ±1 by sign (projected when spherical).
    fn signs(&self, x: Tensor<4>) -> Tensor<4> {
        let ones = x.ones_like();
        let q = ones.clone().mask_where(x.lower_equal_elem(0.0), ones.neg());
        self.project(q)
    }

    /// Token ids: bit i (most significant first) set where dimension i is positive.
    fn indices(x: Tensor<4>) -> Tensor<3, Int> {
        let [_, d, _, _] = x.dims();
        let device = x.device();
        let mask: Vec<f32> = (0..d).map(|i| (1u32 << (d - 1 - i)) as f32).collect();
        let mask = Tensor::<1>::from_floats(mask.as_slice(), &device).reshape([1, d, 1, 1]);
        (x.greater_elem(0.0).float() * mask)
            .sum_dim(1)
            .squeeze_dim::<3>(1)
            .int()
    }

    /// Every code `[K, d]` (projected when spherical), row k the code of token k.
    fn all_codes(&self, d: usize, device: &Device) -> Tensor<2> {
        let k = 1usize << d;
        let bits: Vec<f32> = (0..k)
            .flat_map(|c| (0..d).map(move |i| if c >> (d - 1 - i) & 1 == 1 { 1.0 } else { -1.0 }))
            .collect();
        let codes = Tensor::<1>::from_floats(bits.as_slice(), device).reshape([k, d]);
        if self.spherical {
            let norm = codes.clone().powi_scalar(2).sum_dim(1).sqrt();
            codes / norm
        } else {
            codes
        }
    }

    /// The auxiliary loss's parts for the (projected) latents `x` and their codes `q`.
    ///
    /// # Shapes
    /// `x`, `q` `[B, d, h, w]`
    pub fn loss_parts(&self, x: Tensor<4>, q: Tensor<4>) -> LfqLoss {
        let [_, d, _, _] = x.dims();
        let rows = flatten_cells(x.clone()); // [N, d]
        let codes = self.all_codes(d, &x.device()); // [K, d]
        let logits = rows.matmul(codes.transpose()) * (2.0 * self.inv_temperature);
        let Entropies { per_cell, codebook } = Entropies::of_logits(logits);
        LfqLoss {
            per_sample_entropy: per_cell,
            codebook_entropy: codebook,
            commitment: (x - q.detach()).powi_scalar(2).mean(),
        }
    }

    /// `entropy_weight·(H_sample − γ·H_codebook) + commitment·‖x − sg[q]‖²`.
    pub fn aux_loss(&self, parts: &LfqLoss) -> Tensor<1> {
        let entropies = Entropies {
            per_cell: parts.per_sample_entropy.clone(),
            codebook: parts.codebook_entropy.clone(),
        };
        self.penalty().loss(&entropies) + parts.commitment.clone() * self.commitment
    }

    /// The codes of token ids.
    ///
    /// # Shapes
    /// `[B, h, w]` → `[B, d, h, w]`
    pub fn token_codes(&self, d: usize, tokens: Tensor<3, Int>) -> Tensor<4> {
        lookup(self.all_codes(d, &tokens.device()), tokens)
    }
}

/// log₂K latent dimensions.
fn bits(m: &ModelConfig) -> usize {
    m.vocab_size.trailing_zeros() as usize
}

impl Family for LfqOptions {
    fn name(&self) -> &'static str {
        "lfq"
    }

    fn validate(&self) -> Result<()> {
        non_negative("commitment", self.commitment)?;
        self.penalty().validate()
    }

    fn check_model(&self, m: &ModelConfig) -> Result<()> {
        if !m.vocab_size.is_power_of_two() || m.vocab_size < 2 || m.vocab_size > 1 << 16 {
            return Err(Error::config(
                "vocab_size",
                format!(
                    "lfq needs a power of two from 2 to 65536 (codes are sign bits), got {}",
                    m.vocab_size
                ),
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "{}sign bits, entropy penalty {} (γ {}), commitment {}",
            if self.spherical {
                "BSQ: unit-sphere "
            } else {
                ""
            },
            self.entropy_weight,
            self.diversity_gamma,
            self.commitment
        )
    }

    fn latent_channels(&self, m: &ModelConfig) -> usize {
        bits(m)
    }

    fn vocab(&self, m: &ModelConfig) -> Option<usize> {
        Some(m.vocab_size)
    }

    /// Signs with the straight-through gradient; the latent loss is the weighted entropy
    /// penalty plus the commitment loss.
    ///
    /// # Shapes
    /// `z_e [B, d, h, w]` → `z_q [B, d, h, w]`, indices `[B, h, w]`
    fn quantize(
        &self,
        _: Step,
        _: Option<&FamilyParams>,
        z_e: Tensor<4>,
        _: Option<Tensor<4>>,
    ) -> QuantizerOutput {
        let x = self.project(z_e);
        let q = self.signs(x.clone());
        let indices = Self::indices(x.clone());
        let latent_loss = self.aux_loss(&self.loss_parts(x.clone(), q.clone()));
        QuantizerOutput {
            hard: None,
            regularisers: None,
            z_q: x.clone() + (q - x).detach(),
            latent_loss,
            indices: Some(indices),
        }
    }

    fn latent_term(
        &self,
        _: &ModelConfig,
        _: usize,
        _: &Tensor<4>,
        q: &QuantizerOutput,
    ) -> Option<Tensor<1>> {
        Some(q.latent_loss.clone())
    }

    fn tokens(&self, _: Option<&FamilyParams>, head: &dyn Head) -> Option<Tensor<3, Int>> {
        Some(Self::indices(head.z_e()))
    }

    /// The signs; LFQ's posterior is a point mass (entropy 0).
    fn encode(&self, _: Option<&FamilyParams>, head: &dyn Head) -> Encoded {
        let x = self.project(head.z_e());
        let tokens = Self::indices(x.clone());
        Encoded {
            input: DecoderInput::Dense(self.signs(x)),
            tokens: Some(tokens),
            entropy: 0.0,
        }
    }

    fn token_input(
        &self,
        m: &ModelConfig,
        _: Option<&FamilyParams>,
        tokens: Tensor<3, Int>,
    ) -> DecoderInput {
        DecoderInput::Dense(self.token_codes(bits(m), tokens))
    }

    fn bits_per_cell(&self, m: &ModelConfig, _: f64) -> f64 {
        bits(m) as f64
    }

    fn sampling(&self) -> &'static str {
        "uniform tokens (needs a prior)"
    }
}
