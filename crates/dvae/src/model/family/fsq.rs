//! Finite Scalar Quantization (Mentzer et al. 2023): the encoder outputs a few bounded
//! dimensions per cell, each rounded to one of Lᵢ levels with a straight-through gradient.
//! The codebook is the grid of level combinations (∏ Lᵢ codes): nothing to learn, no
//! auxiliary loss, and no code can die for want of updates.
//!
//! Numerics follow `vector_quantize_pytorch.FSQ` (bound with `tanh` and a shift for even
//! levels, `round` straight-through, codes in [-1, 1]); `tools/make_quantizer_fixtures.py`
//! pins them.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::api::{Encoded, Family, FamilyParams, Head, QuantizerOutput, Step};
use super::codebook::flatten_cells;
use super::entropy_penalty::EntropyPenalty;
use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::model::latent::DecoderInput;

/// FSQ's options: the levels of each dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FsqOptions {
    /// Levels Lᵢ of each latent dimension; the vocabulary is their product.
    pub levels: Vec<usize>,
    /// Weight of MAGVIT-v2's entropy penalty over `softmax(−inv_temperature·‖b − c‖²)`,
    /// b the bounded latent and c the grid's codes in level units (0: off, the paper's FSQ;
    /// `family::entropy_penalty`).
    pub entropy_weight: f64,
    /// γ: weight of the batch's code entropy against the per-cell entropy.
    pub diversity_gamma: f64,
    /// Inverse temperature of the penalty's distribution over codes (levels 1 apart).
    pub inv_temperature: f64,
}

impl Default for FsqOptions {
    /// `[8, 8, 8]`: 512 codes, 9 bits per cell; no penalty.
    fn default() -> Self {
        Self {
            levels: vec![8, 8, 8],
            entropy_weight: 0.0,
            diversity_gamma: 1.0,
            inv_temperature: 1.0,
        }
    }
}

/// Levels for `k` codes when `k` is a power of two ≥ 8: as many 8s as fit, then 4s
/// (`512 → [8, 8, 8]`, `1024 → [8, 8, 4, 4]`), the paper's advice of about 8 levels per
/// dimension at these sizes.
pub fn levels_for(k: usize) -> Option<Vec<usize>> {
    if k < 8 || !k.is_power_of_two() {
        return None;
    }
    let bits = k.trailing_zeros() as usize;
    let (eights, rest) = match bits % 3 {
        0 => (bits / 3, vec![]),
        1 => (bits / 3 - 1, vec![4, 4]),
        _ => (bits / 3, vec![4]),
    };
    let mut levels = vec![8; eights];
    levels.extend(rest);
    Some(levels)
}

impl FsqOptions {
    /// The comparison's variant.
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        vec![("fsq", self.clone())]
    }

    /// The entropy penalty's weights.
    fn penalty(&self) -> EntropyPenalty {
        EntropyPenalty {
            weight: self.entropy_weight,
            gamma: self.diversity_gamma,
            inv_temperature: self.inv_temperature,
        }
    }

    /// Every code of the grid in level units `[K, d]`, row t the rounded latent of token t.
    fn grid(&self, device: &Device) -> Tensor<2> {
        let d = self.levels.len();
        let basis = basis(&self.levels);
        let values: Vec<f32> = (0..self.codes())
            .flat_map(|t| {
                let basis = &basis;
                self.levels
                    .iter()
                    .enumerate()
                    .map(move |(i, &l)| ((t / basis[i]) % l) as f32 - (l / 2) as f32)
            })
            .collect();
        Tensor::<1>::from_floats(values.as_slice(), device).reshape([self.codes(), d])
    }

    /// Codes: the product of the levels.
    pub fn codes(&self) -> usize {
        self.levels.iter().product()
    }

    /// Per dimension `[1, d, 1, 1]`: (half_l, offset, shift, half_width) of
    /// `vector_quantize_pytorch.FSQ.bound`.
    fn constants(&self, device: &Device) -> [Tensor<4>; 4] {
        let eps = 1e-3;
        let d = self.levels.len();
        let mut out = [vec![], vec![], vec![], vec![]];
        for &l in &self.levels {
            let half_l = (l as f64 - 1.0) * (1.0 + eps) / 2.0;
            let offset = if l % 2 == 0 { 0.5 } else { 0.0 };
            out[0].push(half_l as f32);
            out[1].push(offset as f32);
            out[2].push((offset / half_l).atanh() as f32);
            out[3].push((l / 2) as f32);
        }
        out.map(|v| Tensor::<1>::from_floats(v.as_slice(), device).reshape([1, d, 1, 1]))
    }

    /// `bound(z)` rounded: integer level offsets in `[-⌊L/2⌋, ⌈L/2⌉ − 1]`, with the
    /// straight-through gradient of `bound`; and the half widths.
    ///
    /// # Shapes
    /// `z_e [B, d, h, w]` → `[B, d, h, w]`
    fn rounded(&self, z_e: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (bounded, half_width) = self.bounded(z_e);
        (round_straight_through(bounded), half_width)
    }

    /// `bound(z)`, before rounding, and the half widths.
    fn bounded(&self, z_e: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [half_l, offset, shift, half_width] = self.constants(&z_e.device());
        ((z_e + shift).tanh() * half_l - offset, half_width)
    }

    /// Token ids of rounded level offsets: `Σ (offsetᵢ + ⌊Lᵢ/2⌋)·∏_{j<i} Lⱼ` (the first
    /// dimension varies fastest).
    fn indices(&self, hat: Tensor<4>, half_width: Tensor<4>) -> Tensor<3, Int> {
        let device = hat.device();
        let d = self.levels.len();
        let basis: Vec<f32> = basis(&self.levels).iter().map(|&b| b as f32).collect();
        let basis = Tensor::<1>::from_floats(basis.as_slice(), &device).reshape([1, d, 1, 1]);
        ((hat.detach() + half_width) * basis)
            .sum_dim(1)
            .round()
            .squeeze_dim::<3>(1)
            .int()
    }

    /// The codes of token ids, in [-1, 1].
    ///
    /// # Shapes
    /// `[B, h, w]` → `[B, d, h, w]`
    pub fn token_codes(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        let per_dim: Vec<Tensor<4>> = self
            .levels
            .iter()
            .zip(basis(&self.levels))
            .map(|(&l, b)| {
                let level = tokens
                    .clone()
                    .div_scalar(b as i64)
                    .remainder_scalar(l as i64);
                let hw = (l / 2) as f64;
                ((level.float() - hw) / hw).unsqueeze_dim::<4>(1)
            })
            .collect();
        Tensor::cat(per_dim, 1)
    }
}

