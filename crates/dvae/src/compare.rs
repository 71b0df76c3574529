//! The article's comparison as a measurement: the four families (and the dVAE at several
//! τ schedules, the VQ-VAE with and without its anti-collapse remedies) trained on the same
//! backbone, data, budget and seed, then scored side by side.

use std::path::Path;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::artifact::RunDir;
use crate::data::{ImageSet, Split};
use crate::error::{Error, Result};
use crate::kernels::host::float_values;
use crate::model::family::FamilyConfig;
use crate::model::pixels::output_to_pixels;
use crate::pipeline::Tokenizer;
use crate::run_config::RunConfig;
use crate::train::{self, Event, StepLog, TrainOptions};
use crate::{data::image_io::save_png, grid};

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

/// The comparison's variants of `base` (whose family is ignored): every registered
/// family's own rows (e.g. the dVAE at its recipe's τ schedule, at a fixed τ = 1 and
/// annealed to 1/16; the VQ-VAE with and without its remedies against collapse), each with
/// the options of `base`'s recipe and length.
pub fn variants(base: &RunConfig) -> Result<Vec<Variant>> {
    let mut out = Vec::new();
    for name in FamilyConfig::NAMES {
        let family = FamilyConfig::of(name, base.train.recipe, base.train.steps)?;
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

/// One row of the comparison table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Variant name.
    pub name: String,
    /// Family.
    pub family: String,
    /// What differs, in words.
    pub note: String,
    /// Held-out MSE (pixels in [0, 1]).
    pub mse: f64,
    /// Held-out PSNR (dB).
    pub psnr: f64,
    /// Information per latent cell in bits: log2 K for the discrete families, the KL rate
    /// for the VAE, 32·D (float32) for the AE.
    pub bits_per_cell: f64,
    /// Codebook usage in [0, 1] (discrete families).
    pub usage: Option<f64>,
    /// Token perplexity (discrete families).
    pub perplexity: Option<f64>,
    /// Codes never used on the held-out set (discrete families).
    pub dead_codes: Option<usize>,
    /// Mean over logged steps of ‖∇encoder‖ / ‖∇decoder‖.
    pub enc_dec_grad_ratio: f64,
    /// First logged step at which the training reconstruction loss (mean of the last three
    /// logged values) reached the comparison's target (see [`Comparison::target_recon`]).
    pub steps_to_target: Option<usize>,
    /// Mean wall time of a training step (ms).
    pub ms_per_step: f64,
    /// How the family generates without a learned prior.
    pub sampling: String,
    /// Final training reconstruction loss (mean of the last three logged values).
    pub final_recon: f64,
}

/// The measured comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Steps each variant trained.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Seed shared by every variant.
    pub seed: u64,
    /// Data source.
    pub data: String,
    /// The training reconstruction loss every variant is timed to: the worst final value.
    pub target_recon: f64,
    /// One row per variant.
    pub rows: Vec<Row>,
}

struct Trained {
    variant: Variant,
    logs: Vec<StepLog>,
    report: crate::pipeline::EvalReport,
}

/// Trains every variant into `out/<name>/`, writes each one's sample grid, the side-by-side
/// reconstructions `out/recon.png`, and returns the table. `progress` hears each variant's
/// name as it starts and every training event.
pub fn run(
    variants: &[Variant],
    data: &ImageSet,
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
        let report = summary
            .eval
            .ok_or_else(|| Error::run(&run.root, "training produced no evaluation"))?;
        write_samples(&run, device)?;
        trained.push(Trained {
            variant: v.clone(),
            logs,
            report,
        });
    }
    write_side_by_side(&trained, data, out, device)?;
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
        target_recon: target,
        rows,
    })
}

fn tail_mean(logs: &[StepLog]) -> f64 {
    let tail = &logs[logs.len().saturating_sub(3)..];
    tail.iter().map(|l| l.recon).sum::<f64>() / tail.len().max(1) as f64
}

