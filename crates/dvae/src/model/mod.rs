//! The network: DALL·E's encoder and decoder around a family's bottleneck, defined once
//! (generic over [`ops::Ops`]) and run by the engine its [`Engine`] names.

pub mod block;
pub mod decoder;
pub mod encoder;
pub mod family;
pub mod gumbel;
pub mod host_ops;
pub mod latent;
pub mod ops;
pub mod pixels;
pub mod tensor_ops;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::kernels::engine::Engine;
use decoder::Decoder;
use encoder::Encoder;
use family::FamilyConfig;
use family::api::{Encoded, Family, FamilyParams, Head, QuantizerOutput, Step};
use latent::DecoderInput;
use ops::Ops;
use tensor_ops::TensorOps;

/// A tokenizer's network: encoder, the family's own parameters, decoder.
#[derive(Module, Debug)]
pub struct Network {
    /// Image → the family's encoder output (logits, vectors or moments).
    pub encoder: Encoder,
    /// Latent → image distribution; its 1×1 input convolution is the dVAE's codebook.
    pub decoder: Decoder,
    /// The family's parameters beside encoder and decoder (a VQ-VAE's codebook).
    pub bottleneck: Option<FamilyParams>,
    /// The backbone's sizes.
    #[module(skip)]
    pub config: ModelConfig,
    /// The family and its options.
    #[module(skip)]
    pub family: FamilyConfig,
    /// Which engine runs the layers.
    #[module(skip)]
    pub engine: Engine,
}

/// The encoder's features as a family reads them (see [`Head`]).
struct Features<'a, O: Ops> {
    ops: &'a O,
    encoder: &'a Encoder,
    h: O::Map,
}

impl<O: Ops> Head for Features<'_, O> {
    fn z_e(&self) -> Tensor<4> {
        self.ops.output(self.encoder.output(self.ops, &self.h))
    }

    fn argmax(&self) -> Tensor<3, Int> {
        self.ops.conv_argmax(&self.encoder.output, &self.h, true)
    }
}

impl Network {
    /// A freshly initialised network; `seed` fixes every weight (encoder, decoder, then the
    /// family's parameters, in that order from one generator).
    pub fn new(
        m: &ModelConfig,
        family: &FamilyConfig,
        seed: u64,
        device: &Device,
        engine: Engine,
    ) -> Self {
        let f = family.family();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let encoder = Encoder::new(m, f.encoder_channels(m), &mut rng, device);
        let decoder = Decoder::new(m, f.latent_channels(m), &mut rng, device);
        let bottleneck = f.init(m, &mut rng, device);
        let network = Self {
            encoder,
            decoder: f.init_decoder(decoder, seed),
            bottleneck,
            config: m.clone(),
            family: family.clone(),
            engine,
        };
        // Ids by position, not drawn at random: a checkpoint stores them.
        crate::reproducible::number_params(network)
    }

    /// The family's behaviour.
    pub fn family(&self) -> &dyn Family {
        self.family.family()
    }

    /// The layers on Burn tensors for this network's engine.
    pub fn tensor_ops(&self) -> TensorOps {
        TensorOps {
            engine: self.engine,
        }
    }

