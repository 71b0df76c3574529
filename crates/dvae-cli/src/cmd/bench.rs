//! `dvae bench`.

use anyhow::Result;
use burn::prelude::Device;
use clap::Parser;
use dvae::config::ModelConfig;

/// Throughput of a preset on this machine: training step, encode and decode (images/s,
/// medians after warm-up) and peak memory.
#[derive(Parser)]
pub struct Args {
    /// Preset to measure: tiny, small or dalle.
    #[arg(long, default_value = "tiny")]
    workload: String,
    /// Images per step / per call.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Timed iterations of each operation.
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Print one JSON object (train_img_s, encode_img_s, decode_img_s, peak_rss_mb, workload, batch).
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.batch == 0 || a.iters == 0 {
        anyhow::bail!("invalid --batch/--iters: must be at least 1");
    }
    let model = ModelConfig::preset(&a.workload)?;
    let r = dvae::bench::run(&a.workload, &model, a.batch, a.iters, &Device::flex());
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("workload {} batch {}", r.workload, r.batch);
        println!("train   {:8.1} img/s", r.train_img_s);
        println!("encode  {:8.1} img/s", r.encode_img_s);
        println!("decode  {:8.1} img/s", r.decode_img_s);
        println!("peak    {:8.1} MiB", r.peak_rss_mb);
    }
    Ok(())
}
