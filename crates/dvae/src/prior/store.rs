//! A prior directory on disk.
//!
//! ```text
//! PRIOR/prior.json          PriorFile: the tokenizer it models, the network, the training
//! PRIOR/model.safetensors   the prior's weights (newest checkpoint)
//! PRIOR/tokens.npy          the data's tokens (cache), with PRIOR/tokens.json (their key)
//! PRIOR/log.jsonl           training loss and held-out bits per token
//! PRIOR/checkpoint/LATEST   name of the newest complete checkpoint
//! PRIOR/checkpoint/step-N/  weights.bpk, optim.bpk, state.json (as `dvae train` writes them)
//! ```

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use super::TokenPrior;
use super::config::PriorConfig;
use super::train_config::PriorTrainConfig;
use crate::atomic::write_bytes_atomic;
use crate::error::{Error, Result};
use crate::run_config::FORMAT_VERSION;
use crate::train::checkpoint::{self, TrainState};

/// What `prior.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorFile {
    /// Format version of the directory.
    pub format_version: u32,
    /// The tokenizer's run directory, as given when training.
    pub tokenizer: PathBuf,
    /// The data it was trained on, as given.
    pub data: String,
    /// The network.
    pub model: PriorConfig,
    /// The training settings.
    pub train: PriorTrainConfig,
    /// Class names (empty for an unconditional prior).
    pub class_names: Vec<String>,
}

/// The key of a token cache: which data, which tokenizer weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenCacheKey {
    /// The data, as given.
    pub data: String,
    /// The tokenizer's weights file.
    pub weights: PathBuf,
    /// Its size in bytes and modification time (seconds), to notice a retrained tokenizer.
    pub weights_stamp: (u64, u64),
    /// Class of each image, when the prior is conditional.
    pub labels: Option<Vec<u32>>,
}

/// Paths inside a prior directory.
#[derive(Clone, Debug)]
pub struct PriorDir {
    /// The directory.
    pub root: PathBuf,
}

const WEIGHTS: &str = "weights.bpk";
const OPTIM: &str = "optim.bpk";

impl PriorDir {
    /// The prior directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `prior.json`.
    pub fn file(&self) -> PathBuf {
        self.root.join("prior.json")
    }

    /// The weights used for evaluation and sampling.
    pub fn weights(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }

    /// The training log.
    pub fn log(&self) -> PathBuf {
        self.root.join("log.jsonl")
    }

    fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoint")
    }

    /// Reads and checks `prior.json`.
    pub fn read(&self) -> Result<PriorFile> {
        let path = self.file();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::run(
                &path,
                format!("not a prior directory (cannot read prior.json: {e})"),
            )
        })?;
        let file: PriorFile = serde_json::from_str(&text)
            .map_err(|e| Error::run(&path, format!("corrupt prior.json: {e}")))?;
        if file.format_version > FORMAT_VERSION {
            return Err(Error::run(
                &path,
                format!(
                    "written by a newer dvae (format {}, this build reads up to {FORMAT_VERSION})",
                    file.format_version
                ),
            ));
        }
        file.model.validate()?;
        Ok(file)
    }

    /// Writes `prior.json` atomically.
    pub fn write(&self, file: &PriorFile) -> Result<()> {
        let text = serde_json::to_vec_pretty(file).expect("prior file serialises");
        write_bytes_atomic(&self.file(), &text)
    }

    /// Loads the prior's weights for `file` on `device`.
    pub fn load(&self, file: &PriorFile, device: &burn::prelude::Device) -> Result<TokenPrior> {
        let prior = file.model.init(0, device)?;
        crate::weights::load_weights(prior, &self.weights())
    }

    /// Writes a checkpoint of `step` steps (weights with their parameter ids, optimizer
    /// state) as `dvae train` does: a crash leaves the previous one whole.
    pub fn save_checkpoint(
        &self,
        step: usize,
        prior: &TokenPrior,
        optim: &ModuleOptimizer,
    ) -> Result<()> {
        checkpoint::commit(&self.checkpoints(), step, |tmp| {
            let p = tmp.join(WEIGHTS);
            prior
                .valid()
                .save_file(&p)
                .map_err(|e| Error::run(&p, format!("cannot write checkpoint: {e}")))?;
            crate::reproducible::save_optimizer(optim, &tmp.join(OPTIM))?;
            checkpoint::write_state(tmp, &TrainState::at(step))
        })
    }

    /// Restores the newest checkpoint into `prior` and `optim` and returns the step it
    /// holds; without a checkpoint, step 0 and both unchanged.
    pub fn load_checkpoint(
        &self,
        prior: TokenPrior,
        optim: ModuleOptimizer,
    ) -> Result<(usize, TokenPrior, ModuleOptimizer)> {
        let Some(dir) = checkpoint::latest_dir(&self.checkpoints())? else {
            return Ok((0, prior, optim));
        };
        let state = checkpoint::read_state(&dir)?;
        let p = dir.join(WEIGHTS);
        let prior = prior
            .try_load_file(&p)
            .map_err(|e| Error::run(&p, format!("cannot read checkpoint: {e}")))?;
        let p = dir.join(OPTIM);
        let optim = optim
            .load(&p)
            .map_err(|e| Error::run(&p, format!("cannot read optimizer state: {e}")))?;
        Ok((state.step, prior, optim))
    }
}