    /// The encoder's output on Burn tensors.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, E, h, w]`
    pub fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        self.encoder.forward(&self.tensor_ops(), x)
    }

    /// The decoder's output on Burn tensors.
    ///
    /// # Shapes
    /// → `[B, out_channels, S, S]`
    pub fn decode(&self, input: DecoderInput) -> Tensor<4> {
        self.decoder.forward(&self.tensor_ops(), input)
    }

    /// One training forward pass: the encoder's output, what the family makes of it at
    /// `step` with `noise`, and the decoder's output.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `z_e [B, E, h, w]`, …, `[B, out_channels, S, S]`
    pub fn forward_train(
        &self,
        x: Tensor<4>,
        step: usize,
        noise: Option<Tensor<4>>,
    ) -> (Tensor<4>, QuantizerOutput, Tensor<4>) {
        let z_e = self.encode(x);
        let s = Step {
            step,
            engine: self.engine,
        };
        let q = self
            .family()
            .quantize(s, self.bottleneck.as_ref(), z_e.clone(), noise);
        let input = match &q.hard {
            Some(hard) => DecoderInput::StraightThrough {
                tokens: hard.tokens.clone(),
                soft: Box::new(q.z_q.clone()),
                soft_codebook_grad: hard.soft_codebook_grad,
            },
            None => DecoderInput::Dense(q.z_q.clone()),
        };
        let out = self.decode(input);
        (z_e, q, out)
    }

    fn features<'a, O: Ops>(&'a self, ops: &'a O, x: Tensor<4>) -> Features<'a, O> {
        let h = self.encoder.features(ops, &ops.input(x));
        Features {
            ops,
            encoder: &self.encoder,
            h,
        }
    }

    /// Tokens of mapped pixels through `ops` (`None`: a continuous family).
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, h, w]`
    pub fn tokens_with<O: Ops>(&self, ops: &O, x: Tensor<4>) -> Option<Tensor<3, Int>> {
        self.family()
            .tokens(self.bottleneck.as_ref(), &self.features(ops, x))
    }

    /// The encoder's output `z_e` of mapped pixels through `ops`.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, E, h, w]`
    pub fn encoder_output_with<O: Ops>(&self, ops: &O, x: Tensor<4>) -> Tensor<4> {
        self.features(ops, x).z_e()
    }

    /// The logits of q(z|x) of mapped pixels through `ops` (`None`: the family has none).
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, K, h, w]`
    pub fn logits_with<O: Ops>(&self, ops: &O, x: Tensor<4>) -> Option<Tensor<4>> {
        self.family()
            .logits(self.bottleneck.as_ref(), &self.features(ops, x))
    }

    /// Tokens, entropy and the deterministic decoder input of mapped pixels through `ops`.
    pub fn encode_with<O: Ops>(&self, ops: &O, x: Tensor<4>) -> Encoded {
        self.family()
            .encode(self.bottleneck.as_ref(), &self.features(ops, x))
    }

    /// The decoder's input for tokens.
    pub fn token_input(&self, tokens: Tensor<3, Int>) -> DecoderInput {
        self.family()
            .token_input(&self.config, self.bottleneck.as_ref(), tokens)
    }

    /// The decoder's output through `ops`.
    ///
    /// # Shapes
    /// → `[B, out_channels, S, S]`
    pub fn decode_with<O: Ops>(&self, ops: &O, input: DecoderInput) -> Tensor<4> {
        self.decoder.forward(ops, input)
    }

    /// The decoder's images (pixels in [0, 1], the first `channels` output channels) for
    /// `input`, on `ops`.
    ///
    /// # Shapes
    /// → `[B, channels, S, S]`
    pub fn decode_pixels_with<O: Ops>(
        &self,
        ops: &O,
        input: DecoderInput,
        channels: usize,
    ) -> Tensor<4> {
        self.decoder.forward_pixels(ops, input, channels)
    }

    /// Tokens of mapped pixels on Burn tensors (this network's engine).
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, h, w]`
    /// Panics for a continuous family (check `family().vocab()` first).
    pub fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        self.tokens_with(&self.tensor_ops(), x)
            .unwrap_or_else(|| panic!("the {} family has no tokens", self.family))
    }

    /// The decoder's output for tokens on Burn tensors.
    ///
    /// # Shapes
    /// tokens `[B, h, w]` → `[B, out_channels, S, S]`
    pub fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        self.decode(self.token_input(tokens))
    }

    /// The decoder's output for `n` latents drawn from the family's own prior (`None`:
    /// the family has none).
    pub fn sample_prior(&self, n: usize, rng: &mut ChaCha8Rng) -> Option<Tensor<4>> {
        let device = self.decoder.input.weight.val().device();
        let input =
            self.family()
                .sample_prior(&self.config, self.bottleneck.as_ref(), n, rng, &device)?;
        Some(self.decode(input))
    }
}