/// `round(x)` forward, the identity's gradient backward.
fn round_straight_through(x: Tensor<4>) -> Tensor<4> {
    x.clone() + (x.clone().round() - x).detach()
}

/// `∏_{j<i} Lⱼ` for each dimension i.
fn basis(levels: &[usize]) -> Vec<usize> {
    let mut b = 1;
    levels
        .iter()
        .map(|&l| {
            let here = b;
            b *= l;
            here
        })
        .collect()
}

impl Family for FsqOptions {
    fn name(&self) -> &'static str {
        "fsq"
    }

    fn validate(&self) -> Result<()> {
        if self.levels.is_empty() || self.levels.iter().any(|&l| l < 3) {
            return Err(Error::config(
                "levels",
                format!(
                    "every dimension needs at least 3 levels (with 2 the rounding is \
                     lopsided), got {:?}",
                    self.levels
                ),
            ));
        }
        self.penalty().validate()?;
        if self.codes() > u16::MAX as usize + 1 {
            return Err(Error::config(
                "levels",
                format!(
                    "{:?} make {} codes, more than 65536",
                    self.levels,
                    self.codes()
                ),
            ));
        }
        Ok(())
    }

    fn check_model(&self, m: &ModelConfig) -> Result<()> {
        if self.codes() != m.vocab_size {
            return Err(Error::config(
                "levels",
                format!(
                    "{:?} make {} codes but vocab_size is {}",
                    self.levels,
                    self.codes(),
                    m.vocab_size
                ),
            ));
        }
        Ok(())
    }

    fn fit_model(&mut self, m: &ModelConfig) {
        if self.codes() != m.vocab_size
            && let Some(levels) = levels_for(m.vocab_size)
        {
            self.levels = levels;
        }
    }

    fn describe(&self) -> String {
        let levels: Vec<String> = self.levels.iter().map(|l| l.to_string()).collect();
        let penalty = self.penalty();
        let loss = if penalty.is_on() {
            penalty.describe()
        } else {
            ", no auxiliary loss".into()
        };
        format!("levels {}, no codebook{loss}", levels.join("×"))
    }

    fn latent_channels(&self, _: &ModelConfig) -> usize {
        self.levels.len()
    }

    fn vocab(&self, _: &ModelConfig) -> Option<usize> {
        Some(self.codes())
    }

    /// Rounded, normalised codes with the straight-through gradient; no latent loss unless
    /// the entropy penalty is on.
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
        let device = z_e.device();
        let (bounded, half_width) = self.bounded(z_e);
        let hat = round_straight_through(bounded.clone());
        let indices = self.indices(hat.clone(), half_width.clone());
        let penalty = self.penalty();
        let latent_loss = if penalty.is_on() {
            penalty.loss(&penalty.of_distances(flatten_cells(bounded), self.grid(&device)))
        } else {
            Tensor::zeros([1], &device)
        };
        QuantizerOutput {
            hard: None,
            regularisers: None,
            z_q: hat / half_width,
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
        self.penalty().is_on().then(|| q.latent_loss.clone())
    }

    fn tokens(&self, _: Option<&FamilyParams>, head: &dyn Head) -> Option<Tensor<3, Int>> {
        let (hat, half_width) = self.rounded(head.z_e());
        Some(self.indices(hat, half_width))
    }

    /// The rounded code; FSQ's posterior is a point mass (entropy 0).
    fn encode(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Encoded {
        let tokens = self.tokens(params, head).expect("fsq has tokens");
        Encoded {
            input: DecoderInput::Dense(self.token_codes(tokens.clone())),
            tokens: Some(tokens),
            entropy: 0.0,
        }
    }

    fn token_input(
        &self,
        _: &ModelConfig,
        _: Option<&FamilyParams>,
        tokens: Tensor<3, Int>,
    ) -> DecoderInput {
        DecoderInput::Dense(self.token_codes(tokens))
    }

    fn bits_per_cell(&self, _: &ModelConfig, _: f64) -> f64 {
        (self.codes() as f64).log2()
    }

    fn sampling(&self) -> &'static str {
        "uniform tokens (needs a prior)"
    }
}
