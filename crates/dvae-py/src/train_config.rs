//! The keyword arguments of `dvae.train` and the configuration they resolve to, as the
//! flags of `dvae train` resolve (`dvae-cli/src/cmd/train_flags.rs`): a preset and a
//! recipe, then every override. Each keyword is a flag's name with `_` for `-`; a
//! family's keyword given for another family is refused. A pytest test checks that every
//! flag of `dvae train --help` is a keyword here and that both give the same config.json.

use std::str::FromStr;

use dvae::config::{ModelConfig, Recipe, ReconLoss, TrainConfig};
use dvae::model::family::dvae::CodeLogits;
use dvae::model::family::entropy_penalty::FAMILIES as PENALTY;
use dvae::model::family::{FamilyConfig, owns};
use dvae::run_config::{FORMAT_VERSION, RunConfig};
use dvae::schedule::{BetaSchedule, TauSchedule};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::errors::{to_py, value_error};

/// How a family keyword's value is read and written into `config.json`.
#[derive(Clone, Copy)]
enum Kind {
    F64,
    Usize,
    Bool,
    Tau,
    Beta,
    /// The dVAE's source of logits (`head`, `dot`, `distance`).
    Logits,
    /// A positive number, or 0 for `null` (none).
    F64OrNone,
    /// A positive count, or 0 for `null` (never).
    UsizeOrNone,
    /// A list of counts (FSQ's levels).
    Counts,
}

/// (family, keyword, `config.json` key, kind) of every family's own keyword; the family
/// is a name, or several joined by `|`.
const FAMILY_KEYS: [(&str, &str, &str, Kind); 32] = [
    ("dvae", "tau_start", "tau_start", Kind::F64),
    ("dvae", "tau_end", "tau_end", Kind::F64),
    ("dvae", "tau_schedule", "tau_schedule", Kind::Tau),
    ("dvae", "tau_steps", "tau_steps", Kind::Usize),
    ("dvae", "kl_weight", "kl_weight", Kind::F64),
    ("dvae", "beta_schedule", "beta_schedule", Kind::Beta),
    ("dvae", "beta_steps", "beta_steps", Kind::Usize),
    ("dvae", "diversity_weight", "diversity_weight", Kind::F64),
    (
        "dvae",
        "cell_entropy_weight",
        "cell_entropy_weight",
        Kind::F64,
    ),
    ("dvae", "hard", "hard", Kind::Bool),
    ("dvae", "gumbel_scale", "gumbel_scale", Kind::F64),
    ("dvae", "codebook_std", "codebook_std", Kind::F64OrNone),
    ("dvae", "logit_scale_end", "logit_scale_end", Kind::F64),
    (
        "dvae",
        "soft_codebook_grad",
        "soft_codebook_grad",
        Kind::Bool,
    ),
    ("dvae", "logits", "logits", Kind::Logits),
    ("vqvae", "vq_cosine", "cosine", Kind::Bool),
    ("vqvae", "commitment", "commitment", Kind::F64),
    ("vqvae", "vq_ema", "ema", Kind::Bool),
    ("vqvae", "vq_decay", "decay", Kind::F64),
    ("vqvae", "kmeans_init", "kmeans_init", Kind::Bool),
    ("vqvae", "restart_after", "restart_after", Kind::UsizeOrNone),
    ("vqvae", "lookup_dim", "lookup_dim", Kind::UsizeOrNone),
    ("vqvae", "rotation_trick", "rotation_trick", Kind::Bool),
    ("vqvae", "simvq", "simvq", Kind::Bool),
    ("fsq", "levels", "levels", Kind::Counts),
    (PENALTY, "entropy_weight", "entropy_weight", Kind::F64),
    (PENALTY, "diversity_gamma", "diversity_gamma", Kind::F64),
    ("lfq", "lfq_commitment", "commitment", Kind::F64),
    (PENALTY, "inv_temperature", "inv_temperature", Kind::F64),
    ("lfq", "spherical", "spherical", Kind::Bool),
    ("vae", "vae_kl_weight", "kl_weight", Kind::F64),
    ("vae", "vae_warmup_steps", "warmup_steps", Kind::Usize),
];

