//! DALL·E's discrete VAE (Ramesh et al. 2021): K logits per cell, a Gumbel-softmax sample
//! at an annealed temperature τ in training (straight-through with `hard`), the argmax at
//! inference, the decoder's 1×1 input convolution as the codebook, and KL(q(z|x) ‖ uniform)
//! weighted by a warmed-up β.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::api::{
    Encoded, Family, FamilyParams, HardSample, Head, QuantizerOutput, Step, codebook,
};
use super::code_logits;
pub use super::code_logits::CodeLogits;
use crate::config::check::{non_negative, positive};
use crate::config::{ModelConfig, Recipe};
use crate::error::Result;
use crate::model::decoder::Decoder;
use crate::model::gumbel;
use crate::model::latent::DecoderInput;
use crate::schedule::{self, BetaSchedule, TauSchedule};

/// The dVAE's options: its temperature and KL schedules and the Gumbel sampler's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DvaeOptions {
    /// Initial Gumbel-softmax temperature.
    pub tau_start: f64,
    /// Final Gumbel-softmax temperature.
    pub tau_end: f64,
    /// Shape of the τ annealing.
    pub tau_schedule: TauSchedule,
    /// Steps over which τ is annealed (then held at `tau_end`).
    pub tau_steps: usize,
    /// Final KL weight β.
    pub kl_weight: f64,
    /// Shape of the β warm-up.
    pub beta_schedule: BetaSchedule,
    /// Steps of the β warm-up.
    pub beta_steps: usize,
    /// Weight of the codebook-diversity term: KL of the batch-mean q(z|x) to uniform
    /// (see `loss::marginal_kl_to_uniform`), added as is to the per-dimension loss.
    #[serde(default)]
    pub diversity_weight: f64,
    /// Weight of the mean per-cell entropy of q(z|x) (`ln K − KL(q ‖ uniform)`), added as
    /// is: with the diversity term, LFQ's entropy penalty on the dVAE's own distribution —
    /// each cell confident, the batch spread over every code.
    #[serde(default)]
    pub cell_entropy_weight: f64,
    /// Straight-through hard Gumbel-softmax (one-hot forward, soft gradient).
    pub hard: bool,
    /// Scale of the Gumbel noise in training (1: the Gumbel-softmax; 0: no noise, so the
    /// hard forward is the inference argmax).
    #[serde(default = "one")]
    pub gumbel_scale: f64,
    /// Standard deviation of the codebook's initial values (none: DALL·E's
    /// 1/sqrt(vocab_size)).
    pub codebook_std: Option<f64>,
    /// Factor on the logits at the end of the τ schedule, reached from 1 with τ's shape
    /// over `tau_steps`: the sampler and every regulariser see `a·logits`, so
    /// q(z|x) = softmax(a·logits) is both what is drawn and what is regularised, and grows
    /// sure as `a` grows (the argmax is the same for every `a`).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub logit_scale_end: f64,
    /// With `hard`: the codebook's gradient is the soft sample's, so every code with
    /// probability mass learns, not only the one drawn (IBQ's full-softmax update); the
    /// forward pass and the logits' gradient are the straight-through estimator's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft_codebook_grad: bool,
    /// Where the logits come from: the encoder's K-channel head (DALL·E's), or a
    /// `code_dim` vector per cell against a codebook the decoder shares (see [`CodeLogits`]).
    #[serde(default, skip_serializing_if = "CodeLogits::is_head")]
    pub logits: CodeLogits,
}

