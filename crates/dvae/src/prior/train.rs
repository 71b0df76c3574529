//! Training a prior on a tokenizer's tokens: the data is encoded once (and cached in the
//! prior directory), then the prior minimises the negative log-likelihood of the training
//! grids with AdamW, a warm-up + cosine learning rate and gradient clipping; the held-out
//! grids (the tokenizer's own held-out split) are scored in bits per token.

use std::io::Write;
use std::sync::atomic::Ordering;

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::TokenPrior;
use super::config::PriorConfig;
use super::store::{PriorDir, PriorFile, TokenCacheKey};
pub use super::train_config::PriorTrainConfig;
use crate::data::{ImageSet, Split, batch_indices};
use crate::error::{Error, Result};
use crate::tokens::{TokenGrids, read_npy, write_npy};
use crate::train::{TrainOptions, params};
use crate::{Tokenizer, schedule};

/// A data set as tokens: one grid per image, and its class where the prior is conditional.
#[derive(Clone, Debug)]
pub struct TokenData {
    /// The grids.
    pub grids: TokenGrids,
    /// Class of each grid.
    pub labels: Option<Vec<u32>>,
}

impl TokenData {
    /// Ids of grid `i`.
    pub fn grid(&self, i: usize) -> &[u32] {
        let t = self.grids.h * self.grids.w;
        &self.grids.ids[i * t..(i + 1) * t]
    }

    /// Ids of grids `indices`, one after the other.
    pub fn ids(&self, indices: &[usize]) -> Vec<u32> {
        indices
            .iter()
            .flat_map(|&i| self.grid(i).to_vec())
            .collect()
    }

    /// Grids `indices` and their class ids (`null` where unlabelled) as tensors.
    ///
    /// # Shapes
    /// → `[indices.len(), T]`, `[indices.len()]`
    pub fn batch(
        &self,
        indices: &[usize],
        null: u32,
        device: &Device,
    ) -> (Tensor<2, Int>, Tensor<1, Int>) {
        let t = self.grids.h * self.grids.w;
        let ids: Vec<i64> = indices
            .iter()
            .flat_map(|&i| self.grid(i).iter().map(|&v| v as i64))
            .collect();
        let classes: Vec<i64> = indices
            .iter()
            .map(|&i| self.labels.as_ref().map_or(null, |l| l[i]) as i64)
            .collect();
        (
            Tensor::<1, Int>::from_ints(ids.as_slice(), device).reshape([indices.len(), t]),
            Tensor::<1, Int>::from_ints(classes.as_slice(), device),
        )
    }
}

fn stamp(path: &std::path::Path) -> (u64, u64) {
    let meta = std::fs::metadata(path).ok();
    let size = meta.as_ref().map_or(0, |m| m.len());
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    (size, mtime)
}

/// The tokens of images `indices` of `set` under `dvae`, encoded `batch` images at a
/// time; `conditional` keeps their labels.
pub fn tokenize(
    dvae: &Tokenizer,
    set: &ImageSet,
    indices: &[usize],
    conditional: bool,
    batch: usize,
) -> Result<TokenData> {
    Ok(TokenData {
        grids: dvae.encode_set(set, indices, batch)?,
        labels: conditional
            .then(|| {
                set.labels
                    .as_ref()
                    .map(|l| indices.iter().map(|&i| l.ids[i]).collect())
            })
            .flatten(),
    })
}

