//! The deterministic autoencoder: the encoder's output is the decoder's input, a bottleneck
//! of the same size as the other families' with no latent loss and no prior.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::api::{Encoded, Family, FamilyParams, Head, QuantizerOutput, Step};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::model::latent::DecoderInput;

/// The AE has no options.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AeOptions {}

impl AeOptions {
    /// The comparison's variant.
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        vec![("ae", self.clone())]
    }
}

impl Family for AeOptions {
    fn name(&self) -> &'static str {
        "ae"
    }

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "deterministic bottleneck".into()
    }

    fn vocab(&self, _: &ModelConfig) -> Option<usize> {
        None
    }

    fn quantize(
        &self,
        _: Step,
        _: Option<&FamilyParams>,
        z_e: Tensor<4>,
        _: Option<Tensor<4>>,
    ) -> QuantizerOutput {
        let device = z_e.device();
        QuantizerOutput {
            hard: None,
            regularisers: None,
            z_q: z_e,
            latent_loss: Tensor::zeros([1], &device),
            indices: None,
        }
    }

    fn latent_term(
        &self,
        _: &ModelConfig,
        _: usize,
        _: &Tensor<4>,
        _: &QuantizerOutput,
    ) -> Option<Tensor<1>> {
        None
    }

    fn tokens(&self, _: Option<&FamilyParams>, _: &dyn Head) -> Option<Tensor<3, Int>> {
        None
    }

    fn encode(&self, _: Option<&FamilyParams>, head: &dyn Head) -> Encoded {
        Encoded {
            tokens: None,
            entropy: 0.0,
            input: DecoderInput::Dense(head.z_e()),
        }
    }

    /// A float32 per latent dimension.
    fn bits_per_cell(&self, m: &ModelConfig, _: f64) -> f64 {
        32.0 * m.code_dim as f64
    }

    fn sampling(&self) -> &'static str {
        "none (no prior)"
    }
}