fn one() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl DvaeOptions {
    /// The options of `recipe` for a run of `steps` steps.
    pub fn recipe(recipe: Recipe, steps: usize) -> Self {
        let dalle = Self {
            tau_start: 1.0,
            tau_end: 1.0 / 16.0,
            tau_schedule: TauSchedule::Cosine,
            tau_steps: steps,
            kl_weight: 6.6,
            beta_schedule: BetaSchedule::Cosine,
            beta_steps: (steps / 10).max(1),
            diversity_weight: 0.0,
            cell_entropy_weight: 0.0,
            hard: false,
            gumbel_scale: 1.0,
            codebook_std: None,
            logit_scale_end: 1.0,
            soft_codebook_grad: false,
            logits: CodeLogits::Head,
        };
        match recipe {
            Recipe::Dalle => dalle,
            // See the README's "Recipes" for the runs behind each choice.
            // Every regulariser is on q = softmax(a·logits), the distribution the
            // unscaled Gumbel noise samples from: the batch-mean q spread over the codes
            // (diversity) and each cell's q confident (cell entropy), LFQ's penalty; `a`
            // grows from 1 to 10 with τ's schedule, so q grows sure and the training draw
            // becomes the inference argmax. The logits are −‖z − cₖ‖²/√D against the
            // codebook the decoder takes, so the codes a draw may take instead of the
            // argmax are the ones near it.
            Recipe::Default => Self {
                hard: true,
                tau_start: 1.0,
                tau_end: 0.5,
                gumbel_scale: 1.0,
                kl_weight: 0.0,
                beta_schedule: BetaSchedule::Fixed,
                diversity_weight: 1.0,
                cell_entropy_weight: 0.1,
                codebook_std: Some(1.0),
                logit_scale_end: 10.0,
                logits: CodeLogits::Distance,
                ..dalle
            },
        }
    }

    /// The comparison's variants: τ as the recipe anneals it, fixed at 1, and annealed
    /// exponentially to 1/16; and the logits from each other source (the encoder's head,
    /// dot products or distances against a codebook).
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        vec![
            ("dvae", self.clone()),
            (
                "dvae-tau1",
                Self {
                    tau_start: 1.0,
                    tau_end: 1.0,
                    ..self.clone()
                },
            ),
            (
                "dvae-tau16",
                Self {
                    tau_start: 1.0,
                    tau_end: 1.0 / 16.0,
                    tau_schedule: TauSchedule::Exponential,
                    ..self.clone()
                },
            ),
        ]
        .into_iter()
        .chain(
            [
                ("dvae-head", CodeLogits::Head),
                ("dvae-dot", CodeLogits::Dot),
                ("dvae-distance", CodeLogits::Distance),
            ]
            .into_iter()
            .filter(|&(_, kind)| kind != self.logits)
            .map(|(name, logits)| {
                let o = Self {
                    logits,
                    soft_codebook_grad: false,
                    ..self.clone()
                };
                (name, o)
            }),
        )
        .collect()
    }

    /// Gumbel-softmax temperature at `step`.
    pub fn tau(&self, step: usize) -> f64 {
        schedule::tau(
            self.tau_schedule,
            [self.tau_start, self.tau_end],
            self.tau_steps,
            step,
        )
    }

    /// The factor `a` on the logits at `step` (see `logit_scale_end`).
    pub fn logit_scale(&self, step: usize) -> f64 {
        if self.logit_scale_end == 1.0 {
            return 1.0;
        }
        schedule::tau(
            self.tau_schedule,
            [1.0, self.logit_scale_end],
            self.tau_steps,
            step,
        )
    }

    /// The logits the sampler and the regularisers see at `step`: `a·logits`.
    fn scaled(&self, step: usize, logits: Tensor<4>) -> Tensor<4> {
        let a = self.logit_scale(step);
        if a == 1.0 { logits } else { logits * a }
    }

    /// Whether the logits are computed against a codebook of the family's own.
    fn tied(&self) -> bool {
        !self.logits.is_head()
    }

    /// KL weight β at `step`.
    pub fn beta(&self, step: usize) -> f64 {
        schedule::beta(self.beta_schedule, self.kl_weight, self.beta_steps, step)
    }
}

