//! VQ-VAE (van den Oord et al. 2017): each cell takes its nearest codebook vector, the
//! gradient passes straight through, and codebook and commitment losses (or an EMA of the
//! encoder outputs) move the codes; k-means initialisation and dead-code restarts keep the
//! codebook in use.

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::api::{Encoded, Family, FamilyParams, Head, QuantizerOutput, Step};
use super::codebook::{VectorQuantizer, compared_rows, nearest};
use crate::config::ModelConfig;
use crate::config::check::{non_negative, positive, unit};
use crate::error::Result;
use crate::kernels::host::float_values;
use crate::model::latent::DecoderInput;

/// The VQ-VAE's options; the defaults switch on the field's remedies against collapse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VqOptions {
    /// Commitment weight β of `‖z_e − sg[e]‖²`.
    pub commitment: f64,
    /// Update the codebook by EMA instead of the codebook loss.
    pub ema: bool,
    /// Decay γ of the EMA codebook.
    pub decay: f64,
    /// Laplace smoothing ε of the EMA counts.
    pub epsilon: f64,
    /// Initialise the codebook by k-means on the first batch's encoder outputs.
    pub kmeans_init: bool,
    /// Re-seed codes unused for this many steps from encoder outputs (none: never).
    pub restart_after: Option<usize>,
    /// Compare l2-normalised vectors (cosine similarity) instead of raw ones.
    pub cosine: bool,
}

impl Default for VqOptions {
    fn default() -> Self {
        Self {
            commitment: 0.25,
            ema: true,
            decay: 0.99,
            epsilon: 1e-5,
            kmeans_init: true,
            restart_after: Some(50),
            cosine: false,
        }
    }
}

impl VqOptions {
    /// The plain VQ-VAE of the paper: codebook loss, random init, no restarts.
    pub fn plain() -> Self {
        Self {
            ema: false,
            kmeans_init: false,
            restart_after: None,
            ..Self::default()
        }
    }

    /// The comparison's variants: with the remedies, and plain.
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        vec![("vqvae", Self::default()), ("vqvae-plain", Self::plain())]
    }
}

/// The codebook among a VQ-VAE's parameters (every VQ-VAE model has one).
fn codebook(params: Option<&FamilyParams>) -> &VectorQuantizer {
    match params {
        Some(FamilyParams::Codebook(vq)) => vq,
        None => unreachable!("a vqvae model is built with its codebook"),
    }
}

/// Encoder outputs of a batch as host rows `[N, D]`, l2-normalised for a cosine codebook.
fn host_rows(z_e: Tensor<4>, cosine: bool) -> Vec<f32> {
    float_values(compared_rows(z_e, cosine))
}