/// The keywords that set the backbone and the optimiser (beside the families').
const RUN_KEYS: [&str; 22] = [
    "preset",
    "recipe",
    "data",
    "steps",
    "batch",
    "seed",
    "checkpoint_every",
    "loss",
    "image_size",
    "group_count",
    "n_hid",
    "n_blk_per_group",
    "vocab_size",
    "n_init",
    "code_dim",
    "lr",
    "lr_end",
    "warmup_steps",
    "weight_decay",
    "ema_decay",
    "grad_clip",
    "log_every",
];

/// The rest: the evaluation data, streaming a folder, the stream's shuffle buffer,
/// augmentation, `family`, and `checkpoint_every_minutes` (an option of the training loop,
/// not part of `config.json`).
const MORE_KEYS: [&str; 8] = [
    "holdout",
    "stream",
    "eval_data",
    "shuffle_buffer",
    "crop_scale",
    "hflip",
    "family",
    "checkpoint_every_minutes",
];

/// Every configuration keyword `dvae.train` takes.
pub fn keys() -> Vec<&'static str> {
    let family = FAMILY_KEYS.iter().map(|k| k.1);
    RUN_KEYS
        .into_iter()
        .chain(MORE_KEYS)
        .chain(family)
        .collect()
}

/// The configuration keywords given (not None) in `kw`.
pub struct Given<'a, 'py> {
    kw: &'a Bound<'py, PyDict>,
}

