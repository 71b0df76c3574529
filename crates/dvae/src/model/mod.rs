//! The dVAE: DALL·E's encoder and decoder around a Gumbel-softmax bottleneck.

pub mod block;
pub mod decoder;
pub mod encoder;
pub mod quantizer;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use decoder::Decoder;
pub use encoder::Encoder;
use quantizer::gumbel;

use crate::config::ModelConfig;

/// DALL·E's pixel mapping ε: pixels are squeezed into [ε, 1-ε] before the encoder.
pub const LOGIT_LAPLACE_EPS: f64 = 0.1;

/// `x ↦ (1 − 2ε)·x + ε`.
pub fn map_pixels<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x * (1.0 - 2.0 * LOGIT_LAPLACE_EPS) + LOGIT_LAPLACE_EPS
}

/// Inverse of [`map_pixels`], clamped to [0, 1].
pub fn unmap_pixels<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    ((x - LOGIT_LAPLACE_EPS) / (1.0 - 2.0 * LOGIT_LAPLACE_EPS)).clamp(0.0, 1.0)
}

/// Encoder and decoder of a dVAE.
#[derive(Module, Debug)]
pub struct DvaeModel {
    /// Image → logits.
    pub encoder: Encoder,
    /// (Soft) one-hot codes → image distribution.
    pub decoder: Decoder,
    /// Number of codes K.
    pub vocab_size: usize,
}

/// What one training forward pass produces.
#[derive(Debug, Clone)]
pub struct TrainForward {
    /// Encoder logits `[B, K, h, w]`.
    pub logits: Tensor<4>,
    /// Decoder output `[B, out_channels, S, S]`.
    pub out: Tensor<4>,
}

impl DvaeModel {
    /// A freshly initialised model; `seed` fixes every weight.
    pub fn new(c: &ModelConfig, seed: u64, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Self {
            encoder: Encoder::new(c, c.vocab_size, &mut rng, device),
            decoder: Decoder::new(c, c.vocab_size, &mut rng, device),
            vocab_size: c.vocab_size,
        }
    }

    /// Redraws the codebook (the decoder's input weight) from N(0, std²) with `seed`;
    /// DALL·E's own init is std = 1/sqrt(vocab_size).
    pub fn with_codebook_std(mut self, std: f64, seed: u64) -> Self {
        use rand_distr::Distribution;
        let w = &self.decoder.input.weight;
        let shape = w.dims();
        let device = w.val().device();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0de_b00c);
        let normal =
            rand_distr::Normal::new(0.0f32, std as f32).expect("std is finite and positive");
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| normal.sample(&mut rng))
            .collect();
        let t = Tensor::<1>::from_floats(values.as_slice(), &device).reshape(shape);
        self.decoder.input.weight = burn::module::Param::from_tensor(t);
        self
    }

    /// Training forward: logits, Gumbel-softmax sample at `tau`, decoder.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]`, gumbel `[B, K, h, w]`
    pub fn forward_train(
        &self,
        x: Tensor<4>,
        gumbel: Tensor<4>,
        tau: f64,
        hard: bool,
    ) -> TrainForward {
        let logits = self.encoder.forward(x);
        let z = gumbel::gumbel_softmax(logits.clone(), gumbel, tau, hard);
        let out = self.decoder.forward(z);
        TrainForward { logits, out }
    }

    /// Most likely token per cell.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → tokens `[B, h, w]`
    pub fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        gumbel::argmax_tokens(self.encoder.forward(x))
    }

    /// Decoder output for hard tokens.
    ///
    /// # Shapes
    /// tokens `[B, h, w]` → `[B, out_channels, S, S]`
    pub fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        self.decoder
            .forward_embedded(self.decoder.embed_tokens(tokens))
    }
}

/// Pixels in [0, 1] from the decoder's output: `unmap(sigmoid(μ))`, μ the first C channels.
///
/// # Shapes
/// `[B, out_channels, S, S]` → `[B, C, S, S]`
pub fn output_to_pixels(out: Tensor<4>, channels: usize) -> Tensor<4> {
    let mu = out.narrow(1, 0, channels);
    unmap_pixels(burn::tensor::activation::sigmoid(mu))
}
