//! Throughput measurements of a preset: a full training step, encoding and decoding.
//! Figures are medians over repeated iterations after warm-up; nothing here is a test.

use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::ModelConfig;
use crate::data::ImageSet;
use crate::loss;
use crate::model::quantizer::gumbel;
use crate::model::{DvaeModel, map_pixels};

/// What [`run`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The preset measured.
    pub workload: String,
    /// Images per training step and per encode/decode call.
    pub batch: usize,
    /// Training steps per second × batch (forward, backward, AdamW update).
    pub train_img_s: f64,
    /// Images encoded to tokens per second.
    pub encode_img_s: f64,
    /// Images decoded from tokens per second.
    pub decode_img_s: f64,
    /// Peak resident memory of the process in MiB (Linux; 0 elsewhere).
    pub peak_rss_mb: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed(warmup: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    let mut times = Vec::with_capacity(iters);
    for i in 0..warmup + iters {
        let t0 = Instant::now();
        f();
        if i >= warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    median(times)
}

/// Measures `model` at `batch` with `iters` timed iterations of each operation.
pub fn run(
    workload: &str,
    model: &ModelConfig,
    batch: usize,
    iters: usize,
    device: &Device,
) -> BenchReport {
    let ad = device.clone().autodiff();
    let mut net = DvaeModel::new(model, 0, &ad);
    let mut optim = AdamWConfig::new().init();
    let data = ImageSet::procedural(batch, model.image_size);
    let idx: Vec<usize> = (0..batch).collect();
    let x = map_pixels(data.batch(&idx, &ad));
    let g = model.grid_size();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let train_s = timed(2, iters, || {
        let noise = gumbel::gumbel_from_uniform(gumbel::uniform_noise(
            [batch, model.vocab_size, g, g],
            &mut rng,
            &ad,
        ));
        let f = net.forward_train(x.clone(), noise, 1.0, true);
        let l = loss::logit_laplace_nll(f.out, x.clone()) + loss::kl_to_uniform(f.logits) * 1e-3;
        let grads = GradientsParams::from_grads(l.backward(), &net);
        net = optim.step(1e-4, net.clone(), grads);
        let _ = l.into_scalar::<f32>();
    });
    let infer = net.valid();
    let xi = x.inner();
    let mut tokens = infer.encode_tokens(xi.clone());
    let encode_s = timed(2, iters, || {
        tokens = infer.encode_tokens(xi.clone());
        let _ = tokens.clone().into_data();
    });
    let decode_s = timed(2, iters, || {
        let _ = infer.decode_tokens(tokens.clone()).into_data();
    });
    BenchReport {
        workload: workload.to_string(),
        batch,
        train_img_s: batch as f64 / train_s,
        encode_img_s: batch as f64 / encode_s,
        decode_img_s: batch as f64 / decode_s,
        peak_rss_mb: peak_rss_mb(),
    }
}

/// Peak resident set size of this process (`VmHWM`), in MiB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
