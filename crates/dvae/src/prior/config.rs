//! What a prior is: its kind and sizes, validated, and the initialisation its layers share.

use burn::module::Param;
use burn::prelude::*;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which network models the tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorKind {
    /// Decoder-only transformer with causal attention and learned positions.
    Transformer,
    /// Gated PixelCNN: masked convolutions in a vertical and a horizontal stack.
    Pixelcnn,
}

crate::names::kebab_from_str!(PriorKind, "kind", [Transformer => "transformer", Pixelcnn => "pixelcnn"]);

/// The shape of a prior: the token grid it models and the network's sizes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorConfig {
    /// Network kind.
    pub kind: PriorKind,
    /// Number of codes K of the tokenizer.
    pub vocab_size: usize,
    /// Side of the token grid (T = grid² tokens).
    pub grid: usize,
    /// Number of classes it is conditioned on (0: unconditional).
    pub classes: usize,
    /// Width: the transformer's model dimension, the PixelCNN's channels.
    pub width: usize,
    /// Transformer blocks or gated PixelCNN layers.
    pub layers: usize,
    /// Attention heads (transformer).
    pub heads: usize,
    /// Kernel side of the PixelCNN's masked convolutions (odd).
    pub kernel: usize,
}

impl PriorConfig {
    /// Defaults for `kind` over a `grid`×`grid` grid of `vocab_size` codes.
    pub fn new(kind: PriorKind, vocab_size: usize, grid: usize, classes: usize) -> Self {
        Self {
            kind,
            vocab_size,
            grid,
            classes,
            width: 128,
            layers: 4,
            heads: 4,
            kernel: 5,
        }
    }

    /// Tokens per grid.
    pub fn tokens(&self) -> usize {
        self.grid * self.grid
    }

    /// Checks every field, naming the one that is wrong.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("grid", self.grid),
            ("width", self.width),
            ("layers", self.layers),
            ("heads", self.heads),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(Error::config(field, "must be at least 1"));
            }
        }
        if self.kind == PriorKind::Transformer && !self.width.is_multiple_of(self.heads) {
            return Err(Error::config(
                "width",
                format!("{} is not a multiple of heads = {}", self.width, self.heads),
            ));
        }
        if self.kernel.is_multiple_of(2) {
            return Err(Error::config(
                "kernel",
                format!("must be odd; got {}", self.kernel),
            ));
        }
        Ok(())
    }
}

/// A parameter of `shape` drawn from N(0, std²) with `rng`.
pub(crate) fn normal_param<const D: usize>(
    shape: [usize; D],
    std: f64,
    rng: &mut impl Rng,
    device: &Device,
) -> Param<Tensor<D>> {
    let n: usize = shape.iter().product();
    let normal = Normal::new(0.0f32, std as f32).expect("std is finite and positive");
    let values: Vec<f32> = (0..n).map(|_| normal.sample(rng)).collect();
    Param::from_tensor(Tensor::<1>::from_floats(values.as_slice(), device).reshape(shape))
}
