//! The layout of a run directory.
//!
//! ```text
//! RUN/config.json            resolved RunConfig
//! RUN/model.safetensors      EMA weights (for encode/decode/eval/export)
//! RUN/log.jsonl              one JSON object per logged step / eval
//! RUN/recon.png              latest reconstruction grid (originals above reconstructions)
//! RUN/grids/recon-step-N.png the grid of each evaluation
//! RUN/curves.png             training curves of log.jsonl, redrawn at each checkpoint
//! RUN/checkpoint/LATEST      name of the newest complete checkpoint
//! RUN/checkpoint/step-N/     weights.safetensors, ema.safetensors, optim.bpk, state.json
//! ```

use std::path::PathBuf;

use crate::atomic::write_bytes_atomic;
use crate::error::{Error, Result};
use crate::run_config::RunConfig;

/// Paths inside a run directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    /// The run directory.
    pub root: PathBuf,
}

impl RunDir {
    /// A handle on `root` (nothing is read or created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    /// `model.safetensors` (EMA weights).
    pub fn weights(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }
    /// `log.jsonl`.
    pub fn log(&self) -> PathBuf {
        self.root.join("log.jsonl")
    }
    /// `checkpoint/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoint")
    }

    /// Reads and validates `config.json`.
    pub fn read_config(&self) -> Result<RunConfig> {
        let path = self.config();
        if !self.root.is_dir() {
            return Err(Error::run(&self.root, "no such run directory"));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::run(&path, "config.json is missing (is this a run directory?)")
            }
            _ => Error::io(&path, e),
        })?;
        RunConfig::from_json(&path, &text)
    }

    /// Writes `config.json` atomically.
    pub fn write_config(&self, config: &RunConfig) -> Result<()> {
        let text = serde_json::to_string_pretty(config).expect("RunConfig serialises");
        write_bytes_atomic(&self.config(), text.as_bytes())
    }
}
