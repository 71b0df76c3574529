//! The article's comparison as a measurement: the families (the dVAE at several τ
//! schedules, the VQ-VAE with and without its anti-collapse remedies and with the field's
//! upgrades, FSQ, LFQ and BSQ, the VAE and the AE) trained on the same backbone, data,
//! budget and seed, then scored side by side on the same held-out images.

mod images;
mod markdown;
mod row;
mod variant;

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;

use crate::artifact::RunDir;
use crate::data::{ImageSet, Split};
use crate::error::{Error, Result};
use crate::pipeline::Tokenizer;
use crate::train::{self, Event, TrainOptions};
pub use markdown::markdown;
pub use row::{Comparison, Row};
use row::{Trained, row, tail_mean};
pub use variant::{DEFAULT_ROWS, Variant, select, variants};

/// Where the rows are scored: a separate set (held out by photo), or the training data's
/// held-out split.
pub enum Scoring<'a> {
    /// Every image of this set, named for the table.
    Separate(&'a ImageSet, String),
    /// The held-out split of the training data (`train.holdout`).
    Holdout,
}

/// Trains every variant into `out/<name>/`, scores it, writes each one's sample grid and
/// the named side-by-side reconstructions `out/recon.png`, and returns the table.
/// `progress` hears each variant's name as it starts and every training event.
pub fn run(
    variants: &[Variant],
    data: &ImageSet,
    scoring: &Scoring,
    out: &Path,
    device: &Device,
    mut progress: impl FnMut(&str, &Event),
) -> Result<Comparison> {
    let first = variants
        .first()
        .ok_or_else(|| Error::config("variants", "nothing to compare"))?;
    let mut trained = Vec::new();
    for v in variants {
        let run = RunDir::new(out.join(&v.name));
        if run.root.exists() {
            std::fs::remove_dir_all(&run.root).map_err(|e| Error::io(&run.root, e))?;
        }
        let mut logs = Vec::new();
        let start = Instant::now();
        let summary = train::train(
            &run,
            &v.config,
            data,
            device,
            &TrainOptions::default(),
            |e| {
                if let Event::Step(s) = &e {
                    logs.push((*s).clone());
                }
                progress(&v.name, &e);
            },
        )?;
        let wall_s = start.elapsed().as_secs_f64();
        let report = match scoring {
            Scoring::Separate(set, _) => {
                let all: Vec<usize> = (0..set.len()).collect();
                Tokenizer::load_on(&run.root, device)?
                    .evaluate(set, &all, 32)?
                    .1
            }
            Scoring::Holdout => summary
                .eval
                .ok_or_else(|| Error::run(&run.root, "training produced no evaluation"))?,
        };
        images::write_samples(&run, device)?;
        trained.push(Trained {
            variant: v.clone(),
            logs,
            report,
            wall_s,
        });
    }
    let (sheet_set, pool) = match scoring {
        Scoring::Separate(set, _) => (*set, (0..set.len()).collect::<Vec<_>>()),
        Scoring::Holdout => {
            let split = Split::new(data.len(), first.config.train.holdout);
            let pool = if split.holdout.is_empty() {
                split.train
            } else {
                split.holdout
            };
            (data, pool)
        }
    };
    images::write_side_by_side(&trained, sheet_set, &pool[..pool.len().min(8)], out, device)?;
    let finals: Vec<f64> = trained.iter().map(|t| tail_mean(&t.logs)).collect();
    let target = finals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let rows = trained
        .iter()
        .zip(&finals)
        .map(|(t, &fin)| row(t, target, fin))
        .collect();
    Ok(Comparison {
        steps: first.config.train.steps,
        batch: first.config.train.batch,
        seed: first.config.train.seed,
        data: first.config.data.clone(),
        eval_data: match scoring {
            Scoring::Separate(_, name) => name.clone(),
            Scoring::Holdout => format!("{} (held-out split)", first.config.data),
        },
        target_recon: target,
        rows,
    })
}