/// [`tokenize`], read from `dir`'s cache when it holds the same data (`data` as given)
/// encoded by the same weights, else encoded and cached. Also says whether it was cached.
pub fn tokenize_cached(
    dvae: &Tokenizer,
    run_weights: &std::path::Path,
    data: &str,
    set: &ImageSet,
    conditional: bool,
    dir: &PriorDir,
    batch: usize,
) -> Result<(TokenData, bool)> {
    let key = TokenCacheKey {
        data: data.to_string(),
        weights: run_weights.to_path_buf(),
        weights_stamp: stamp(run_weights),
        labels: conditional
            .then(|| set.labels.as_ref().map(|l| l.ids.clone()))
            .flatten(),
    };
    let (npy, json) = (dir.root.join("tokens.npy"), dir.root.join("tokens.json"));
    let m = &dvae.config.model;
    let cached: Option<TokenCacheKey> = std::fs::read(&json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if cached.as_ref() == Some(&key)
        && let Ok(grids) = read_npy(&npy, m.vocab_size, m.grid_size())
        && grids.n == set.len()
    {
        let labels = key.labels;
        return Ok((TokenData { grids, labels }, true));
    }
    let all: Vec<usize> = (0..set.len()).collect();
    let tokens = tokenize(dvae, set, &all, conditional, batch)?;
    write_npy(&npy, &tokens.grids)?;
    crate::atomic::write_bytes_atomic(
        &json,
        &serde_json::to_vec_pretty(&key).expect("cache key serialises"),
    )?;
    Ok((tokens, false))
}

/// Held-out likelihood of a prior.
#[derive(Clone, Debug, Serialize)]
pub struct PriorEval {
    /// Mean negative log2-likelihood per token.
    pub bits_per_token: f64,
    /// The same per image dimension (`bits_per_token · T / (3·S²)`); 0 if unknown.
    pub bits_per_dim: f64,
    /// Tokens scored.
    pub tokens: usize,
}

/// Bits per token of `prior` on grids `indices` of `data`, `batch` grids at a time.
pub fn evaluate(
    prior: &TokenPrior,
    config: &PriorConfig,
    data: &TokenData,
    indices: &[usize],
    batch: usize,
    image_size: usize,
    device: &Device,
) -> PriorEval {
    let t = config.tokens();
    let mut nats = 0.0;
    for chunk in indices.chunks(batch.max(1)) {
        let (tokens, classes) = data.batch(chunk, config.classes as u32, device);
        nats += prior.nll(tokens, classes).into_scalar::<f32>() as f64 * chunk.len() as f64;
    }
    let n = indices.len().max(1) as f64;
    let bits_per_token = nats / n / std::f64::consts::LN_2;
    PriorEval {
        bits_per_token,
        bits_per_dim: bits_per_dim(bits_per_token, t, image_size),
        tokens: indices.len() * t,
    }
}

/// Bits per image dimension of `bits_per_token` for `tokens` tokens per `size`² RGB image.
pub fn bits_per_dim(bits_per_token: f64, tokens: usize, size: usize) -> f64 {
    if size == 0 {
        0.0
    } else {
        bits_per_token * tokens as f64 / (3 * size * size) as f64
    }
}

/// Cross-entropy in bits per token of tokens `test` under the frequencies of tokens
/// `train` (add-one smoothed over `k` codes): the baseline of a prior that ignores context.
pub fn unigram_bits(train: &[u32], test: &[u32], k: usize) -> f64 {
    let mut counts = vec![1.0f64; k];
    for &v in train {
        counts[v as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let bits: f64 = test
        .iter()
        .map(|&v| -(counts[v as usize] / total).log2())
        .sum();
    bits / test.len().max(1) as f64
}

/// What training reports as it goes.
#[derive(Debug)]
pub enum PriorEvent {
    /// Training starts (or resumes) at `start_step`.
    Start {
        /// Parameters of the prior.
        params: usize,
        /// First step to run.
        start_step: usize,
        /// Training grids.
        train: usize,
        /// Held-out grids.
        holdout: usize,
    },
    /// A logged step: mean training loss in bits per token since the last log.
    Step {
        /// Steps done.
        step: usize,
        /// Training loss, bits per token.
        bits: f64,
        /// Learning rate.
        lr: f64,
    },
    /// A held-out evaluation.
    Eval {
        /// Steps done.
        step: usize,
        /// Its result.
        eval: PriorEval,
    },
}

/// Trains the prior described by `file` on `data`, writing into `dir`; with `opts.resume`,
/// continues from the newest checkpoint, and stops after a checkpoint when `opts.stop` is set. Returns the last held-out evaluation.
pub fn train(
    dir: &PriorDir,
    file: &PriorFile,
    data: &TokenData,
    image_size: usize,
    device: &Device,
    opts: &TrainOptions,
    mut observer: impl FnMut(PriorEvent),
) -> Result<Option<PriorEval>> {
    let (c, m) = (&file.train, &file.model);
    c.validate()?;
    let split = Split::new(data.grids.n, c.holdout);
    if split.train.is_empty() {
        return Err(Error::config("data", "no training grids"));
    }
    let eval_idx = if split.holdout.is_empty() {
        split.train.clone()
    } else {
        split.holdout.clone()
    };
    let ad = device.clone().autodiff();
    let mut prior = m.init(c.seed, &ad)?;
    let mut optim: ModuleOptimizer = AdamWConfig::new()
        .with_beta_2(0.95)
        .with_weight_decay(c.weight_decay as f32)
        .init();
    let mut start = 0;
    if opts.resume {
        (start, prior, optim) = dir.load_checkpoint(prior, optim)?;
    } else {
        let _ = std::fs::remove_file(dir.log());
    }
    observer(PriorEvent::Start {
        params: prior.num_params(),
        start_step: start,
        train: split.train.len(),
        holdout: split.holdout.len(),
    });
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.log())
        .map_err(|e| Error::io(dir.log(), e))?;
    let null = m.classes as u32;
    let (mut sum, mut count) = (0.0, 0usize);
    let mut last = None;
    for step in start..c.steps {
        if opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            dir.save_checkpoint(step, &prior, &optim)?;
            return Err(Error::Interrupted { step });
        }
        let idx = batch_indices(&split.train, c.seed, step, c.batch);
        let (tokens, _) = data.batch(&idx, null, &ad);
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed ^ (step as u64).wrapping_mul(0x9e37_79b9));
        let classes: Vec<i64> = idx
            .iter()
            .map(|&i| match &data.labels {
                Some(l) if rng.random::<f64>() >= c.class_dropout => l[i] as i64,
                _ => null as i64,
            })
            .collect();
        let classes = Tensor::<1, Int>::from_ints(classes.as_slice(), &ad);
        let loss = prior.nll(tokens, classes);
        let value = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            return Err(Error::NonFinite {
                what: "prior loss".into(),
                step: step + 1,
            });
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &prior);
        let norm = params::grad_norm(&prior, &grads);
        if norm > c.grad_clip {
            params::scale_grads(&prior, &mut grads, c.grad_clip / norm);
        }
        let lr = schedule::warmup_cosine(c.lr, c.lr * 0.1, c.warmup, c.steps, step);
        prior = optim.step(lr, prior, grads);
        sum += value / std::f64::consts::LN_2;
        count += 1;
        let done = step + 1;
        if done % c.log_every == 0 || done == c.steps {
            let bits = sum / count as f64;
            (sum, count) = (0.0, 0);
            let line = serde_json::json!({"kind": "step", "step": done, "bits": bits, "lr": lr});
            writeln!(log, "{line}").map_err(|e| Error::io(dir.log(), e))?;
            observer(PriorEvent::Step {
                step: done,
                bits,
                lr,
            });
        }
        if done % c.checkpoint_every == 0 || done == c.steps {
            let valid = prior.valid();
            let eval = evaluate(&valid, m, data, &eval_idx, 64, image_size, device);
            let line = serde_json::json!({"kind": "eval", "step": done, "eval": eval});
            writeln!(log, "{line}").map_err(|e| Error::io(dir.log(), e))?;
            crate::weights::save_weights(&valid, &dir.weights())?;
            dir.save_checkpoint(done, &prior, &optim)?;
            observer(PriorEvent::Eval {
                step: done,
                eval: eval.clone(),
            });
            last = Some(eval);
        }
    }
    Ok(last)
}