impl<'a, 'py> Given<'a, 'py> {
    /// Checks that every key of `kw` is a configuration keyword (`TypeError` otherwise, as
    /// Python reports an unexpected keyword argument).
    pub fn new(kw: &'a Bound<'py, PyDict>) -> PyResult<Self> {
        let known = keys();
        for key in kw.keys() {
            let key: String = key.extract()?;
            if !known.contains(&key.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "train() got an unexpected keyword argument '{key}'"
                )));
            }
        }
        Ok(Self { kw })
    }

    /// The names of the keywords given a value other than None.
    pub fn names(&self) -> PyResult<Vec<String>> {
        let mut out = Vec::new();
        for (k, v) in self.kw.iter() {
            if !v.is_none() {
                out.push(k.extract()?);
            }
        }
        Ok(out)
    }

    /// The value of `key`, if given (not None); a value of the wrong type is a TypeError
    /// naming the keyword.
    pub fn get<T: FromPyObjectOwned<'py>>(&self, key: &str) -> PyResult<Option<T>> {
        match self.kw.get_item(key)? {
            Some(v) if !v.is_none() => v
                .extract::<T>()
                .map(Some)
                .map_err(|e| PyTypeError::new_err(format!("{key}: {}", Into::<PyErr>::into(e)))),
            _ => Ok(None),
        }
    }

    /// A text value parsed by the library's `FromStr` (its error names every accepted value).
    fn parsed<T: FromStr<Err = dvae::Error>>(&self, key: &str) -> PyResult<Option<T>> {
        self.get::<String>(key)?
            .map(|s| s.parse::<T>().map_err(to_py))
            .transpose()
    }

    /// The configuration of a new run these keywords describe.
    pub fn resolve(&self) -> PyResult<RunConfig> {
        let preset = self
            .get::<String>("preset")?
            .unwrap_or_else(|| "small".into());
        let mut m = ModelConfig::preset(&preset).map_err(to_py)?;
        macro_rules! set {
            ($dst:expr, $ty:ty, $($f:ident),*) => {
                $( if let Some(v) = self.get::<$ty>(stringify!($f))? { $dst.$f = v; } )*
            };
        }
        set!(
            m,
            usize,
            image_size,
            group_count,
            n_hid,
            n_blk_per_group,
            vocab_size
        );
        set!(m, usize, n_init, code_dim);
        if let Some(l) = self.parsed::<ReconLoss>("loss")? {
            m.recon_loss = l;
        }
        let (default_steps, default_batch) = preset_budget(&preset);
        let steps = self.get::<usize>("steps")?.unwrap_or(default_steps);
        let recipe = self.parsed::<Recipe>("recipe")?.unwrap_or(Recipe::Default);
        let mut t = TrainConfig::recipe(recipe, steps);
        t.batch = default_batch;
        set!(t, usize, batch, checkpoint_every, warmup_steps, log_every);
        set!(t, u64, seed);
        set!(t, f64, lr, lr_end, weight_decay, ema_decay, holdout);
        set!(t, usize, shuffle_buffer);
        if let Some(e) = self.get::<std::path::PathBuf>("eval_data")? {
            t.eval_data = Some(e.display().to_string());
        }
        if let Some([lo, hi]) = self.get::<[f64; 2]>("crop_scale")? {
            t.augment.crop_scale = Some([lo, hi]);
        }
        if let Some(h) = self.get::<bool>("hflip")? {
            t.augment.hflip = h;
        }
        if let Some(v) = self.get::<bool>("stream")? {
            t.stream = v;
        }
        if let Some(c) = self.get::<f64>("grad_clip")? {
            t.grad_clip = (c > 0.0).then_some(c);
        }
        t.checkpoint_every = t.checkpoint_every.min(steps.max(1));
        let name = self
            .get::<String>("family")?
            .unwrap_or_else(|| "dvae".into());
        let family = FamilyConfig::of_model(&name, recipe, steps, &m).map_err(to_py)?;
        let bottleneck = self.apply_family(family)?;
        if self.get::<usize>("vocab_size")?.is_none()
            && let Some(k) = bottleneck.family().vocab(&m)
        {
            // A family whose options fix the vocabulary (FSQ's levels) sets it.
            m.vocab_size = k;
        }
        let data = self.get::<std::path::PathBuf>("data")?;
        let config = RunConfig {
            format_version: FORMAT_VERSION,
            preset,
            model: m,
            bottleneck,
            train: t,
            data: data.map_or_else(|| "default".into(), |p| p.display().to_string()),
        };
        config.validate().map_err(to_py)?;
        Ok(config)
    }

    /// `family` with the family keywords applied; one of another family is a ValueError.
    fn apply_family(&self, family: FamilyConfig) -> PyResult<FamilyConfig> {
        let name = family.name();
        let mut v = serde_json::to_value(&family).map_err(|e| value_error(e.to_string()))?;
        if self.get::<bool>("simvq")? == Some(true) {
            // SimVQ's codebook is a frozen basis seen through a learned map: nothing for an
            // EMA, k-means or a restart to move, unless asked for (then refused).
            v["ema"] = Value::Bool(false);
            v["kmeans_init"] = Value::Bool(false);
            v["restart_after"] = Value::Null;
        }
        for (owner, key, config_key, kind) in FAMILY_KEYS {
            let Some(value) = self.family_value(key, kind)? else {
                continue;
            };
            if !owns(owner, name) {
                return Err(value_error(format!(
                    "{key} is an option of family=\"{owner}\", not of \"{name}\""
                )));
            }
            v[config_key] = value;
        }
        serde_json::from_value(v).map_err(|e| value_error(e.to_string()))
    }

    /// The JSON value of family keyword `key`, if given.
    fn family_value(&self, key: &str, kind: Kind) -> PyResult<Option<Value>> {
        let or_null = |v: Value, positive: bool| if positive { v } else { Value::Null };
        Ok(match kind {
            Kind::F64 => self.get::<f64>(key)?.map(Value::from),
            Kind::Usize => self.get::<usize>(key)?.map(Value::from),
            Kind::Bool => self.get::<bool>(key)?.map(Value::from),
            Kind::Tau => self
                .parsed::<TauSchedule>(key)?
                .map(|s| Value::from(s.name())),
            Kind::Beta => self
                .parsed::<BetaSchedule>(key)?
                .map(|s| Value::from(s.name())),
            Kind::Logits => self
                .parsed::<CodeLogits>(key)?
                .map(|s| Value::from(s.name())),
            Kind::F64OrNone => self.get::<f64>(key)?.map(|v| or_null(v.into(), v > 0.0)),
            Kind::UsizeOrNone => self.get::<usize>(key)?.map(|v| or_null(v.into(), v > 0)),
            Kind::Counts => self.get::<Vec<usize>>(key)?.map(Value::from),
        })
    }
}

/// Steps and batch of a run when `steps`/`batch` are not given: the CLI's defaults
/// (`train_flags.rs`, `preset_budget`).
fn preset_budget(preset: &str) -> (usize, usize) {
    match preset {
        "small" => (700, 16),
        "tiny" => (2000, 32),
        _ => (1000, 32),
    }
}
