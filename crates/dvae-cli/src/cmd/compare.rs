//! `dvae compare`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::Parser;
use dvae::compare;
use dvae::config::{ModelConfig, Recipe, TrainConfig};
use dvae::data::{DataSource, ImageSet};
use dvae::model::family::FamilyConfig;
use dvae::run_config::{FORMAT_VERSION, RunConfig};
use dvae::train::Event;
use indicatif::{ProgressBar, ProgressStyle};

/// Train the families on the same data, budget and seed and score them on the same held-out
/// images; write DIR/compare.md, DIR/compare.json, DIR/recon.png (originals, then one named
/// row per model) and each run with its samples.png.
#[derive(Parser)]
pub struct Args {
    /// default, a folder of images, mnist:PATH or cifar10:PATH.
    #[arg(long, default_value = "default")]
    data: String,
    /// Score on this data set instead of the training data's held-out split (for photos
    /// held out by photo: a folder of crops of other photos).
    #[arg(long)]
    eval_data: Option<String>,
    /// Rows to train, comma-separated: row names (dvae-tau1, vqvae-up, bsq, simvq, …) or
    /// family names (a family's first row); default: dvae, dvae-tau1, dvae-tau16, vqvae,
    /// vqvae-plain, vqvae-up, fsq, lfq, vae, ae.
    #[arg(long, value_delimiter = ',')]
    families: Option<Vec<String>>,
    /// Training steps of every model.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Architecture preset shared by every model.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Seed shared by every model.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "runs/compare")]
    out: PathBuf,
    /// Stop at the first unreadable file in a data folder instead of skipping it.
    #[arg(long)]
    strict: bool,
}

pub fn run(a: Args) -> Result<()> {
    let model = ModelConfig::preset(&a.preset)?;
    let mut train = TrainConfig::recipe(Recipe::Default, a.steps);
    train.batch = a.batch;
    train.seed = a.seed;
    train.checkpoint_every = a.steps.max(1);
    let base = RunConfig {
        format_version: FORMAT_VERSION,
        preset: a.preset.clone(),
        model,
        bottleneck: FamilyConfig::of("dvae", Recipe::Default, a.steps)?,
        train,
        data: a.data.clone(),
    };
    base.validate()?;
    let data = ImageSet::load(&DataSource::parse(&a.data), base.model.image_size, a.strict)
        .with_context(|| format!("loading data {:?}", a.data))?;
    super::report_skipped(&data);
    super::ensure_dir(&a.out)?;
    let all = compare::variants(&base)?;
    let names = a
        .families
        .clone()
        .unwrap_or_else(|| compare::DEFAULT_ROWS.map(String::from).to_vec());
    let variants = compare::select(&all, &names)?;
    let eval = match &a.eval_data {
        Some(e) => {
            let set = ImageSet::load(&DataSource::parse(e), base.model.image_size, a.strict)
                .with_context(|| format!("loading eval data {e:?}"))?;
            super::report_skipped(&set);
            Some(set)
        }
        None => None,
    };
    let scoring = match (&eval, &a.eval_data) {
        (Some(set), Some(name)) => compare::Scoring::Separate(set, name.clone()),
        _ => compare::Scoring::Holdout,
    };
    let bar = ProgressBar::new((variants.len() * a.steps) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    let mut done_before = 0u64;
    let mut current = String::new();
    let result = compare::run(
        &variants,
        &data,
        &scoring,
        &a.out,
        &Device::flex(),
        |name, e| {
            if name != current {
                if !current.is_empty() {
                    done_before += a.steps as u64;
                }
                current = name.to_string();
            }
            if let Event::Step(s) = e {
                bar.set_position(done_before + s.step as u64);
                bar.set_message(format!("{name}: recon {:.4}", s.recon));
            }
        },
    );
    bar.finish_and_clear();
    let table = result?;
    let md = compare::markdown(&table);
    dvae::atomic::write_bytes_atomic(&a.out.join("compare.md"), md.as_bytes())?;
    let json = serde_json::to_string_pretty(&table)?;
    dvae::atomic::write_bytes_atomic(&a.out.join("compare.json"), json.as_bytes())?;
    println!("{md}");
    println!(
        "written: {0}/compare.md, {0}/compare.json, {0}/recon.png (originals, then one row per model), {0}/<model>/samples.png",
        a.out.display()
    );
    Ok(())
}
