//! The comparison's models: every row a family offers, and the ones a user picks.

use crate::error::{Error, Result};
use crate::model::family::FamilyConfig;
use crate::run_config::RunConfig;

/// The rows `dvae compare` trains unless `--families` says otherwise: the article's four
/// families (the dVAE at three τ schedules, the VQ-VAE with and without its remedies),
/// FSQ, LFQ, and the VQ-VAE with the field's upgrades.
pub const DEFAULT_ROWS: [&str; 10] = [
    "dvae",
    "dvae-tau1",
    "dvae-tau16",
    "vqvae",
    "vqvae-plain",
    "vqvae-up",
    "fsq",
    "lfq",
    "vae",
    "ae",
];

/// One model of the comparison: a name and its full configuration.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Short name, also the run's folder.
    pub name: String,
    /// What differs from the base configuration, in words.
    pub note: String,
    /// The configuration it trains with.
    pub config: RunConfig,
}

/// Every variant the comparison knows for `base` (whose family is ignored): every
/// registered family's own rows (e.g. the dVAE at its recipe's τ schedule, at a fixed τ = 1
/// and annealed to 1/16; the VQ-VAE with and without its remedies against collapse), each
/// with the options of `base`'s recipe and length, fitted to its backbone.
pub fn variants(base: &RunConfig) -> Result<Vec<Variant>> {
    let mut out = Vec::new();
    for name in FamilyConfig::NAMES {
        let family =
            FamilyConfig::of_model(name, base.train.recipe, base.train.steps, &base.model)?;
        for (name, bottleneck) in family.comparison() {
            out.push(Variant {
                name: name.into(),
                note: bottleneck.family().describe(),
                config: RunConfig {
                    bottleneck,
                    ..base.clone()
                },
            });
        }
    }
    Ok(out)
}

/// The variants named in `names`, in that order: a variant's name (`vqvae-up`) or a
/// family's (`vqvae`: the family's first row).
pub fn select(all: &[Variant], names: &[String]) -> Result<Vec<Variant>> {
    names
        .iter()
        .map(|n| {
            all.iter().find(|v| &v.name == n).cloned().ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|v| v.name.as_str()).collect();
                Error::config(
                    "families",
                    format!("no row {n:?}; rows: {}", known.join(", ")),
                )
            })
        })
        .collect()
}
