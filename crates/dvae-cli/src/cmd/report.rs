//! `dvae report`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dvae::Tokenizer;
use dvae::artifact::RunDir;
use dvae::atomic::write_bytes_atomic;
use dvae::data::{DataSource, ImageSet};
use dvae::report::{self, ReportData, ReportOptions};

/// One self-contained HTML page about a run: configuration, training curves, held-out
/// metrics, reconstructions, codebook usage, codebook atlas and token maps. No script and
/// no network: images and charts are inline.
#[derive(Parser)]
pub struct Args {
    /// Run directory of a trained model.
    #[arg(long)]
    run: PathBuf,
    /// Images to score: default, a folder, mnist:PATH or cifar10:PATH. Without it, the
    /// images the run held out from its own training data.
    #[arg(long)]
    data: Option<String>,
    /// The HTML file to write [default: RUN/report.html].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Score at most N images.
    #[arg(long, default_value_t = 256)]
    limit: usize,
    /// Show at most N codes in the codebook atlas (the most used ones).
    #[arg(long, default_value_t = 256)]
    atlas: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Stop at the first unreadable file in a folder instead of skipping it.
    #[arg(long)]
    strict: bool,
}

pub fn run(a: Args) -> Result<()> {
    let dvae = Tokenizer::load(&a.run)?;
    let spec = a.data.clone().unwrap_or_else(|| dvae.config.data.clone());
    let set = ImageSet::load(
        &DataSource::parse(&spec),
        dvae.config.model.image_size,
        a.strict,
    )
    .with_context(|| format!("loading data {spec:?}"))?;
    super::report_skipped(&set);
    let (indices, label) = match &a.data {
        None => {
            let idx = report::held_out_indices(&dvae.config, &set, a.limit);
            let label = format!(
                "{} images held out from the run's training data {spec:?}",
                idx.len()
            );
            (idx, label)
        }
        Some(_) => {
            let n = set.len().min(a.limit);
            (
                (0..n).collect(),
                format!("The first {n} of {} images of {spec:?}", set.len()),
            )
        }
    };
    let opts = ReportOptions {
        atlas_codes: a.atlas,
        batch: a.batch,
        ..ReportOptions::default()
    };
    let data = ReportData {
        set: &set,
        indices: &indices,
        label,
    };
    let html = report::render(&RunDir::new(&a.run), &dvae, &data, &opts)?;
    let out = a.out.unwrap_or_else(|| a.run.join("report.html"));
    write_bytes_atomic(&out, html.as_bytes())?;
    println!(
        "report: {} ({} KiB, {} images scored)",
        out.display(),
        html.len() / 1024,
        indices.len()
    );
    Ok(())
}
