//! Encode or decode throughput of a run directory (e.g. `dvae import-openai` of OpenAI's
//! full-size dVAE), for comparison with `tools/torch_openai_speed.py` on the same machine.
//!
//! ```text
//! cargo run --release -p dvae --example openai_speed -- RUN encode|decode [BATCH] [ITERS]
//! ```
//! Prints one JSON line: images/s (median of ITERS after one warm-up), CPU seconds per
//! image over the timed iterations (all threads; less sensitive than wall time to other
//! work on the machine) and the process's peak resident memory. Run encode and decode as
//! separate processes so that each peak is its own.

use std::time::Instant;

use dvae::Tokenizer;
use dvae::data::ImageSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (run, op) = match args.as_slice() {
        [run, op, ..] if op == "encode" || op == "decode" => (run, op.as_str()),
        _ => return Err("usage: openai_speed RUN encode|decode [BATCH] [ITERS]".into()),
    };
    let batch: usize = args.get(2).map_or(Ok(8), |s| s.parse())?;
    let iters: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let dvae = Tokenizer::load(run)?;
    let m = &dvae.config.model;
    let images = ImageSet::procedural(batch, m.image_size);
    let idx: Vec<usize> = (0..batch).collect();
    let x = images.batch(&idx, dvae.device());
    let tokens = dvae.encode(x.clone())?;
    let mut times = Vec::new();
    let mut cpu0 = 0.0;
    for i in 0..=iters {
        if i == 1 {
            cpu0 = dvae::bench::cpu_seconds();
        }
        let t0 = Instant::now();
        if op == "encode" {
            let _ = dvae.encode(x.clone())?.into_data();
        } else {
            let _ = dvae.decode(tokens.clone())?.into_data();
        }
        times.push(t0.elapsed().as_secs_f64());
    }
    let cpu_per_img = (dvae::bench::cpu_seconds() - cpu0) / (iters * batch) as f64;
    let mut timed = times[1..].to_vec();
    timed.sort_by(f64::total_cmp);
    let median = timed[timed.len() / 2];
    println!(
        "{{\"impl\":\"dvae\",\"op\":\"{op}\",\"batch\":{batch},\"iters\":{iters},\"img_s\":{:.3},\"cpu_s_per_img\":{:.2},\"peak_rss_mb\":{:.0}}}",
        batch as f64 / median,
        cpu_per_img,
        dvae::bench::peak_rss_mb()
    );
    Ok(())
}
