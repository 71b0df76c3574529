//! Ancestral sampling of token grids from a prior, token by token in raster order, with
//! the transformer's key/value cache or by re-running the network on the prefix; optional
//! class conditioning with classifier-free guidance, and completion of kept prefixes.

use std::time::Instant;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::sampling::{SampleOptions, guide, sample};
use super::{PriorConfig, TokenPrior};
use crate::error::{Error, Result};
use crate::kernels::host::float_values;

/// What to sample.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// Number of grids.
    pub n: usize,
    /// Class to condition on (`None`: unconditional).
    pub class: Option<u32>,
    /// Temperature, truncation and guidance.
    pub options: SampleOptions,
    /// Seed of every draw.
    pub seed: u64,
    /// Tokens kept at the start of each grid: `n × keep` ids (partial completion).
    pub prefix: Option<&'a [u32]>,
    /// Use the transformer's key/value cache (ignored by the PixelCNN).
    pub use_cache: bool,
}

/// Sampled grids and the sampling speed.
#[derive(Clone, Debug)]
pub struct Generated {
    /// `n × T` token ids, grid after grid.
    pub ids: Vec<u32>,
    /// Tokens produced per second (all grids together).
    pub tokens_per_s: f64,
    /// Whether the key/value cache was used.
    pub cached: bool,
    /// Seconds spent on each position (kept positions included), to see how a step's
    /// cost grows along the sequence.
    pub step_seconds: Vec<f64>,
}

impl Generated {
    /// Mean milliseconds per step in each quarter of the sequence.
    pub fn quarter_ms(&self) -> [f64; 4] {
        let n = self.step_seconds.len();
        [0, 1, 2, 3].map(|q| {
            let part = &self.step_seconds[q * n / 4..(q + 1) * n / 4];
            1e3 * part.iter().sum::<f64>() / part.len().max(1) as f64
        })
    }
}

fn ints(v: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::<1, Int>::from_ints(v, device)
}

/// Samples `req.n` grids from `prior`.
pub fn generate(
    prior: &TokenPrior,
    config: &PriorConfig,
    req: &Request,
    device: &Device,
) -> Result<Generated> {
    req.options.validate()?;
    let (n, t_len) = (req.n, config.tokens());
    let keep = match req.prefix {
        Some(p) if n > 0 && p.len() % n == 0 && p.len() / n <= t_len => p.len() / n,
        Some(p) => {
            return Err(Error::Shape(format!(
                "{} prefix tokens for {n} grids of {t_len} tokens",
                p.len()
            )));
        }
        None => 0,
    };
    if let Some(&bad) = req
        .prefix
        .and_then(|p| p.iter().find(|&&t| t as usize >= config.vocab_size))
    {
        return Err(Error::config(
            "prefix",
            format!(
                "token {bad} is not below the vocabulary size {}",
                config.vocab_size
            ),
        ));
    }
    if let Some(c) = req.class
        && c as usize >= config.classes
    {
        return Err(Error::config(
            "class",
            format!("{c} is not one of the prior's {} classes", config.classes),
        ));
    }
    let null = config.classes as i64;
    let class = req.class.map_or(null, |c| c as i64);
    // Guidance runs the unconditional rows beside the conditional ones.
    let guided = req.class.is_some() && req.options.guidance != 1.0;
    let rows = if guided { 2 * n } else { n };
    let classes: Vec<i64> = (0..rows)
        .map(|i| if i < n { class } else { null })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    let mut ids = vec![0u32; n * t_len];
    let draw = |pos: usize, logits: &[f32], ids: &mut [u32], rng: &mut ChaCha8Rng| {
        let k = config.vocab_size;
        for i in 0..n {
            ids[i * t_len + pos] = if pos < keep {
                req.prefix.expect("keep > 0 only with a prefix")[i * keep + pos]
            } else {
                let c = &logits[i * k..(i + 1) * k];
                if guided {
                    let u = &logits[(n + i) * k..(n + i + 1) * k];
                    sample(&guide(c, u, req.options.guidance), &req.options, rng)
                } else {
                    sample(c, &req.options, rng)
                }
            };
        }
    };
    let t0 = Instant::now();
    let mut step_seconds = Vec::with_capacity(t_len);
    let mut tick = Instant::now();
    let mut lap = |times: &mut Vec<f64>| {
        times.push(tick.elapsed().as_secs_f64());
        tick = Instant::now();
    };
    let cached = req.use_cache && matches!(prior, TokenPrior::Transformer(_));
    match prior {
        TokenPrior::Transformer(tr) if cached => {
            let mut cache = tr.cache();
            let mut inputs: Vec<i64> = classes.iter().map(|&c| tr.start_id(c as u32)).collect();
            for pos in 0..t_len {
                let logits = float_values(tr.step(ints(&inputs, device), &mut cache));
                draw(pos, &logits, &mut ids, &mut rng);
                inputs = (0..rows)
                    .map(|r| ids[(r % n) * t_len + pos] as i64)
                    .collect();
                lap(&mut step_seconds);
            }
        }
        _ => {
            let class_t = ints(&classes, device);
            for pos in 0..t_len {
                if pos < keep {
                    draw(pos, &[], &mut ids, &mut rng);
                    lap(&mut step_seconds);
                    continue;
                }
                // The transformer needs only the prefix; the PixelCNN sees the whole grid
                // (cells after `pos` do not reach position `pos`).
                let len = match prior {
                    TokenPrior::Transformer(_) => pos + 1,
                    TokenPrior::PixelCnn(_) => t_len,
                };
                let mut grid = Vec::with_capacity(rows * len);
                for r in 0..rows {
                    let row = &ids[(r % n) * t_len..(r % n) * t_len + len];
                    grid.extend(row.iter().map(|&v| v as i64));
                }
                let tokens = ints(&grid, device).reshape([rows, len]);
                let logits = prior.logits(tokens, class_t.clone());
                let k = config.vocab_size;
                let at = float_values(logits.narrow(1, pos, 1).reshape([rows, k]));
                draw(pos, &at, &mut ids, &mut rng);
                lap(&mut step_seconds);
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    Ok(Generated {
        ids,
        tokens_per_s: (n * (t_len - keep)) as f64 / secs,
        cached,
        step_seconds,
    })
}
