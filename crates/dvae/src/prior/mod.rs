//! Priors over image tokens, for generation: a decoder-only transformer over the
//! raster-ordered token grid (DALL·E's choice) and a gated PixelCNN (the VQ-VAE paper's),
//! both optionally conditioned on a class label with classifier-free guidance.
//!
//! Both see the grid as a sequence `x_0 … x_{T-1}` (row by row) and give, at every
//! position `t`, logits for `x_t` that depend only on `x_{<t}` and the class.

pub mod config;
pub mod generate;
pub mod pixelcnn;
pub mod sampling;
pub mod store;
pub mod train;
mod train_config;
pub mod transformer;

use burn::prelude::*;
use rand::SeedableRng;

use crate::error::Result;
pub use config::{PriorConfig, PriorKind};
use pixelcnn::PixelCnn;
use transformer::Transformer;

impl PriorConfig {
    /// A freshly initialised prior; `seed` fixes every weight.
    pub fn init(&self, seed: u64, device: &Device) -> Result<TokenPrior> {
        self.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let prior = match self.kind {
            PriorKind::Transformer => {
                TokenPrior::Transformer(Transformer::new(self, &mut rng, device))
            }
            PriorKind::Pixelcnn => TokenPrior::PixelCnn(PixelCnn::new(self, &mut rng, device)),
        };
        // Ids by position, not drawn at random: a checkpoint stores them.
        Ok(crate::reproducible::number_params(prior))
    }
}

/// A prior over token grids.
#[derive(Module, Debug)]
pub enum TokenPrior {
    /// See [`transformer::Transformer`].
    Transformer(Transformer),
    /// See [`pixelcnn::PixelCnn`].
    PixelCnn(PixelCnn),
}

impl TokenPrior {
    /// Logits for every token of `tokens` given the tokens before it and the class
    /// (`classes` holds ids in `0..=C`, where `C`, the number of classes, means none).
    ///
    /// # Shapes
    /// `tokens` `[B, T]`, `classes` `[B]` → `[B, T, K]`
    pub fn logits(&self, tokens: Tensor<2, Int>, classes: Tensor<1, Int>) -> Tensor<3> {
        match self {
            TokenPrior::Transformer(t) => t.forward(tokens, classes),
            TokenPrior::PixelCnn(p) => p.forward(tokens, classes),
        }
    }

    /// Mean negative log-likelihood (nats per token) of `tokens`, and the logits.
    ///
    /// # Shapes
    /// `tokens` `[B, T]`, `classes` `[B]` → `[1]`
    pub fn nll(&self, tokens: Tensor<2, Int>, classes: Tensor<1, Int>) -> Tensor<1> {
        let [b, t] = tokens.dims();
        let logits = self.logits(tokens.clone(), classes);
        let k = logits.dims()[2];
        let logp = burn::tensor::activation::log_softmax(logits.reshape([b * t, k]), 1);
        let picked = logp.gather(1, tokens.reshape([b * t, 1]));
        picked.mean().neg()
    }
}
