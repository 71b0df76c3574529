//! Throughput measurements of a workload: a full training step, encoding and decoding.
//! Figures are medians over repeated iterations after warm-up; nothing here is a test.
//!
//! Workloads: `bench` is the model of `shared/reference/torch_bench.py` ([`model`]); `tiny`,
//! `small` and `dalle` are presets of our DALL·E-architecture model.

pub mod model;

use std::time::Instant;

use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::ModelConfig;
use crate::data::ImageSet;
use crate::infer::{self, BenchNet, DalleNet, TokenCodec};
use crate::model::quantizer::gumbel;
use crate::model::{DvaeModel, map_pixels};
use crate::{Error, Result, loss};
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
    /// Encode and decode with Burn's generic operations instead of the channels-last
    /// path ([`crate::infer`]), to see what that path buys.
    pub generic: bool,
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
        run_preset(&ModelConfig::preset(workload)?, o, device)
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

/// A model the bench times: one training loss and the token round trip.
trait Timed: Module + Clone + 'static {
    /// The training loss of `x` with Gumbel noise `gumbel`.
    fn train_loss(&self, x: Tensor<4>, gumbel: Tensor<4>) -> Tensor<1>;
    fn tokens(&self, x: Tensor<4>) -> Tensor<3, Int>;
    fn images(&self, tokens: Tensor<3, Int>) -> Tensor<4>;
    /// The model laid out for the channels-last CPU path, where it covers the model.
    fn codec(&self) -> Option<Box<dyn TokenCodec>>;
}

impl<M: Timed> TokenCodec for M {
    fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        self.tokens(x)
    }
    fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        self.images(tokens)
    }
}

/// torch_bench.py's work: soft Gumbel-softmax at τ = 1, MSE + 1e-3 · KL.
impl Timed for BenchModel {
    fn train_loss(&self, x: Tensor<4>, gumbel: Tensor<4>) -> Tensor<1> {
        self.loss(x, gumbel, 1.0, 1e-3)
    }
    fn tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        self.encode_tokens(x)
    }
    fn images(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        self.decode_tokens(tokens)
    }
    fn codec(&self) -> Option<Box<dyn TokenCodec>> {
        Some(Box::new(BenchNet::new(self)?))
    }
}

/// Our training step: hard Gumbel-softmax at τ = 1, logit-Laplace NLL + 1e-3 · KL.
impl Timed for DvaeModel {
    fn train_loss(&self, x: Tensor<4>, gumbel: Tensor<4>) -> Tensor<1> {
        let f = self.forward_train(x.clone(), gumbel, 1.0, true);
        loss::logit_laplace_nll(f.out, x) + loss::kl_to_uniform(f.logits) * 1e-3
    }
    fn tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        self.encode_tokens(x)
    }
    fn images(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        self.decode_tokens(tokens)
    }
    fn codec(&self) -> Option<Box<dyn TokenCodec>> {
        Some(Box::new(DalleNet::new(self)?))
    }
}

/// The `bench` workload: torch_bench.py's model, Adam at lr 1e-3.
fn run_bench_model(
    c: &BenchModelConfig,
    o: &BenchOptions,
    device: &Device,
) -> (Option<Timing>, Timing, Timing) {
    let ad = device.clone().autodiff();
    let x =
        ImageSet::procedural(o.batch, c.image_size).batch(&(0..o.batch).collect::<Vec<_>>(), &ad);
    let g = c.grid_size();
    let optim = AdamConfig::new().with_epsilon(1e-8).init();
    measure(c.init(&ad), optim, 1e-3, x, [o.batch, c.codes, g, g], o)
}

/// A preset of our model: AdamW at lr 1e-4, as training starts.
fn run_preset(
    model: &ModelConfig,
    o: &BenchOptions,
    device: &Device,
) -> (Option<Timing>, Timing, Timing) {
    let ad = device.clone().autodiff();
    let data = ImageSet::procedural(o.batch, model.image_size);
    let x = map_pixels(data.batch(&(0..o.batch).collect::<Vec<_>>(), &ad));
    let g = model.grid_size();
    let net = DvaeModel::new(model, 0, &ad);
    let noise = [o.batch, model.vocab_size, g, g];
    measure(net, AdamWConfig::new().init(), 1e-4, x, noise, o)
}

/// Times `net`'s training step on `x` (noise of shape `noise`; skipped unless `o.train`),
/// then encoding `x` to tokens and decoding them, without autodiff.
fn measure<M: Timed>(
    mut net: M,
    mut optim: ModuleOptimizer,
    lr: f64,
    x: Tensor<4>,
    noise: [usize; 4],
    o: &BenchOptions,
) -> (Option<Timing>, Timing, Timing) {
    let device = x.device();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let train = o.train.then(|| {
        timed(o, || {
            let g = gumbel::gumbel_noise(noise, &mut rng, &device);
            let l = net.train_loss(x.clone(), g);
            let grads = GradientsParams::from_grads(l.backward(), &net);
            net = optim.step(lr, net.clone(), grads);
            let _ = l.into_scalar::<f32>();
        })
    });
    let generic = net.valid();
    drop(net);
    let xi = x.inner();
    let fast = (!o.generic && infer::runs_on(&xi.device()))
        .then(|| generic.codec())
        .flatten();
    // The channels-last path holds its own copy of the weights: Burn's is dropped, as an
    // inference deployment would.
    let codec: Box<dyn TokenCodec> = match fast {
        Some(c) => c,
        None => Box::new(generic),
    };
    let tokens = codec.encode_tokens(xi.clone());
    let encode = timed(o, || {
        let _ = codec.encode_tokens(xi.clone()).into_data();
    });
    let decode = timed(o, || {
        let _ = codec.decode_tokens(tokens.clone()).into_data();
    });
    (train, encode, decode)
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
