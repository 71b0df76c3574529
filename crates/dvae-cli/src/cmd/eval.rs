//! `dvae eval`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dvae::data::DataSource;
use dvae::data::stream::ImageStream;
use indicatif::{ProgressBar, ProgressStyle};

/// Reconstruction and codebook metrics of a trained run on a data set: MSE, PSNR, SSIM
/// (Gaussian and uniform window), bits/dim, codebook usage, perplexity, dead codes, token
/// and per-cell entropy. Images are read and scored batch by batch.
#[derive(Parser)]
pub struct Args {
    /// Run directory of a trained model.
    #[arg(long)]
    run: PathBuf,
    /// default, a folder of images, mnist:PATH or cifar10:PATH.
    #[arg(long, default_value = "default")]
    data: String,
    /// Print one JSON object (keys images, mse, psnr, ssim, ssim_uniform, bits_per_dim,
    /// elbo_bits_per_dim, usage, perplexity, dead_codes, token_entropy, cell_entropy,
    /// vocab_size).
    #[arg(long)]
    json: bool,
    /// Evaluate at most N images (the default data set: 1000 unless given).
    #[arg(long)]
    limit: Option<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Stop at the first unreadable file in a folder instead of skipping it.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    device: super::DeviceArg,
}

pub fn run(a: Args) -> Result<()> {
    let dvae = a.device.load(&a.run)?;
    let source = DataSource::parse(&a.data);
    let default_limit = matches!(source, DataSource::Default).then_some(1000);
    let mut stream = ImageStream::open(
        &source,
        dvae.config.model.image_size,
        a.strict,
        a.limit.or(default_limit),
    )
    .with_context(|| format!("loading data {:?}", a.data))?;
    let total = stream.len_hint();
    // indicatif draws only when stderr is a terminal.
    let bar = if total > a.batch {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "eval {bar:30} {pos}/{len} images [{elapsed_precise}<{eta_precise}]",
        )
        .expect("valid template"),
    );
    let device = dvae.device().clone();
    let batches = std::iter::from_fn(|| stream.next_tensor(a.batch, &device));
    let result = dvae.evaluate_stream(batches, |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    super::report_skipped_files(&stream.skipped);
    let r = result.with_context(|| format!("evaluating {:?}", a.data))?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        for row in dvae::metrics::describe(&r) {
            println!("{:<18} {:>12}   {}", row.key, row.value, row.note);
        }
    }
    Ok(())
}
