//! MAGVIT-v2's entropy penalty (Yu et al. 2023), for any family with a codebook: each
//! cell's soft assignment to the codes is pushed to be confident (low per-cell entropy)
//! while the batch's mean assignment is pushed to be uniform (high codebook entropy), so
//! the encoder spreads its cells over every code. LFQ has it by design; the VQ-VAE and FSQ
//! take it as an option, with the soft assignment `softmax(−inv_temperature·‖z − c‖²)`
//! over their codes c.

use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::config::check::{non_negative, positive};
use crate::error::Result;

/// The families taking the penalty's options (`entropy_weight`, `diversity_gamma`,
/// `inv_temperature`), as an owner for [`super::owns`].
pub const FAMILIES: &str = "lfq|vqvae|fsq";

/// The penalty's weights: `weight·(H_cell − gamma·H_codebook)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntropyPenalty {
    /// Weight of the penalty (0: off).
    pub weight: f64,
    /// γ: weight of the codebook (batch-mean) entropy against the per-cell entropy.
    pub gamma: f64,
    /// Inverse temperature of the distribution over codes the entropies are taken of.
    pub inv_temperature: f64,
}

/// The penalty's parts (unweighted), nats.
#[derive(Debug, Clone)]
pub struct Entropies {
    /// Mean over cells of the entropy of a cell's distribution over codes.
    pub per_cell: Tensor<1>,
    /// Entropy of the batch-mean distribution over codes.
    pub codebook: Tensor<1>,
}

/// `−Σ p·ln(max(p, 1e-5))` over the last dimension (`vector_quantize_pytorch`'s clamp).
fn entropy(p: Tensor<2>) -> Tensor<2> {
    (p.clone() * p.clamp_min(1e-5).log()).sum_dim(1).neg()
}

impl Entropies {
    /// The entropies of `softmax(logits)` per cell and of its batch mean.
    ///
    /// # Shapes
    /// `logits [N, K]`
    pub fn of_logits(logits: Tensor<2>) -> Self {
        let p = softmax(logits, 1);
        Self {
            per_cell: entropy(p.clone()).mean(),
            codebook: entropy(p.mean_dim(0)).mean(),
        }
    }
}

impl EntropyPenalty {
    /// Checks the weights, naming the fields as `config.json` does.
    pub fn validate(&self) -> Result<()> {
        non_negative("entropy_weight", self.weight)?;
        non_negative("diversity_gamma", self.gamma)?;
        positive("inv_temperature", self.inv_temperature)
    }

    /// Whether the penalty is on.
    pub fn is_on(&self) -> bool {
        self.weight > 0.0
    }

    /// `weight·(H_cell − gamma·H_codebook)`.
    pub fn loss(&self, parts: &Entropies) -> Tensor<1> {
        (parts.per_cell.clone() - parts.codebook.clone() * self.gamma) * self.weight
    }

    /// The entropies of `softmax(−inv_temperature·‖z − c‖²)` over the codes: the logits
    /// are computed as `inv_temperature·(2 z·c − ‖c‖²)`, the per-cell ‖z‖² cancelling in
    /// the softmax.
    ///
    /// # Shapes
    /// `rows [N, D]`, `codes [K, D]`
    pub fn of_distances(&self, rows: Tensor<2>, codes: Tensor<2>) -> Entropies {
        let c2 = codes.clone().powi_scalar(2).sum_dim(1).transpose(); // [1, K]
        let logits = (rows.matmul(codes.transpose()) * 2.0 - c2) * self.inv_temperature;
        Entropies::of_logits(logits)
    }

    /// The penalty in words, for a family's description; empty when off.
    pub fn describe(&self) -> String {
        if self.is_on() {
            format!(
                ", entropy penalty {} (γ {}, inverse temperature {})",
                self.weight, self.gamma, self.inv_temperature
            )
        } else {
            String::new()
        }
    }
}
