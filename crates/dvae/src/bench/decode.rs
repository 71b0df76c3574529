//! How fast shard samples decode and resize: the work a stream's worker threads do ahead
//! of each training step (`dvae bench --shards`).

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::data::image_io;
use crate::data::shards::shard_paths;
use crate::data::tar_samples::{Item, Sample, read_shard};
use crate::error::{Error, Result};

/// Decoding throughput.
#[derive(Clone, Debug, Serialize)]
pub struct DecodeRate {
    /// Samples decoded.
    pub images: usize,
    /// Threads decoding.
    pub threads: usize,
    /// Output side.
    pub size: usize,
    /// Seconds reading the shards (not timed in the rate).
    pub read_s: f64,
    /// Seconds decoding and resizing.
    pub decode_s: f64,
    /// Images decoded and resized a second.
    pub img_s: f64,
    /// The same per thread.
    pub img_s_per_thread: f64,
}

/// Reads every sample of the shards `spec` names (at most `limit`), then decodes and
/// resizes them to `size`×`size` on `threads` threads, timed.
pub fn decode_rate(spec: &str, size: usize, threads: usize, limit: usize) -> Result<DecodeRate> {
    let t0 = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    for shard in shard_paths(spec)? {
        read_shard(&shard, |item| {
            if let Item::Sample(s) = item {
                samples.push(s);
            }
            if samples.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if samples.len() >= limit {
            break;
        }
    }
    let read_s = t0.elapsed().as_secs_f64();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::config("threads", e.to_string()))?;
    let t1 = Instant::now();
    let decoded: usize = pool.install(|| {
        samples
            .par_iter()
            .map(|s| {
                image_io::decode(Path::new(&s.name), &s.bytes)
                    .map(|img| image_io::fit_square(&img, size).len())
                    .is_ok() as usize
            })
            .sum()
    });
    let decode_s = t1.elapsed().as_secs_f64();
    let img_s = decoded as f64 / decode_s.max(1e-9);
    Ok(DecodeRate {
        images: decoded,
        threads: threads.max(1),
        size,
        read_s,
        decode_s,
        img_s,
        img_s_per_thread: img_s / threads.max(1) as f64,
    })
}
