//! [`ShardedSet`]: a sharded data set opened for training: its shards, its evaluation
//! images (a separate set, or the head of its last shard, held out of training) and how
//! its stream is read.

use std::path::PathBuf;

use super::ImageSet;
use super::augment::Augment;
use super::loader::{StreamSpec, count_items};
use super::shards::shard_paths;
use crate::error::{Error, Result};

/// Most images held out at the head of the last shard.
pub const MAX_HELD_OUT: usize = 256;

/// A sharded data set ready to stream.
pub struct ShardedSet {
    /// The shard files.
    pub shards: Vec<PathBuf>,
    /// Images the run is evaluated on.
    pub eval: ImageSet,
    /// Items at the head of the last shard kept out of training (0 with a separate
    /// evaluation set, or with no hold-out).
    pub held_out: usize,
    /// Threads decoding and resizing (default: the machine's cores, at most 4).
    pub workers: usize,
    /// Batches decoded ahead of the step.
    pub prefetch: usize,
    /// An unreadable sample is an error instead of being skipped.
    pub strict: bool,
}

impl ShardedSet {
    /// Opens the shards `spec` names at `size`×`size`. Evaluation uses `eval` when given;
    /// otherwise the first `ceil(holdout · n)` items (at most [`MAX_HELD_OUT`]) of the last
    /// shard's `n`, which training then skips (with `holdout` 0, the first
    /// [`MAX_HELD_OUT`] items are evaluated and also trained on).
    pub fn open(
        spec: &str,
        size: usize,
        holdout: f64,
        eval: Option<ImageSet>,
        strict: bool,
    ) -> Result<Self> {
        let shards = shard_paths(spec)?;
        let last = shards.last().cloned().unwrap_or_default();
        let (eval, held_out) = match eval {
            Some(set) => (set, 0),
            None => {
                let n = count_items(&last)?;
                let held = ((holdout * n as f64).ceil() as usize).min(MAX_HELD_OUT);
                let held = if holdout > 0.0 && n > 1 {
                    held.clamp(1, n - 1)
                } else {
                    0
                };
                let head = if held > 0 { held } else { MAX_HELD_OUT };
                let set =
                    ImageSet::from_shard_items(std::slice::from_ref(&last), size, strict, head)?;
                (set, held)
            }
        };
        if eval.is_empty() {
            return Err(Error::data(&last, "no readable images to evaluate on"));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            shards,
            eval,
            held_out,
            workers: cores.min(4),
            prefetch: 4,
            strict,
        })
    }

    /// The stream of training batches for a run of this `seed`, `batch` and shuffle
    /// `buffer`.
    pub fn spec(&self, seed: u64, batch: usize, buffer: usize, augment: Augment) -> StreamSpec {
        StreamSpec {
            shards: self.shards.clone(),
            size: self.eval.size(),
            seed,
            batch,
            buffer,
            workers: self.workers,
            prefetch: self.prefetch,
            strict: self.strict,
            held_out: self.held_out,
            augment,
        }
    }
}
