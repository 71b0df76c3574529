//! VQ-VAE (van den Oord et al. 2017): each cell takes its nearest codebook vector, the
//! gradient passes straight through, and codebook and commitment losses (or an EMA of the
//! encoder outputs) move the codes; k-means initialisation and dead-code restarts keep the
//! codebook in use.

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::api::{Encoded, Family, FamilyParams, Head, QuantizerOutput, Step, codebook};
use super::codebook::{VectorQuantizer, compared_rows, nearest};
use super::entropy_penalty::EntropyPenalty;
use super::rotation::rotate_to;
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
    /// ViT-VQGAN's factorised codes: look codes up in this many dimensions, l2-normalised
    /// (the encoder's last layer projects to them and the decoder's first projects back).
    pub lookup_dim: Option<usize>,
    /// The rotation trick instead of the straight-through gradient (`family::rotation`).
    pub rotation_trick: bool,
    /// SimVQ: a frozen random codebook through one learned linear map, trained by the
    /// codebook loss (no EMA, k-means or restarts).
    pub simvq: bool,
    /// Weight of MAGVIT-v2's entropy penalty over `softmax(−inv_temperature·‖z − e‖²)`
    /// (0: off; `family::entropy_penalty`).
    pub entropy_weight: f64,
    /// γ: weight of the batch's code entropy against the per-cell entropy.
    pub diversity_gamma: f64,
    /// Inverse temperature of the penalty's distribution over codes.
    pub inv_temperature: f64,
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
            lookup_dim: None,
            rotation_trick: false,
            simvq: false,
            entropy_weight: 0.0,
            diversity_gamma: 1.0,
            inv_temperature: 10.0,
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

    /// SimVQ with the rotation trick, as its authors train it.
    pub fn simvq() -> Self {
        Self {
            simvq: true,
            rotation_trick: true,
            ..Self::plain()
        }
    }

    /// The upgrades together: factorised l2-normalised 8-dimensional lookup and the
    /// rotation trick, with the remedies.
    pub fn upgraded() -> Self {
        Self {
            lookup_dim: Some(8),
            rotation_trick: true,
            ..Self::default()
        }
    }

    /// The comparison's variants: with the remedies, plain, and the upgrades.
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        vec![
            ("vqvae", Self::default()),
            ("vqvae-plain", Self::plain()),
            (
                "vqvae-lookup8",
                Self {
                    lookup_dim: Some(8),
                    ..Self::default()
                },
            ),
            (
                "vqvae-rotation",
                Self {
                    rotation_trick: true,
                    ..Self::default()
                },
            ),
            ("vqvae-up", Self::upgraded()),
            ("simvq", Self::simvq()),
        ]
    }

    /// The entropy penalty's weights.
    fn penalty(&self) -> EntropyPenalty {
        EntropyPenalty {
            weight: self.entropy_weight,
            gamma: self.diversity_gamma,
            inv_temperature: self.inv_temperature,
        }
    }

    /// Whether vectors are l2-normalised before they are compared (always with a lookup
    /// dimension).
    fn cos(&self) -> bool {
        self.cosine || self.lookup_dim.is_some()
    }

    /// The anti-collapse remedies, in words.
    fn describe_remedies(&self) -> String {
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
        self.penalty().validate()?;
        if let Some(d) = self.lookup_dim {
            crate::config::check::at_least_one("lookup_dim", d)?;
        }
        if self.simvq && (self.ema || self.kmeans_init || self.restart_after.is_some()) {
            return Err(crate::error::Error::config(
                "simvq",
                "SimVQ learns its codes through a linear map by the codebook loss: it takes \
                 no EMA, k-means initialisation or restarts (set ema and kmeans_init false, \
                 restart_after null)",
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut extra = String::new();
        if let Some(d) = self.lookup_dim {
            extra.push_str(&format!(", l2 lookup in {d} dims"));
        }
        if self.rotation_trick {
            extra.push_str(", rotation trick");
        }
        if self.simvq {
            return format!("SimVQ: frozen codebook through a learned map{extra}");
        }
        extra.push_str(&self.penalty().describe());
        let base = self.describe_remedies();
        format!("{base}{extra}")
    }

    fn latent_channels(&self, m: &ModelConfig) -> usize {
        self.lookup_dim.unwrap_or(m.code_dim)
    }

    fn vocab(&self, m: &ModelConfig) -> Option<usize> {
        Some(m.vocab_size)
    }

    fn init(&self, m: &ModelConfig, rng: &mut ChaCha8Rng, device: &Device) -> Option<FamilyParams> {
        let (k, d) = (m.vocab_size, self.latent_channels(m));
        Some(FamilyParams::Codebook(if self.simvq {
            VectorQuantizer::simvq(k, d, rng, device)
        } else {
            VectorQuantizer::new(k, d, rng, device)
        }))
    }

    /// Latent loss: `‖sg[z_e] − e‖²` (omitted when the codebook follows an EMA)
    /// `+ commitment·‖z_e − sg[e]‖²`, each a mean over elements, `+` the entropy penalty
    /// when it is on.
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
        let z = compared_rows(z_e, self.cos());
        let mut codes = vq.codes(self.cos());
        if self.ema {
            codes = codes.detach();
        }
        let idx = nearest(z.clone().detach(), codes.clone().detach());
        let e = codes.clone().select(0, idx.clone());
        let commit = (z.clone() - e.clone().detach()).powi_scalar(2).mean();
        let mut latent_loss = if self.ema {
            commit * self.commitment
        } else {
            (z.clone().detach() - e.clone()).powi_scalar(2).mean() + commit * self.commitment
        };
        let penalty = self.penalty();
        if penalty.is_on() {
            latent_loss = latent_loss + penalty.loss(&penalty.of_distances(z.clone(), codes));
        }
        let z_q = if self.rotation_trick {
            rotate_to(z, e)
        } else {
            z.clone() + (e - z).detach()
        };
        QuantizerOutput {
            hard: None,
            regularisers: None,
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
        let z = host_rows(z_e().detach(), self.cos());
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
        if !self.ema && self.restart_after.is_none() {
            return params;
        }
        let z = host_rows(z_e.detach(), self.cos());
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
        Some(codebook(params).tokens(head.z_e(), self.cos()))
    }

    /// The nearest code; a VQ-VAE's posterior is a point mass (entropy 0).
    fn encode(&self, params: Option<&FamilyParams>, head: &dyn Head) -> Encoded {
        let tokens = codebook(params).tokens(head.z_e(), self.cos());
        Encoded {
            input: DecoderInput::Dense(codebook(params).embed(tokens.clone(), self.cos())),
            tokens: Some(tokens),
            entropy: 0.0,
        }
    }

    fn token_input(
        &self,
        _: &ModelConfig,
        params: Option<&FamilyParams>,
        tokens: Tensor<3, Int>,
    ) -> DecoderInput {
        DecoderInput::Dense(codebook(params).embed(tokens, self.cos()))
    }

    fn bits_per_cell(&self, m: &ModelConfig, _: f64) -> f64 {
        (m.vocab_size as f64).log2()
    }

    fn sampling(&self) -> &'static str {
        "uniform tokens (needs a prior)"
    }
}
