//! `dvae bench`.

use anyhow::Result;
use burn::prelude::Device;
use clap::Parser;
use dvae::bench::{BenchOptions, WORKLOADS};
use dvae::kernels::engine::Engine;

/// Throughput of a workload on this machine: training step, encode and decode (images/s,
/// medians after warm-up) and peak memory.
#[derive(Parser)]
pub struct Args {
    /// bench (the model of torch_bench.py), or a preset: tiny, small, dalle.
    #[arg(long, default_value = "bench", value_parser = WORKLOADS)]
    workload: String,
    /// Images per step / per call [default: 32; 8 for dalle].
    #[arg(long)]
    batch: Option<usize>,
    /// Compute threads [default: rayon's, all cores or RAYON_NUM_THREADS].
    #[arg(long)]
    threads: Option<usize>,
    /// Timed iterations of each operation [default: 5; 2 for dalle].
    #[arg(long)]
    iters: Option<usize>,
    /// Untimed iterations before them [default: 2; 1 for dalle].
    #[arg(long)]
    warmup: Option<usize>,
    /// Skip the training step (dalle skips it unless --train is given).
    #[arg(long, conflicts_with = "train")]
    no_train: bool,
    /// Time the training step of dalle too (minutes per step and tens of GB on a CPU).
    #[arg(long)]
    train: bool,
    /// Run everything (training step, encode, decode) on Burn's generic operations instead of
    /// the channels-last CPU kernels (as DVAE_GENERIC=1 does for every command).
    #[arg(long)]
    generic: bool,
    /// Print one JSON object (train_img_s, encode_img_s, decode_img_s, peak_rss_mb, workload, batch).
    #[arg(long)]
    json: bool,
    /// Instead of a model: decode and resize the samples of these tar shards (a stream's
    /// work ahead of each step) on --threads threads (default 1), at the workload's image
    /// size; reports images/s and images/s per thread.
    #[arg(long, value_name = "SPEC")]
    shards: Option<String>,
    /// Most samples read with --shards.
    #[arg(long, default_value_t = 20_000)]
    limit: usize,
}

pub fn run(a: Args) -> Result<()> {
    if let Some(spec) = &a.shards {
        let size = dvae::config::ModelConfig::preset(if a.workload == "bench" {
            "tiny"
        } else {
            &a.workload
        })?
        .image_size;
        let r = dvae::bench::decode::decode_rate(spec, size, a.threads.unwrap_or(1), a.limit)?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "decoded {} images to {}x{} on {} threads: {:.0} img/s, {:.0} img/s per thread \
                 (reading the shards took {:.2} s, untimed)",
                r.images, r.size, r.size, r.threads, r.img_s, r.img_s_per_thread, r.read_s
            );
        }
        return Ok(());
    }
    if let Some(t) = a.threads {
        dvae::bench::set_threads(t)?;
    }
    let dalle = a.workload == "dalle";
    let device = Device::flex();
    let o = BenchOptions {
        batch: a.batch.unwrap_or(if dalle { 8 } else { 32 }),
        iters: a.iters.unwrap_or(if dalle { 2 } else { 5 }),
        warmup: a.warmup.unwrap_or(if dalle { 1 } else { 2 }),
        train: !a.no_train && (a.train || !dalle),
        engine: if a.generic {
            Engine::Generic
        } else {
            Engine::resolve(&device)
        },
    };
    let r = dvae::bench::run(&a.workload, &o, &device)?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "workload {} batch {} threads {}",
            r.workload, r.batch, r.threads
        );
        match (r.train_img_s, r.cpu_s.train) {
            (Some(t), Some(c)) => println!("train   {t:8.1} img/s  {c:7.3} CPU s/step"),
            _ => println!("train   (not timed)"),
        }
        println!(
            "encode  {:8.1} img/s  {:7.3} CPU s/call",
            r.encode_img_s, r.cpu_s.encode
        );
        println!(
            "decode  {:8.1} img/s  {:7.3} CPU s/call",
            r.decode_img_s, r.cpu_s.decode
        );
        println!("peak    {:8.1} MiB", r.peak_rss_mb);
    }
    Ok(())
}
