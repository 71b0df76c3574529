//! `dvae eval`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dvae::Dvae;
use dvae::data::{DataSource, ImageSet};

/// Mean MSE, PSNR (dB, range 1.0, per image then averaged), codebook usage and perplexity
/// of a trained run on a data set.
#[derive(Parser)]
pub struct Args {
    /// Run directory of a trained model.
    #[arg(long)]
    run: PathBuf,
    /// default, a folder of images, mnist:PATH or cifar10:PATH.
    #[arg(long, default_value = "default")]
    data: String,
    /// Print one JSON object (keys images, mse, psnr, usage, perplexity, dead_codes).
    #[arg(long)]
    json: bool,
    /// Evaluate at most N images (the default data set is 20000 images).
    #[arg(long)]
    limit: Option<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Stop at the first unreadable file in a folder instead of skipping it.
    #[arg(long)]
    strict: bool,
}

pub fn run(a: Args) -> Result<()> {
    let dvae = Dvae::load(&a.run)?;
    let set = ImageSet::load(
        &DataSource::parse(&a.data),
        dvae.config.model.image_size,
        a.strict,
    )
    .with_context(|| format!("loading data {:?}", a.data))?;
    super::report_skipped(&set);
    let default_limit = if matches!(DataSource::parse(&a.data), DataSource::Default) {
        1000
    } else {
        usize::MAX
    };
    let n = set.len().min(a.limit.unwrap_or(default_limit));
    let idx: Vec<usize> = (0..n).collect();
    let (_, r) = dvae.evaluate(&set, &idx, a.batch)?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("images      {}", r.images);
        println!("mse         {:.6}", r.mse);
        println!("psnr        {:.2} dB", r.psnr);
        println!(
            "usage       {:.1}% ({} dead codes)",
            100.0 * r.usage,
            r.dead_codes
        );
        println!("perplexity  {:.1}", r.perplexity);
    }
    Ok(())
}
