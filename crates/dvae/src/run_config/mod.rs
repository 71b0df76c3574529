//! Everything that defines a run, saved as `config.json`: printed at start, so a run can be
//! reproduced and resumed from it. Format 1 files (before the families had their own
//! options) are read too ([`v1`]).

pub mod v1;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, TrainConfig};
use crate::error::{Error, Result};
use crate::model::family::FamilyConfig;

/// Version of the run-directory format written by this library. A run directory written
/// by a newer version is refused rather than misread; version 1 is converted on reading.
pub const FORMAT_VERSION: u32 = 2;

/// Everything that defines a run; saved as `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Run-directory format version ([`FORMAT_VERSION`] when written by this library).
    pub format_version: u32,
    /// The preset the model came from (informational).
    pub preset: String,
    /// The backbone's architecture.
    pub model: ModelConfig,
    /// The family between encoder and decoder, with its options.
    pub bottleneck: FamilyConfig,
    /// The optimiser and the run's length.
    pub train: TrainConfig,
    /// The data source, as given on the command line (`default`, a folder, `mnist:…`, `cifar10:…`).
    pub data: String,
}

impl RunConfig {
    /// Parses and validates the text of a `config.json` of any format this build reads;
    /// `path` is used in messages.
    pub fn from_json(path: &Path, text: &str) -> Result<Self> {
        let bad = |e: serde_json::Error| {
            Error::run(path, format!("config.json is not a valid run config: {e}"))
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(bad)?;
        let version = value["format_version"].as_u64().unwrap_or(0);
        let config = if version == 1 {
            v1::RunConfigV1::deserialize(&value).map_err(bad)?.upgrade()
        } else {
            RunConfig::deserialize(&value).map_err(bad)?
        };
        config
            .validate()
            .map_err(|e| Error::run(path, e.to_string()))?;
        Ok(config)
    }

    /// Validates every part.
    pub fn validate(&self) -> Result<()> {
        if self.format_version > FORMAT_VERSION {
            return Err(Error::config(
                "format_version",
                format!(
                    "run written by a newer dvae (format {}, this build reads up to {FORMAT_VERSION})",
                    self.format_version
                ),
            ));
        }
        self.model.validate()?;
        self.bottleneck.family().validate()?;
        self.bottleneck.family().check_model(&self.model)?;
        self.train.validate()
    }
}
