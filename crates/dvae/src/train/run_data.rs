//! [`RunData`]: the images a run's configuration names, opened the way training reads
//! them: shards streamed, anything else decoded into memory, and `train.eval_data`
//! loaded when it is set.

use std::path::PathBuf;

use super::feed::TrainData;
use crate::data::sharded::ShardedSet;
use crate::data::{DataSource, ImageSet};
use crate::error::Result;
use crate::run_config::RunConfig;

/// The data of a run, ready for [`super::train`].
pub enum RunData {
    /// Decoded into memory, with a separate evaluation set when the run names one.
    Memory {
        /// The training images (a part held out unless `eval` is given).
        train: ImageSet,
        /// The images of `train.eval_data`.
        eval: Option<ImageSet>,
    },
    /// Streamed from shards.
    Sharded(ShardedSet),
}

impl RunData {
    /// Opens `config.data` (and `config.train.eval_data`) at the model's size; `strict`
    /// makes an unreadable file or sample an error instead of a skip.
    pub fn open(config: &RunConfig, strict: bool) -> Result<Self> {
        let size = config.model.image_size;
        let eval = match &config.train.eval_data {
            Some(spec) => Some(ImageSet::load(&DataSource::parse(spec), size, strict)?),
            None => None,
        };
        let source = DataSource::parse(&config.data);
        Ok(match source.shard_spec() {
            Some(spec) => RunData::Sharded(ShardedSet::open(
                &spec,
                size,
                config.train.holdout,
                eval,
                strict,
            )?),
            None => RunData::Memory {
                train: ImageSet::load(&source, size, strict)?,
                eval,
            },
        })
    }

    /// The data as [`super::train`] takes it.
    pub fn as_train(&self) -> TrainData<'_> {
        match self {
            RunData::Memory { train, eval: None } => TrainData::Memory(train),
            RunData::Memory {
                train,
                eval: Some(e),
            } => TrainData::MemoryEval(train, e),
            RunData::Sharded(s) => TrainData::Sharded(s),
        }
    }

    /// Files skipped while opening (unreadable images; a stream's skipped samples are in
    /// the training summary).
    pub fn skipped(&self) -> Vec<(PathBuf, String)> {
        match self {
            RunData::Memory { train, eval } => train
                .skipped
                .iter()
                .chain(eval.iter().flat_map(|e| e.skipped.iter()))
                .cloned()
                .collect(),
            RunData::Sharded(s) => s.eval.skipped.clone(),
        }
    }

    /// Threads decoding a shard stream ahead of the step (nothing for data in memory).
    pub fn set_workers(&mut self, workers: usize) {
        if let RunData::Sharded(s) = self {
            s.workers = workers.max(1);
        }
    }
}
