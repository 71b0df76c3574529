//! What a family is to the rest of the crate: the [`Family`] trait every family file
//! implements, and the values it exchanges with the model and the training loop.

use burn::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::codebook::VectorQuantizer;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::kernels::engine::Engine;
use crate::model::decoder::Decoder;
use crate::model::latent::DecoderInput;

/// The parameters a family owns beside the encoder and decoder (saved, averaged and
/// restored with them). One variant per kind of parameter set.
#[derive(Module, Debug)]
pub enum FamilyParams {
    /// A codebook of vectors with its EMA statistics (the VQ-VAE's).
    Codebook(VectorQuantizer),
}

/// The codebook among a family's parameters, for a family built with one (the VQ-VAE's,
/// and the dVAE's with logits against a codebook).
pub fn codebook(params: Option<&FamilyParams>) -> &VectorQuantizer {
    match params {
        Some(FamilyParams::Codebook(vq)) => vq,
        None => unreachable!("a model of a family with a codebook is built with it"),
    }
}

/// What a family's training step makes of the encoder's output.
#[derive(Debug, Clone)]
pub struct QuantizerOutput {
    /// The decoder's input `[B, in, h, w]`: (soft) one-hots for the dVAE, vectors otherwise.
    pub z_q: Tensor<4>,
    /// The family's latent loss in its own units, unweighted by the schedule (logged as
    /// `kl`); zero for the AE.
    pub latent_loss: Tensor<1>,
    /// Token ids `[B, h, w]` for the discrete families.
    pub indices: Option<Tensor<3, Int>>,
    /// Where set, a straight-through sample: `z_q` is the soft sample the gradient goes
    /// through, and the decoder looks the drawn codes up in the forward pass.
    pub hard: Option<HardSample>,
    /// Further differentiable terms the family computed with its latent loss, for its
    /// [`Family::latent_term`] (the dVAE's `[per-cell KL, batch-mean KL]`).
    pub regularisers: Option<Tensor<1>>,
}

/// The drawn codes of a straight-through sample.
#[derive(Debug, Clone)]
pub struct HardSample {
    /// Token ids `[B, h, w]`, looked up in the decoder's codebook in the forward pass.
    pub tokens: Tensor<3, Int>,
    /// The codebook's gradient from the soft sample, so that every code with probability
    /// mass learns, not only the one drawn (IBQ's full-softmax update; the dVAE's
    /// `soft_codebook_grad`); otherwise from the drawn codes, as the one-hot's would be.
    pub soft_codebook_grad: bool,
}

/// The encoder's output as a family reads it at inference, from whichever engine ran the
/// encoder: built on demand, so that a family that needs only the argmax never makes the
/// logits.
pub trait Head {
    /// The encoder's output `z_e`, NCHW `[B, E, h, w]`.
    fn z_e(&self) -> Tensor<4>;
    /// `argmax` of `z_e` over its channels `[B, h, w]`, fused with the encoder's last
    /// layer where the engine can.
    fn argmax(&self) -> Tensor<3, Int>;
}

/// What a family's inference makes of an image: its tokens (discrete families) and the
/// decoder's input.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Token ids `[B, h, w]` (discrete families).
    pub tokens: Option<Tensor<3, Int>>,
    /// Entropy of q(z|x) summed over the batch's cells, nats (0 for a point mass).
    pub entropy: f64,
    /// The deterministic decoder input: the tokens' vectors, μ for the VAE, `z_e` for the AE.
    pub input: DecoderInput,
}

/// One training step as a family sees it.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Steps completed before this one.
    pub step: usize,
    /// The engine the layers run on.
    pub engine: Engine,
}

/// A tokenizer family: what sits between encoder and decoder, and everything that differs
/// because of it. A family's options struct implements it; the model, the training loop,
/// scoring, the comparison and the CLI only ever call these methods.
pub trait Family: std::fmt::Debug + Send + Sync {
    /// The command-line and `config.json` name.
    fn name(&self) -> &'static str;
    /// Checks the options; the error names the field and the value.
    fn validate(&self) -> Result<()>;
    /// One line on what these options are, for the comparison table.
    fn describe(&self) -> String;
    /// Checks the options against the backbone (e.g. that FSQ's levels make `vocab_size`
    /// codes); the error names the field and both values.
    fn check_model(&self, _m: &ModelConfig) -> Result<()> {
        Ok(())
    }
    /// Adapts default options to the backbone (e.g. FSQ's levels to `vocab_size`), before
    /// a user's overrides.
    fn fit_model(&mut self, _m: &ModelConfig) {}

