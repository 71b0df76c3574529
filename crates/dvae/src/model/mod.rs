//! The dVAE: DALL·E's encoder and decoder around a Gumbel-softmax bottleneck.

pub mod block;
pub mod conv1x1;
pub mod cpu_conv;
pub mod cpu_softmax;
pub mod decoder;
pub mod encoder;
pub mod quantizer;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use decoder::Decoder;
pub use encoder::Encoder;
use quantizer::{Family, Quantizer, QuantizerOutput, VectorQuantizer, gumbel};

use crate::config::{ModelConfig, VqOptions};

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

/// Encoder and decoder of a tokenizer, with the codebook of a VQ-VAE.
#[derive(Module, Debug)]
pub struct DvaeModel {
    /// Image → logits (dVAE), vectors (VQ-VAE, AE) or moments (VAE).
    pub encoder: Encoder,
    /// Latent → image distribution; its 1×1 input convolution is the dVAE's codebook.
    pub decoder: Decoder,
    /// The VQ-VAE's codebook (VQ-VAE only).
    pub vq: Option<VectorQuantizer>,
    /// Number of codes K.
    pub vocab_size: usize,
    /// Which family this model is.
    #[module(skip)]
    pub family: Family,
    /// VQ-VAE codes compared by cosine similarity.
    #[module(skip)]
    pub vq_cosine: bool,
}

/// The step-dependent settings of a quantizer in training.
#[derive(Clone, Debug)]
pub struct QuantizerArgs<'a> {
    /// Gumbel-softmax temperature.
    pub tau: f64,
    /// Straight-through hard Gumbel-softmax.
    pub hard: bool,
    /// VQ-VAE options.
    pub vq: &'a VqOptions,
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
        let encoder = Encoder::new(c, c.encoder_channels(), &mut rng, device);
        let decoder = Decoder::new(c, c.latent_channels(), &mut rng, device);
        let vq = (c.family == Family::Vqvae)
            .then(|| VectorQuantizer::new(c.vocab_size, c.code_dim, &mut rng, device));
        Self {
            encoder,
            decoder,
            vq,
            vocab_size: c.vocab_size,
            family: c.family,
            vq_cosine: c.vq_cosine,
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

    /// The quantizer of this model's family for one training step; `noise` is standard
    /// Gumbel noise `[B, K, h, w]` for the dVAE and standard normal `[B, D, h, w]` for the VAE.
    pub fn quantizer<'a>(
        &'a self,
        args: &QuantizerArgs<'a>,
        noise: Option<Tensor<4>>,
    ) -> Quantizer<'a> {
        match self.family {
            Family::Dvae => Quantizer::Gumbel {
                tau: args.tau,
                hard: args.hard,
                noise: noise.expect("the dVAE's quantizer needs Gumbel noise"),
            },
            Family::Vqvae => Quantizer::Vector {
                vq: self.vq.as_ref().expect("a vqvae model has a codebook"),
                commitment: args.vq.commitment,
                ema: args.vq.ema,
                cosine: self.vq_cosine,
            },
            Family::Vae => Quantizer::Gaussian { noise },
            Family::Ae => Quantizer::Identity,
        }
    }

    /// Forward through any quantizer.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → encoder output `[B, E, h, w]`, quantizer output,
    /// decoder output `[B, out_channels, S, S]`
    pub fn forward_with(
        &self,
        x: Tensor<4>,
        q: &Quantizer,
    ) -> (Tensor<4>, QuantizerOutput, Tensor<4>) {
        let z_e = self.encoder.forward(x);
        let qo = q.quantize(z_e.clone());
        let out = self.decoder.forward(qo.z_q.clone());
        (z_e, qo, out)
    }

    /// Decoder output for an image through the family's deterministic path: tokens for
    /// the discrete families, μ for the VAE, the code for the AE.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, out_channels, S, S]`
    pub fn reconstruct(&self, x: Tensor<4>) -> Tensor<4> {
        match self.family {
            Family::Dvae | Family::Vqvae => self.decode_tokens(self.encode_tokens(x)),
            Family::Vae => {
                let (mu, _) = quantizer::gaussian::split_moments(self.encoder.forward(x));
                self.decoder.forward(mu)
            }
            Family::Ae => self.decoder.forward(self.encoder.forward(x)),
        }
    }

    /// Decoder output for latents drawn from the family's prior: N(0, 1) for the VAE,
    /// uniformly random tokens for the discrete families. The AE has no prior (`None`).
    pub fn sample_prior(
        &self,
        n: usize,
        grid: usize,
        rng: &mut impl rand::Rng,
    ) -> Option<Tensor<4>> {
        let device = self.decoder.input.weight.val().device();
        match self.family {
            Family::Ae => None,
            Family::Vae => {
                let d = self.decoder.input.weight.dims()[1];
                let z = quantizer::gaussian::standard_normal([n, d, grid, grid], rng, &device);
                Some(self.decoder.forward(z))
            }
            Family::Dvae | Family::Vqvae => {
                let ids: Vec<i32> = (0..n * grid * grid)
                    .map(|_| rng.random_range(0..self.vocab_size as i32))
                    .collect();
                let t =
                    Tensor::<1, Int>::from_ints(ids.as_slice(), &device).reshape([n, grid, grid]);
                Some(self.decode_tokens(t))
            }
        }
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
    /// Panics for the continuous families (check [`Family::is_discrete`] first).
    pub fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        let z = self.encoder.forward(x);
        match (&self.vq, self.family) {
            (Some(vq), Family::Vqvae) => vq.tokens(z, self.vq_cosine),
            (_, Family::Dvae) => gumbel::argmax_tokens(z),
            (_, f) => panic!("the {f} family has no tokens"),
        }
    }

    /// Decoder output for hard tokens.
    ///
    /// # Shapes
    /// tokens `[B, h, w]` → `[B, out_channels, S, S]`
    pub fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        match &self.vq {
            Some(vq) => self.decoder.forward(vq.embed(tokens, self.vq_cosine)),
            None => self
                .decoder
                .forward_embedded(self.decoder.embed_tokens(tokens)),
        }
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