impl Family for DvaeOptions {
    fn name(&self) -> &'static str {
        "dvae"
    }

    fn validate(&self) -> Result<()> {
        positive("tau_start", self.tau_start)?;
        positive("tau_end", self.tau_end)?;
        non_negative("gumbel_scale", self.gumbel_scale)?;
        non_negative("diversity_weight", self.diversity_weight)?;
        non_negative("cell_entropy_weight", self.cell_entropy_weight)?;
        non_negative("kl_weight", self.kl_weight)?;
        positive("logit_scale_end", self.logit_scale_end)?;
        if self.soft_codebook_grad && !self.hard {
            return Err(crate::error::Error::config(
                "soft_codebook_grad",
                "needs hard = true: the soft sample is the decoder's input already",
            ));
        }
        if self.soft_codebook_grad && self.tied() {
            return Err(crate::error::Error::config(
                "soft_codebook_grad",
                format!(
                    "is for logits = head; with logits = {} the codebook learns from the \
                     drawn codes and from the logits",
                    self.logits
                ),
            ));
        }
        if let Some(c) = self.codebook_std {
            positive("codebook_std", c)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let tau = if self.tau_start == self.tau_end {
            format!("τ fixed at {}", self.tau_start)
        } else {
            let shape = self.tau_schedule.name();
            format!("τ {} → {} ({shape})", self.tau_start, self.tau_end)
        };
        let tau = if self.logit_scale_end == 1.0 {
            tau
        } else {
            format!("{tau}, logit scale 1 → {}", self.logit_scale_end)
        };
        if self.tied() {
            format!("{tau}, logits {} against the codebook", self.logits)
        } else {
            tau
        }
    }

    /// K one-hot channels (the decoder's input weight is the codebook), or the codes'
    /// `code_dim` vectors.
    fn latent_channels(&self, m: &ModelConfig) -> usize {
        if self.tied() {
            m.code_dim
        } else {
            m.vocab_size
        }
    }

    /// The codebook the logits are computed against, for logits = dot or distance.
    fn init(&self, m: &ModelConfig, rng: &mut ChaCha8Rng, device: &Device) -> Option<FamilyParams> {
        self.tied()
            .then(|| code_logits::init_codebook(m, self.codebook_std, rng, device))
    }

    fn vocab(&self, m: &ModelConfig) -> Option<usize> {
        Some(m.vocab_size)
    }

    /// The codebook (the decoder's input weight) redrawn from N(0, codebook_std²).
    fn init_decoder(&self, decoder: Decoder, seed: u64) -> Decoder {
        match self.codebook_std {
            Some(std) if !self.tied() => decoder.with_codebook_std(std, seed),
            _ => decoder,
        }
    }

    /// Standard Gumbel noise `[B, K, h, w]`, scaled by `gumbel_scale`.
    fn noise(
        &self,
        m: &ModelConfig,
        batch: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Option<Tensor<4>> {
        let g = m.grid_size();
        let noise = gumbel::gumbel_noise([batch, m.vocab_size, g, g], rng, device);
        Some(if self.gumbel_scale == 1.0 {
            noise
        } else {
            noise * self.gumbel_scale
        })
    }

    /// Latent loss: the mean per-cell KL(q ‖ uniform), nats, computed with the batch-mean
    /// q's KL in one pass (both of `q = softmax(a·logits)`).
    fn quantize(
        &self,
        s: Step,
        params: Option<&FamilyParams>,
        z_e: Tensor<4>,
        noise: Option<Tensor<4>>,
    ) -> QuantizerOutput {
        let a = self.logit_scale(s.step);
        let marginal = self.diversity_weight > 0.0;
        let logits = self.logits.of(params, z_e, false);
        let regularisers = crate::loss::dvae_regularisers(s.engine, logits.clone(), a, marginal);
        let latent_loss = regularisers.clone().narrow(0, 0, 1);
        // The argmax of a·logits is the logits' own (a > 0).
        let indices = Some(gumbel::argmax_tokens(logits.clone()));
        let noise = noise.expect("the dVAE draws Gumbel noise every step");
        let soft =
            gumbel::gumbel_softmax_scaled(s.engine, logits, noise, [a, self.tau(s.step)], false);
        if self.tied() {
            let z_q = code_logits::decoder_input(codebook(params), soft, self.hard);
            return QuantizerOutput {
                z_q,
                latent_loss,
                indices,
                hard: None,
                regularisers: Some(regularisers),
            };
        }
        // Straight-through: the decoder looks the drawn codes up, the gradient goes
        // through the soft sample.
        let hard = self.hard.then(|| HardSample {
            tokens: gumbel::argmax_tokens(soft.clone()),
            soft_codebook_grad: self.soft_codebook_grad,
        });
        QuantizerOutput {
            z_q: soft,
            latent_loss,
            indices,
            hard,
            regularisers: Some(regularisers),
        }
    }

    /// `β·KL·cells/dims`, plus the diversity and per-cell entropy terms.
    fn latent_term(
        &self,
        m: &ModelConfig,
        step: usize,
        _: &Tensor<4>,
        q: &QuantizerOutput,
    ) -> Option<Tensor<1>> {
        let g = m.grid_size();
        let cells = (g * g) as f64;
        let dims = (m.input_channels * m.image_size * m.image_size) as f64;
        let mut t = q.latent_loss.clone() * (self.beta(step) * cells / dims);
        if self.diversity_weight > 0.0 {
            let pair = q
                .regularisers
                .clone()
                .expect("the dVAE's quantize computes both");
            t = t + pair.narrow(0, 1, 1) * self.diversity_weight;
        }
        if self.cell_entropy_weight > 0.0 {
            let ln_k = (m.vocab_size as f64).ln();
            t = t + (q.latent_loss.clone().neg() + ln_k) * self.cell_entropy_weight;
        }
        Some(t)
    }

    fn schedule(&self, step: usize) -> (f64, f64) {
        (self.tau(step), self.beta(step))
    }

    fn logits(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Option<Tensor<4>> {
        Some(self.logits.of(params, head.z_e(), true))
    }

    /// The argmax per cell, fused with the encoder's last layer where the engine can.
    fn tokens(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Option<Tensor<3, Int>> {
        if self.tied() {
            return Some(gumbel::argmax_tokens(self.logits.of(
                params,
                head.z_e(),
                false,
            )));
        }
        Some(head.argmax())
    }

    /// The argmax, and the entropy of q(z|x) = softmax(a·logits), `a` at the end of
    /// training.
    fn encode(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Encoded {
        let logits = self.logits.of(params, head.z_e(), false);
        let log_q = log_softmax(self.scaled(usize::MAX, logits.clone()), 1);
        let entropy = (log_q.clone().exp() * log_q).sum().neg();
        let tokens = gumbel::argmax_tokens(logits);
        Encoded {
            input: self.logits.token_input(params, tokens.clone()),
            tokens: Some(tokens),
            entropy: entropy.into_scalar::<f32>() as f64,
        }
    }

    fn token_input(
        &self,
        _: &ModelConfig,
        params: Option<&FamilyParams>,
        tokens: Tensor<3, Int>,
    ) -> DecoderInput {
        self.logits.token_input(params, tokens)
    }

    fn bits_per_cell(&self, m: &ModelConfig, _: f64) -> f64 {
        (m.vocab_size as f64).log2()
    }

    fn sampling(&self) -> &'static str {
        "uniform tokens (needs a prior)"
    }
}
