//! Throughput measurements of a workload: a full training step, encoding and decoding.
//! Figures are medians over repeated iterations after warm-up; nothing here is a test.
//!
//! Workloads: `bench` is the model of `shared/reference/torch_bench.py` ([`model`]); `tiny`,
//! `small` and `dalle` are presets of our DALL·E-architecture model.

pub mod decode;
pub mod model;

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::{ModelConfig, Recipe, TrainConfig};
use crate::data::ImageSet;
use crate::kernels::engine::Engine;
use crate::model::family::FamilyConfig;
use crate::model::family::dvae::DvaeOptions;
use crate::model::gumbel;
use crate::model::host_ops::HostOps;
use crate::model::tensor_ops::TensorOps;
use crate::pipeline::Tokenizer;
use crate::run_config::{FORMAT_VERSION, RunConfig};
use crate::schedule::BetaSchedule;
use crate::train::step;
use crate::{Error, Result};
use model::{BenchModel, BenchModelConfig};

/// The workloads [`run`] knows.
pub const WORKLOADS: [&str; 4] = ["bench", "tiny", "small", "dalle"];

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Images per training step and per encode/decode call.
    pub batch: usize,
    /// Timed iterations of each operation (the median is reported).
    pub iters: usize,
    /// Untimed iterations before them.
    pub warmup: usize,
    /// Time the training step (off for `dalle`, whose full-size step does not fit a CPU budget).
    pub train: bool,
    /// The engine every timed operation runs on (training, encoding and decoding alike).
    pub engine: Engine,
}

/// What [`run`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The workload measured.
    pub workload: String,
    /// Images per training step and per encode/decode call.
    pub batch: usize,
    /// Worker threads of the compute pool.
    pub threads: usize,
    /// Training steps per second × batch (forward, backward, Adam(W) update); `None` when
    /// the step was not timed.
    pub train_img_s: Option<f64>,
    /// Images encoded to tokens per second.
    pub encode_img_s: f64,
    /// Images decoded from tokens per second.
    pub decode_img_s: f64,
    /// Peak resident memory of the process in MiB (Linux; 0 elsewhere).
    pub peak_rss_mb: f64,
    /// CPU seconds (all threads) per training step, encode and decode call, the mean over
    /// the timed iterations (Linux; 0 elsewhere): less sensitive than wall time to other
    /// work on the machine, though spinning worker threads count too.
    pub cpu_s: CpuSeconds,
}

/// CPU seconds per call of each operation.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CpuSeconds {
    /// Per training step; `None` when the step was not timed.
    pub train: Option<f64>,
    /// Per encode call.
    pub encode: f64,
    /// Per decode call.
    pub decode: f64,
}

/// Wall and CPU seconds of one operation: the median wall time, the mean CPU time.
#[derive(Clone, Copy, Debug)]
struct Timing {
    wall: f64,
    cpu: f64,
}

/// Sets the size of the compute pool (Burn's flex backend and its GEMM run on rayon's
/// global pool). Call it before any tensor work; it fails once the pool exists.
pub fn set_threads(threads: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| Error::config("threads", format!("cannot set {threads} threads: {e}")))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `f` over `iters` calls after `warmup` untimed ones.
fn timed(o: &BenchOptions, mut f: impl FnMut()) -> Timing {
    for _ in 0..o.warmup {
        f();
    }
    let mut times = Vec::with_capacity(o.iters);
    let cpu0 = cpu_seconds();
    for _ in 0..o.iters {
        let t0 = Instant::now();
        f();
        times.push(t0.elapsed().as_secs_f64());
    }
    Timing {
        wall: median(times),
        cpu: (cpu_seconds() - cpu0) / o.iters as f64,
    }
}

/// Measures `workload` (one of [`WORKLOADS`]) with the options `o`.
pub fn run(workload: &str, o: &BenchOptions, device: &Device) -> Result<BenchReport> {
    if o.batch == 0 || o.iters == 0 {
        return Err(Error::config(
            "batch/iters",
            format!(
                "expected at least 1, got batch {} and iters {}",
                o.batch, o.iters
            ),
        ));
    }
    let (train, encode, decode) = if workload == "bench" {
        run_bench_model(&BenchModelConfig::new(), o, device)
    } else {
        run_preset(&ModelConfig::preset(workload)?, o, device)?
    };
    let rate = |t: Timing| o.batch as f64 / t.wall;
    Ok(BenchReport {
        workload: workload.to_string(),
        batch: o.batch,
        threads: rayon::current_num_threads(),
        train_img_s: train.map(rate),
        encode_img_s: rate(encode),
        decode_img_s: rate(decode),
        peak_rss_mb: peak_rss_mb(),
        cpu_s: CpuSeconds {
            train: train.map(|t| t.cpu),
            encode: encode.cpu,
            decode: decode.cpu,
        },
    })
}

