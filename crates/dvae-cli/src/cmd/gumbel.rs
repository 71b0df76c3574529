//! `dvae gumbel`.

use anyhow::Result;
use clap::Parser;

/// Gumbel vs Gaussian noise for sampling a categorical, and Gumbel-softmax vs Gumbel-Max
/// as τ varies, measured and printed as tables.
#[derive(Parser)]
pub struct Args {
    /// Logits of the categorical, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2.0,1.0,0.5,0.0,-1.0")]
    logits: Vec<f64>,
    /// Temperatures, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.0625,0.25,0.5,1,2,5")]
    taus: Vec<f64>,
    /// Draws per measurement.
    #[arg(long, default_value_t = 100_000)]
    samples: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the measurements as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.logits.len() < 2 {
        anyhow::bail!("--logits: need at least 2 values, got {}", a.logits.len());
    }
    if let Some(t) = a.taus.iter().find(|t| !(**t > 0.0 && t.is_finite())) {
        anyhow::bail!("--taus: every τ must be > 0, got {t}");
    }
    if a.samples == 0 {
        anyhow::bail!("--samples: must be at least 1");
    }
    let study = dvae::gumbel_study::run(&a.logits, &a.taus, a.samples, a.seed);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&study)?);
    } else {
        print!("{}", dvae::gumbel_study::markdown(&study));
    }
    Ok(())
}
