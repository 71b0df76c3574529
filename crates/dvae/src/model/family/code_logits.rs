//! Where the dVAE's logits come from: DALL·E's K-channel encoder head, or a `code_dim`
//! vector per cell against a codebook the decoder shares (dot products or distances); and
//! what the decoder takes from that codebook.

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::api::{FamilyParams, codebook};
use super::codebook::VectorQuantizer;
use crate::config::ModelConfig;
use crate::model::latent::DecoderInput;

/// Where the dVAE's K logits per cell come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeLogits {
    /// DALL·E's: the encoder's last layer outputs the K logits, and the codebook is the
    /// decoder's 1×1 input convolution, apart from them.
    #[default]
    Head,
    /// IBQ's (Shi et al. 2024): the encoder outputs a `code_dim` vector z per cell, and the
    /// logits are z·cₖ/√D against a codebook of K vectors cₖ, the ones the decoder takes
    /// as its input: the logits and the decoder share the codes, so codes near the drawn
    /// one are the likely ones.
    Dot,
    /// −‖z − cₖ‖²/√D against the same codebook: a Gumbel-softmax over the VQ-VAE's distances.
    Distance,
}

crate::names::kebab_from_str!(CodeLogits, "logits", [Head => "head", Dot => "dot", Distance => "distance"]);

impl CodeLogits {
    /// Whether these are the encoder head's own logits (no codebook of the family's).
    pub fn is_head(&self) -> bool {
        *self == Self::Head
    }

    /// The logits of the encoder's output: itself for the head, otherwise against the
    /// codebook among `params` (`exact`: with the distance's per-cell constant; see
    /// [`code_logits`]).
    pub fn of(self, params: Option<&FamilyParams>, z_e: Tensor<4>, exact: bool) -> Tensor<4> {
        if self.is_head() {
            z_e
        } else {
            code_logits(self, z_e, codebook(params).codes(false), exact)
        }
    }

    /// The decoder's input for tokens: columns of its input weight for the head, otherwise
    /// the codes' vectors.
    pub fn token_input(
        self,
        params: Option<&FamilyParams>,
        tokens: Tensor<3, Int>,
    ) -> DecoderInput {
        if self.is_head() {
            DecoderInput::Lookup(tokens)
        } else {
            DecoderInput::Dense(codebook(params).embed(tokens, false))
        }
    }
}

/// The codebook the logits are computed against: K vectors of `code_dim` drawn from
/// N(0, std²) (DALL·E's 1/sqrt(K) without `std`).
pub fn init_codebook(
    m: &ModelConfig,
    std: Option<f64>,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> FamilyParams {
    let std = std.unwrap_or(1.0 / (m.vocab_size as f64).sqrt());
    FamilyParams::Codebook(VectorQuantizer::normal(
        m.vocab_size,
        m.code_dim,
        std,
        rng,
        device,
    ))
}

/// The decoder's input in training for the sample `soft [B, K, h, w]`: with `hard`, the
/// drawn codes' vectors (their gradient to the codebook), the soft sample's gradient going
/// to the logits (straight-through); otherwise the probability-weighted codes.
pub fn decoder_input(vq: &VectorQuantizer, soft: Tensor<4>, hard: bool) -> Tensor<4> {
    let codes = vq.codes(false);
    if hard {
        let tokens = crate::model::gumbel::argmax_tokens(soft.clone());
        let through = weighted_codes(soft, codes.detach());
        vq.embed(tokens, false) + through.clone() - through.detach()
    } else {
        weighted_codes(soft, codes)
    }
}

/// The logits `[B, K, h, w]` of encoder vectors `z_e [B, D, h, w]` against `codes [K, D]`,
/// one matrix product per image in the channels-first layout (no transposed copies of the
/// `[B, K, h, w]` tensors). Without `exact`, the distance's −‖z‖²/√D is left out: it is the
/// same for every code of a cell, so it changes neither q nor the argmax.
pub fn code_logits(kind: CodeLogits, z_e: Tensor<4>, codes: Tensor<2>, exact: bool) -> Tensor<4> {
    let [b, d, h, w] = z_e.dims();
    let k = codes.dims()[0];
    let z = z_e.reshape([b, d, h * w]);
    let scale = 1.0 / (d as f64).sqrt();
    let logits = match kind {
        CodeLogits::Head => unreachable!("the head's logits are the encoder's output"),
        CodeLogits::Dot => (codes * scale).unsqueeze::<3>().matmul(z),
        CodeLogits::Distance => {
            let c2 = codes.clone().powi_scalar(2).sum_dim(1).reshape([1, k, 1]) * scale;
            let l = (codes * (2.0 * scale)).unsqueeze::<3>().matmul(z.clone()) - c2;
            if exact {
                l - z.powi_scalar(2).sum_dim(1) * scale
            } else {
                l
            }
        }
    };
    logits.reshape([b, k, h, w])
}

/// The probability-weighted codes `[B, D, h, w]` of `soft [B, K, h, w]`.
fn weighted_codes(soft: Tensor<4>, codes: Tensor<2>) -> Tensor<4> {
    let [b, k, h, w] = soft.dims();
    let d = codes.dims()[1];
    codes
        .transpose()
        .unsqueeze::<3>()
        .matmul(soft.reshape([b, k, h * w]))
        .reshape([b, d, h, w])
}