fn row(t: &Trained, target: f64, final_recon: f64) -> Row {
    let c = &t.variant.config;
    let family = c.bottleneck.family();
    let logs = &t.logs;
    let mean =
        |f: &dyn Fn(&StepLog) -> f64| logs.iter().map(f).sum::<f64>() / logs.len().max(1) as f64;
    let steps_to_target = (0..logs.len())
        .find(|&i| tail_mean(&logs[..=i]) <= target)
        .map(|i| logs[i].step);
    let last_kl = logs.last().map_or(0.0, |l| l.kl);
    let discrete = family.vocab(&c.model).is_some();
    let r = &t.report;
    Row {
        name: t.variant.name.clone(),
        family: family.name().into(),
        note: t.variant.note.clone(),
        mse: r.mse,
        psnr: r.psnr,
        bits_per_cell: family.bits_per_cell(&c.model, last_kl),
        usage: discrete.then_some(r.usage),
        perplexity: discrete.then_some(r.perplexity),
        dead_codes: discrete.then_some(r.dead_codes),
        enc_dec_grad_ratio: mean(&|l| l.enc_grad_norm / l.dec_grad_norm.max(1e-12)),
        steps_to_target,
        ms_per_step: mean(&|l| 1000.0 * c.train.batch as f64 / l.img_s.max(1e-9)),
        sampling: family.sampling().into(),
        final_recon,
    }
}

/// Samples 16 images from the family's own prior into `samples.png` (nothing for the AE).
fn write_samples(run: &RunDir, device: &Device) -> Result<()> {
    let dvae = Tokenizer::load_on(&run.root, device)?;
    let m = &dvae.config.model;
    let mut rng = ChaCha8Rng::seed_from_u64(dvae.config.train.seed ^ 0x5a3b1e);
    let Some(out) = dvae.model.sample_prior(16, &mut rng) else {
        return Ok(());
    };
    let px = float_values(output_to_pixels(out, m.input_channels));
    let s = m.image_size;
    let tiles: Vec<Vec<u8>> = px
        .chunks(3 * s * s)
        .map(|c| grid::chw_to_hwc(c, s))
        .collect();
    let (w, h, png) = grid::tile(&tiles, s, 8);
    save_png(&run.root.join("samples.png"), w, h, png)
}

/// Originals in the first row, then one row of reconstructions per variant.
fn write_side_by_side(
    trained: &[Trained],
    data: &ImageSet,
    out: &Path,
    device: &Device,
) -> Result<()> {
    let Some(first) = trained.first() else {
        return Ok(());
    };
    let split = Split::new(data.len(), first.variant.config.train.holdout);
    let pool = if split.holdout.is_empty() {
        &split.train
    } else {
        &split.holdout
    };
    let idx = &pool[..pool.len().min(8)];
    let mut tiles: Vec<Vec<u8>> = idx.iter().map(|&i| data.image(i)).collect();
    for t in trained {
        let dvae = Tokenizer::load_on(out.join(&t.variant.name), device)?;
        let (recons, _) = dvae.evaluate(data, idx, idx.len())?;
        tiles.extend(recons.into_iter().map(|r| r.pixels));
    }
    let (w, h, png) = grid::tile(&tiles, data.size(), idx.len().max(1));
    save_png(&out.join("recon.png"), w, h, png)
}

/// The table as Markdown.
pub fn markdown(c: &Comparison) -> String {
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("–".into(), f);
    let mut s = format!(
        "{} steps × batch {}, seed {}, data `{}`; target training recon loss {:.4}\n\n",
        c.steps, c.batch, c.seed, c.data, c.target_recon
    );
    s.push_str(
        "| model | family | PSNR dB | MSE | bits/cell | usage % | perplexity | dead codes | ‖∇enc‖/‖∇dec‖ | steps to target | ms/step | sampling | variant |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &c.rows {
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.5} | {:.1} | {} | {} | {} | {:.3} | {} | {:.0} | {} | {} |\n",
            r.name,
            r.family,
            r.psnr,
            r.mse,
            r.bits_per_cell,
            opt(r.usage, &|u| format!("{:.1}", 100.0 * u)),
            opt(r.perplexity, &|p| format!("{p:.1}")),
            r.dead_codes.map_or("–".into(), |d| d.to_string()),
            r.enc_dec_grad_ratio,
            r.steps_to_target
                .map_or("not reached".into(), |s| s.to_string()),
            r.ms_per_step,
            r.sampling,
            r.note,
        ));
    }
    s
}
