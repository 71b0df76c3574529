//! Where a run's batches come from: images in memory (each step's batch a function of the
//! step) or a shard stream (decoded ahead on worker threads; its position is part of the
//! checkpoint), and what the run is evaluated on.

use std::time::Instant;

use burn::prelude::*;

use super::checkpoint::TrainState;
use crate::data::loader::{BatchStream, Skipped, StreamPos};
use crate::data::sharded::ShardedSet;
use crate::data::stream::to_tensor;
use crate::data::{ImageSet, Split, batch_indices, hwc_to_chw};
use crate::error::{Error, Result};
use crate::run_config::RunConfig;

/// The images a run trains on.
#[derive(Clone, Copy)]
pub enum TrainData<'a> {
    /// Decoded in memory; a deterministic part is held out (`train.holdout`).
    Memory(&'a ImageSet),
    /// Decoded in memory, all of it trained on; evaluated on the second set.
    MemoryEval(&'a ImageSet, &'a ImageSet),
    /// Streamed from tar shards.
    Sharded(&'a ShardedSet),
}

impl<'a> From<&'a ImageSet> for TrainData<'a> {
    fn from(set: &'a ImageSet) -> Self {
        TrainData::Memory(set)
    }
}

impl<'a> From<&'a ShardedSet> for TrainData<'a> {
    fn from(set: &'a ShardedSet) -> Self {
        TrainData::Sharded(set)
    }
}

/// One step's images.
pub(super) struct StepBatch {
    /// `[n, 3, size, size]` pixels in [0, 1].
    pub x: Tensor<4>,
    /// Images in it.
    pub n: usize,
    /// Seconds the step waited for it (building it, for data in memory).
    pub wait_s: f64,
}

/// The batches of a run and its evaluation images.
pub(super) enum Feed<'a> {
    Memory {
        data: &'a ImageSet,
        split: Split,
        /// A separate evaluation set, all of it used.
        eval: Option<(&'a ImageSet, Split)>,
    },
    Stream {
        set: &'a ShardedSet,
        /// Started at the first batch asked for, from `pos`.
        stream: Option<BatchStream>,
        pos: StreamPos,
        eval: Split,
        skipped: Skipped,
    },
}

impl<'a> Feed<'a> {
    /// The batches of `config` on `data`, from the start (see [`Feed::seek`]); the data is
    /// checked against the model, nothing is read yet.
    pub(super) fn open(data: TrainData<'a>, config: &RunConfig) -> Result<Self> {
        let want = config.model.image_size;
        let check = |size: usize| {
            if size == want {
                Ok(())
            } else {
                Err(Error::config(
                    "data",
                    format!("images are {size}x{size}, model wants {want}x{want}"),
                ))
            }
        };
        let all = |set: &ImageSet| Split {
            train: Vec::new(),
            holdout: (0..set.len()).collect(),
        };
        let (data, separate) = match data {
            TrainData::Memory(d) => (TrainData::Memory(d), None),
            TrainData::MemoryEval(d, e) => (TrainData::Memory(d), Some(e)),
            sharded => (sharded, None),
        };
        match data {
            TrainData::Memory(data) | TrainData::MemoryEval(data, _) => {
                check(data.size())?;
                let (holdout, eval) = match separate {
                    Some(e) => {
                        check(e.size())?;
                        (0.0, Some((e, all(e))))
                    }
                    None => (config.train.holdout, None),
                };
                let split = Split::new(data.len(), holdout);
                if split.train.is_empty() {
                    return Err(Error::config("data", "no training images"));
                }
                Ok(Feed::Memory { data, split, eval })
            }
            TrainData::Sharded(set) => {
                check(set.eval.size())?;
                Ok(Feed::Stream {
                    set,
                    stream: None,
                    pos: StreamPos::default(),
                    skipped: Skipped::default(),
                    eval: all(&set.eval),
                })
            }
        }
    }

    /// Training and held-out images (training 0 for a stream: not known before reading).
    pub(super) fn counts(&self) -> (usize, usize) {
        match self {
            Feed::Memory { split, eval, .. } => (
                split.train.len(),
                eval.as_ref()
                    .map_or(split.holdout.len(), |(_, e)| e.holdout.len()),
            ),
            Feed::Stream { eval, .. } => (0, eval.holdout.len()),
        }
    }

    /// The batch of step `step` (0-based), on `device`.
    pub(super) fn next(
        &mut self,
        step: usize,
        config: &RunConfig,
        device: &Device,
    ) -> Result<StepBatch> {
        let t0 = Instant::now();
        let c = &config.train;
        let size = config.model.image_size;
        let (x, n) = match self {
            Feed::Memory { data, split, .. } => {
                let idx = batch_indices(&split.train, c.seed, step, c.batch);
                let x = if c.augment.is_none() {
                    data.batch(&idx, device)
                } else {
                    let imgs: Vec<Vec<u8>> = idx
                        .iter()
                        .enumerate()
                        .map(|(b, &i)| {
                            let key = (step * c.batch + b) as u64;
                            c.augment.apply_square(&data.image(i), size, c.seed, key)
                        })
                        .collect();
                    to_tensor(&imgs, size, device)
                };
                (x, idx.len())
            }
            Feed::Stream {
                set,
                stream,
                pos,
                skipped,
                ..
            } => {
                if stream.is_none() {
                    let c = &config.train;
                    let spec = set.spec(c.seed, c.batch, c.shuffle_buffer, c.augment);
                    *stream = Some(BatchStream::open(spec, *pos, skipped.clone())?);
                }
                let b = stream.as_mut().map_or_else(
                    || Err(Error::config("data", "no stream")),
                    BatchStream::next_batch,
                )?;
                *pos = b.pos;
                let per = 3 * size * size;
                let mut chw = vec![0f32; b.n * per];
                for (img, out) in b.pixels.chunks_exact(per).zip(chw.chunks_mut(per)) {
                    hwc_to_chw(img, out);
                }
                let x =
                    Tensor::<1>::from_floats(chw.as_slice(), device).reshape([b.n, 3, size, size]);
                (x, b.n)
            }
        };
        Ok(StepBatch {
            x,
            n,
            wait_s: t0.elapsed().as_secs_f64(),
        })
    }

    /// Continues from `state` (a resumed run's checkpoint, or the one a rollback goes
    /// back to).
    pub(super) fn seek(&mut self, state: &TrainState) {
        if let Feed::Stream { stream, pos, .. } = self {
            *pos = state.stream.unwrap_or_default();
            *stream = None;
        }
    }

    /// The stream's position after the last batch taken (`None` for data in memory).
    pub(super) fn pos(&self) -> Option<StreamPos> {
        match self {
            Feed::Memory { .. } => None,
            Feed::Stream { pos, .. } => Some(*pos),
        }
    }

    /// The images evaluations use, and which of them.
    pub(super) fn eval(&self) -> (&ImageSet, &Split) {
        match self {
            Feed::Memory {
                eval: Some((e, all)),
                ..
            } => (e, all),
            Feed::Memory { data, split, .. } => (data, split),
            Feed::Stream { set, eval, .. } => (&set.eval, eval),
        }
    }

    /// Samples and shards a stream skipped so far (name, reason), sorted by name.
    pub(super) fn skipped(&self) -> Vec<(String, String)> {
        match self {
            Feed::Memory { .. } => Vec::new(),
            Feed::Stream { skipped, .. } => {
                let s = skipped.lock().unwrap_or_else(|e| e.into_inner());
                s.iter().map(|(a, b)| (a.clone(), b.clone())).collect()
            }
        }
    }
}
