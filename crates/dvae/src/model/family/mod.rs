//! The tokenizer families: what sits between the encoder and the decoder. Each family is
//! one file implementing [`Family`] for its options; this file registers them. Adding a
//! family is a new file, a variant of [`FamilyConfig`] with its arms below, and its flags
//! in the CLI (`ARCHITECTURE.md`).

pub mod ae;
pub mod api;
pub mod code_logits;
pub mod codebook;
pub mod dvae;
pub mod entropy_penalty;
pub mod fsq;
pub mod lfq;
pub mod rotation;
pub mod vae;
pub mod vqvae;

use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, Recipe};
use crate::error::{Error, Result};
use api::Family;

/// A family and its options, as `config.json` holds them:
/// `{"family": "vqvae", "commitment": 0.25, …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum FamilyConfig {
    /// DALL·E's discrete VAE ([`dvae`]).
    Dvae(dvae::DvaeOptions),
    /// VQ-VAE ([`vqvae`]).
    Vqvae(vqvae::VqOptions),
    /// Gaussian VAE ([`vae`]).
    Vae(vae::VaeOptions),
    /// Deterministic autoencoder ([`ae`]).
    Ae(ae::AeOptions),
    /// Finite scalar quantization ([`fsq`]).
    Fsq(fsq::FsqOptions),
    /// Lookup-free quantization, and BSQ with `spherical` ([`lfq`]).
    Lfq(lfq::LfqOptions),
}

impl FamilyConfig {
    /// Every family's name, in the order the comparison lists them.
    pub const NAMES: [&'static str; 6] = ["dvae", "vqvae", "vae", "ae", "fsq", "lfq"];

    /// The family's behaviour.
    pub fn family(&self) -> &dyn Family {
        match self {
            Self::Dvae(o) => o,
            Self::Vqvae(o) => o,
            Self::Vae(o) => o,
            Self::Ae(o) => o,
            Self::Fsq(o) => o,
            Self::Lfq(o) => o,
        }
    }

    fn family_mut(&mut self) -> &mut dyn Family {
        match self {
            Self::Dvae(o) => o,
            Self::Vqvae(o) => o,
            Self::Vae(o) => o,
            Self::Ae(o) => o,
            Self::Fsq(o) => o,
            Self::Lfq(o) => o,
        }
    }

    /// The family called `name` with the options of `recipe` for a run of `steps` steps.
    pub fn of(name: &str, recipe: Recipe, steps: usize) -> Result<Self> {
        Ok(match name {
            "dvae" => Self::Dvae(dvae::DvaeOptions::recipe(recipe, steps)),
            "vqvae" => Self::Vqvae(vqvae::VqOptions::default()),
            "vae" => Self::Vae(vae::VaeOptions::for_steps(steps)),
            "ae" => Self::Ae(ae::AeOptions::default()),
            "fsq" => Self::Fsq(fsq::FsqOptions::default()),
            "lfq" => Self::Lfq(lfq::LfqOptions::default()),
            other => {
                return Err(Error::config(
                    "family",
                    format!("expected {}, got {other:?}", Self::NAMES.join(", ")),
                ));
            }
        })
    }

    /// [`FamilyConfig::of`], with its defaults fitted to the backbone `m` (e.g. FSQ's
    /// levels to `vocab_size`).
    pub fn of_model(name: &str, recipe: Recipe, steps: usize, m: &ModelConfig) -> Result<Self> {
        let mut f = Self::of(name, recipe, steps)?;
        f.family_mut().fit_model(m);
        Ok(f)
    }

    /// The comparison's rows of this family, derived from these options: (name, options).
    pub fn comparison(&self) -> Vec<(&'static str, Self)> {
        fn wrap<T>(
            v: Vec<(&'static str, T)>,
            f: fn(T) -> FamilyConfig,
        ) -> Vec<(&'static str, FamilyConfig)> {
            v.into_iter().map(|(n, o)| (n, f(o))).collect()
        }
        match self {
            Self::Dvae(o) => wrap(o.comparison(), Self::Dvae),
            Self::Vqvae(o) => wrap(o.comparison(), Self::Vqvae),
            Self::Vae(o) => wrap(o.comparison(), Self::Vae),
            Self::Ae(o) => wrap(o.comparison(), Self::Ae),
            Self::Fsq(o) => wrap(o.comparison(), Self::Fsq),
            Self::Lfq(o) => wrap(o.comparison(), Self::Lfq),
        }
    }

    /// The command-line and `config.json` name.
    pub fn name(&self) -> &'static str {
        self.family().name()
    }
}

/// Whether `family` takes an option owned by `owner`: a family's name, or several joined
/// by `|` ([`entropy_penalty::FAMILIES`]); the CLI's flags and Python's keywords ask it.
pub fn owns(owner: &str, family: &str) -> bool {
    owner.split('|').any(|o| o == family)
}

impl std::fmt::Display for FamilyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