impl Family for VqOptions {
    fn name(&self) -> &'static str {
        "vqvae"
    }

    fn validate(&self) -> Result<()> {
        positive("epsilon", self.epsilon)?;
        non_negative("commitment", self.commitment)?;
        unit("decay", self.decay)?;
        Ok(())
    }

    fn describe(&self) -> String {
        if self.ema && self.kmeans_init && self.restart_after.is_some() {
            "EMA codebook, k-means init, dead-code restart".into()
        } else if !self.ema && !self.kmeans_init && self.restart_after.is_none() {
            "codebook loss, random init, no restart".into()
        } else {
            format!(
                "{} codebook, {} init, restart after {:?}",
                if self.ema { "EMA" } else { "loss-trained" },
                if self.kmeans_init {
                    "k-means"
                } else {
                    "random"
                },
                self.restart_after
            )
        }
    }

    fn vocab(&self, m: &ModelConfig) -> Option<usize> {
        Some(m.vocab_size)
    }

    fn init(&self, m: &ModelConfig, rng: &mut ChaCha8Rng, device: &Device) -> Option<FamilyParams> {
        Some(FamilyParams::Codebook(VectorQuantizer::new(
            m.vocab_size,
            m.code_dim,
            rng,
            device,
        )))
    }

    /// Latent loss: `‖sg[z_e] − e‖²` (omitted when the codebook follows an EMA)
    /// `+ commitment·‖z_e − sg[e]‖²`, each a mean over elements.
    ///
    /// # Shapes
    /// `z_e [B, D, h, w]` → `z_q [B, D, h, w]`, indices `[B, h, w]`
    fn quantize(
        &self,
        _: Step,
        params: Option<&FamilyParams>,
        z_e: Tensor<4>,
        _: Option<Tensor<4>>,
    ) -> QuantizerOutput {
        let vq = codebook(params);
        let [b, d, h, w] = z_e.dims();
        let z = compared_rows(z_e, self.cosine);
        let mut codes = vq.codes(self.cosine);
        if self.ema {
            codes = codes.detach();
        }
        let idx = nearest(z.clone().detach(), codes.clone().detach());
        let e = codes.select(0, idx.clone());
        let commit = (z.clone() - e.clone().detach()).powi_scalar(2).mean();
        let latent_loss = if self.ema {
            commit * self.commitment
        } else {
            (z.clone().detach() - e.clone()).powi_scalar(2).mean() + commit * self.commitment
        };
        let z_q = z.clone() + (e - z).detach();
        QuantizerOutput {
            z_q: z_q.reshape([b, h, w, d]).permute([0, 3, 1, 2]),
            latent_loss,
            indices: Some(idx.reshape([b, h, w])),
        }
    }

    fn latent_term(
        &self,
        _: &ModelConfig,
        _: usize,
        _: &Tensor<4>,
        q: &QuantizerOutput,
    ) -> Option<Tensor<1>> {
        Some(q.latent_loss.clone())
    }

    fn schedule(&self, _: usize) -> (f64, f64) {
        (f64::NAN, self.commitment)
    }

    /// k-means initialisation of the codebook from the first batch's encoder outputs.
    fn first_step(
        &self,
        params: Option<FamilyParams>,
        z_e: &dyn Fn() -> Tensor<4>,
        rng: &mut ChaCha8Rng,
    ) -> Option<FamilyParams> {
        if !self.kmeans_init {
            return params;
        }
        let vq = codebook(params.as_ref());
        let z = host_rows(z_e().detach(), self.cosine);
        let mut host = vq.to_host();
        host.kmeans_init(&z, 10, rng, &Device::flex());
        params.map(|FamilyParams::Codebook(q)| FamilyParams::Codebook(q.set_host(&host)))
    }

    fn tokens_every_step(&self) -> bool {
        true
    }

    /// Codes chosen at `step` are marked used, the EMA codebook moves toward their encoder
    /// outputs, and codes unused for `restart_after` steps are re-seeded.
    fn after_step(
        &self,
        params: Option<FamilyParams>,
        step: usize,
        z_e: Tensor<4>,
        ids: Option<&[u32]>,
        rng: &mut ChaCha8Rng,
    ) -> Option<FamilyParams> {
        let Some(ids) = ids else {
            return params;
        };
        let z = host_rows(z_e.detach(), self.cosine);
        let mut host = codebook(params.as_ref()).to_host();
        host.mark_used(ids, step);
        if self.ema {
            host.ema_update(&z, ids, self.decay as f32, self.epsilon as f32);
        }
        if let Some(after) = self.restart_after {
            host.restart_dead(&z, step, after, rng);
        }
        params.map(|FamilyParams::Codebook(q)| FamilyParams::Codebook(q.set_host(&host)))
    }

    fn tokens(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Option<Tensor<3, Int>> {
        Some(codebook(params).tokens(head.z_e(), self.cosine))
    }

    /// The nearest code; a VQ-VAE's posterior is a point mass (entropy 0).
    fn encode(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Encoded {
        let tokens = codebook(params).tokens(head.z_e(), self.cosine);
        Encoded {
            input: self.token_input(params, tokens.clone()),
            tokens: Some(tokens),
            entropy: 0.0,
        }
    }

    fn token_input(&self, params: Option<&FamilyParams>, tokens: Tensor<3, Int>) -> DecoderInput {
        DecoderInput::Dense(codebook(params).embed(tokens, self.cosine))
    }

    fn bits_per_cell(&self, m: &ModelConfig, _: f64) -> f64 {
        (m.vocab_size as f64).log2()
    }

    fn sampling(&self) -> &'static str {
        "uniform tokens (needs a prior)"
    }
}