    /// Channels of the decoder's input: a `code_dim` vector per cell unless the family says
    /// otherwise.
    fn latent_channels(&self, m: &ModelConfig) -> usize {
        m.code_dim
    }
    /// Channels the encoder outputs: the decoder's input unless the family says otherwise.
    fn encoder_channels(&self, m: &ModelConfig) -> usize {
        self.latent_channels(m)
    }
    /// Codes per cell when the latent is a grid of tokens (`None`: continuous).
    fn vocab(&self, m: &ModelConfig) -> Option<usize>;

    /// The family's own parameters, drawn from `rng` after the encoder's and decoder's.
    fn init(
        &self,
        _m: &ModelConfig,
        _rng: &mut ChaCha8Rng,
        _device: &Device,
    ) -> Option<FamilyParams> {
        None
    }
    /// A change to the freshly drawn decoder (the dVAE's codebook scale); `seed` is the run's.
    fn init_decoder(&self, decoder: Decoder, _seed: u64) -> Decoder {
        decoder
    }

    /// The step's noise (standard Gumbel for the dVAE, standard normal for the VAE; none by
    /// default), drawn from the step's generator before anything else of the step but
    /// [`Family::first_step`].
    fn noise(
        &self,
        _m: &ModelConfig,
        _batch: usize,
        _rng: &mut ChaCha8Rng,
        _device: &Device,
    ) -> Option<Tensor<4>> {
        None
    }
    /// The training quantization of `z_e [B, E, h, w]` (NCHW).
    fn quantize(
        &self,
        s: Step,
        params: Option<&FamilyParams>,
        z_e: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> QuantizerOutput;
    /// The latent part of the loss, per image dimension like the reconstruction term
    /// (`None`: no latent term).
    fn latent_term(
        &self,
        m: &ModelConfig,
        step: usize,
        z_e: &Tensor<4>,
        q: &QuantizerOutput,
    ) -> Option<Tensor<1>>;
    /// (τ, β) at `step`, for the log (NaN where the family has none).
    fn schedule(&self, _step: usize) -> (f64, f64) {
        (f64::NAN, f64::NAN)
    }
    /// Before the first step: e.g. a codebook initialised from the first batch's `z_e`.
    fn first_step(
        &self,
        params: Option<FamilyParams>,
        _z_e: &dyn Fn() -> Tensor<4>,
        _rng: &mut ChaCha8Rng,
    ) -> Option<FamilyParams> {
        params
    }
    /// Whether [`Family::after_step`] needs the batch's tokens every step (not only on logged ones).
    fn tokens_every_step(&self) -> bool {
        false
    }
    /// After the optimizer step: e.g. EMA codebook updates and dead-code restarts, from
    /// the step's `z_e` and tokens (`ids`, raster order).
    fn after_step(
        &self,
        params: Option<FamilyParams>,
        _step: usize,
        _z_e: Tensor<4>,
        _ids: Option<&[u32]>,
        _rng: &mut ChaCha8Rng,
    ) -> Option<FamilyParams> {
        params
    }

    /// The logits of q(z|x) over the codes `[B, K, h, w]`, for a family that has them (the
    /// dVAE's), which [`Tokenizer::logits`](crate::Tokenizer::logits) returns.
    fn logits(&self, _params: Option<&FamilyParams>, _head: &dyn Head) -> Option<Tensor<4>> {
        None
    }
    /// The tokens of an image (`None`: continuous), as cheaply as the family can.
    fn tokens(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Option<Tensor<3, Int>>;
    /// Tokens, entropy and the deterministic decoder input, for scoring and reconstruction.
    fn encode(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Encoded;
    /// The decoder's input for tokens (only called for a family with [`Family::vocab`]).
    fn token_input(
        &self,
        _m: &ModelConfig,
        _params: Option<&FamilyParams>,
        _tokens: Tensor<3, Int>,
    ) -> DecoderInput {
        unreachable!(
            "the {} family has no tokens (its vocab() is None)",
            self.name()
        )
    }
    /// The decoder's input for latents drawn from the family's own prior (`None`: none):
    /// uniformly random tokens for a family with tokens, nothing for one without.
    fn sample_prior(
        &self,
        m: &ModelConfig,
        params: Option<&FamilyParams>,
        n: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Option<DecoderInput> {
        let k = self.vocab(m)?;
        let g = m.grid_size();
        let ids: Vec<i32> = (0..n * g * g)
            .map(|_| rng.random_range(0..k as i32))
            .collect();
        let t = Tensor::<1, Int>::from_ints(ids.as_slice(), device).reshape([n, g, g]);
        Some(self.token_input(m, params, t))
    }

    /// Information per latent cell in bits, given the last logged latent loss.
    fn bits_per_cell(&self, m: &ModelConfig, last_latent_loss: f64) -> f64;
    /// How the family generates without a learned prior, in words.
    fn sampling(&self) -> &'static str;
}