/// The `bench` workload: torch_bench.py's model and training step (Adam at lr 1e-3, soft
/// Gumbel-softmax at τ = 1, MSE + 1e-3 · KL), then its token round trip.
fn run_bench_model(
    c: &BenchModelConfig,
    o: &BenchOptions,
    device: &Device,
) -> (Option<Timing>, Timing, Timing) {
    let ad = device.clone().autodiff();
    let x =
        ImageSet::procedural(o.batch, c.image_size).batch(&(0..o.batch).collect::<Vec<_>>(), &ad);
    let g = c.grid_size();
    let noise = [o.batch, c.codes, g, g];
    let mut net = c.init(&ad);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let train = o.train.then(|| {
        timed(o, || {
            let g = gumbel::gumbel_noise(noise, &mut rng, &ad);
            let l = net.loss(o.engine, x.clone(), g, 1.0, 1e-3);
            let grads = GradientsParams::from_grads(l.backward(), &net);
            net = optim.step(1e-3, net.clone(), grads);
            let _ = l.into_scalar::<f32>();
        })
    });
    let net = net.valid();
    let xi = x.inner();
    let (encode, decode) = match o.engine {
        Engine::Kernels => round_trip(o, &net, &HostOps::new(device), xi),
        Engine::Generic => round_trip(o, &net, &TensorOps { engine: o.engine }, xi),
    };
    (train, encode, decode)
}

/// Encoding `x` to tokens and decoding them, timed, on `ops`.
fn round_trip<O: crate::model::ops::Ops>(
    o: &BenchOptions,
    net: &BenchModel,
    ops: &O,
    x: Tensor<4>,
) -> (Timing, Timing) {
    let tokens = net.encode_tokens(ops, x.clone());
    let encode = timed(o, || {
        let _ = net.encode_tokens(ops, x.clone()).into_data();
    });
    let decode = timed(o, || {
        let _ = net.decode_tokens(ops, tokens.clone()).into_data();
    });
    (encode, decode)
}

/// A preset of our model, timed through what `dvae train`, `encode` and `decode` run:
/// `train::step` with train's optimizer, then `Tokenizer::encode` and `Tokenizer::decode`.
/// The step's settings are `tools/torch_tiny_bench.py`'s, so that both sides do the same
/// work: the hard Gumbel-softmax at τ = 1, logit-Laplace NLL + 1e-3 · KL (mean per cell),
/// AdamW at lr 1e-4 (the DALL·E recipe's betas and weight decay), no clipping.
fn run_preset(
    model: &ModelConfig,
    o: &BenchOptions,
    device: &Device,
) -> Result<(Option<Timing>, Timing, Timing)> {
    let ad = device.clone().autodiff();
    let mut train = TrainConfig::recipe(Recipe::Dalle, 1000);
    train.batch = o.batch;
    // The dVAE's latent term is β·KL·cells/dims: β = 1e-3·dims/cells makes it 1e-3·KL.
    let g = model.grid_size();
    let dims = (model.input_channels * model.image_size * model.image_size) as f64;
    let bottleneck = FamilyConfig::Dvae(DvaeOptions {
        tau_start: 1.0,
        tau_end: 1.0,
        hard: true,
        gumbel_scale: 1.0,
        kl_weight: 1e-3 * dims / (g * g) as f64,
        beta_schedule: BetaSchedule::Fixed,
        diversity_weight: 0.0,
        codebook_std: None,
        ..DvaeOptions::recipe(Recipe::Dalle, 1000)
    });
    let config = RunConfig {
        format_version: FORMAT_VERSION,
        preset: "bench".into(),
        model: model.clone(),
        bottleneck,
        train,
        data: "default".into(),
    };
    let data = ImageSet::procedural(o.batch, model.image_size);
    let idx: Vec<usize> = (0..o.batch).collect();
    let x = data.batch(&idx, &ad);
    // The network moves through each step by value, as in `train`, so that the update may
    // reuse its buffers.
    let mut net = Some(crate::model::Network::new(
        model,
        &config.bottleneck,
        0,
        &ad,
        o.engine,
    ));
    let mut optim = crate::train::resume::adamw(&config.train);
    let mut i = 1;
    let timing = o.train.then(|| {
        timed(o, || {
            let mut rng = step::step_rng(0, i);
            let n = net
                .take()
                .expect("the network is put back after every step");
            let (n, f) = step::forward(n, &config, x.clone(), i, &mut rng);
            let (grads, norm) = step::gradients(&n, f.total.clone());
            let n = step::update(n, &mut optim, 1e-4, grads, norm, config.train.grad_clip);
            net = Some(step::after_update(n, &config, i, f, false, &mut rng).0);
            i += 1;
        })
    });
    let net = net.expect("the network is put back after every step");
    let tokenizer = Tokenizer::from_model(config, net.valid(), device);
    let xi = x.inner();
    let tokens = tokenizer.encode(xi.clone())?;
    let encode = timed(o, || {
        let _ = tokenizer.encode(xi.clone()).map(|t| t.into_data());
    });
    let decode = timed(o, || {
        let _ = tokenizer.decode(tokens.clone()).map(|t| t.into_data());
    });
    Ok((timing, encode, decode))
}

/// User + system CPU time of this process (all threads), from `/proc/self/stat` (Linux;
/// 0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the parenthesised command name: state, ppid, …; utime and stime are the 12th
    // and 13th of those, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
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
