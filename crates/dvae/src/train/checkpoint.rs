//! Checkpoints for exact resume, written so that a crash at any moment leaves the previous
//! complete checkpoint in place.
//!
//! A checkpoint is a folder `checkpoint/step-N/` holding the training weights (burnpack,
//! which keeps the parameter ids the optimizer state is keyed by), the optimizer state, the
//! EMA weights and `state.json`. It is written under a temporary name, synced, and renamed;
//! then `checkpoint/LATEST` is replaced atomically to name it; then older ones are removed.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::artifact::RunDir;
use crate::atomic::{pause_in_write, sync_dir, write_bytes_atomic};
use crate::error::{Error, Result};
use crate::model::Network;
use crate::run_config::FORMAT_VERSION;

/// What `state.json` records besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Format version of the checkpoint.
    pub format_version: u32,
    /// Steps completed.
    pub step: usize,
    /// Factor on the scheduled learning rate (0.5 after a rollback from a non-finite step).
    #[serde(default = "one")]
    pub lr_scale: f64,
    /// The step the run was rolled back to after a non-finite step, if that happened (it
    /// happens at most once; a second fault stops the run).
    #[serde(default)]
    pub rolled_back_to: Option<usize>,
    /// Where a shard stream stands after this step's batch (absent for data in memory,
    /// whose batches follow from the step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<crate::data::loader::StreamPos>,
}

fn one() -> f64 {
    1.0
}

impl TrainState {
    /// The state of a run at `step` with the full learning rate and no rollback.
    pub fn at(step: usize) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            step,
            lr_scale: 1.0,
            rolled_back_to: None,
            stream: None,
        }
    }
}

pub(crate) const WEIGHTS: &str = "weights.bpk";
pub(crate) const EMA: &str = "ema.safetensors";
pub(crate) const OPTIM: &str = "optim.bpk";
pub(crate) const STATE: &str = "state.json";

fn io<T>(path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| Error::io(path, e))
}

fn record_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::run(path, format!("cannot write or read checkpoint file: {e}"))
}

/// Writes a checkpoint of `state.step` completed steps.
pub fn save(
    run: &RunDir,
    state: &TrainState,
    model: &Network,
    ema: &Network,
    optim: &ModuleOptimizer,
) -> Result<()> {
    commit(&run.checkpoints(), state.step, |tmp| {
        write_files(tmp, state, model, ema, optim)
    })
}

/// Writes the checkpoint folder of `step` under `root` whole or not at all: `fill` writes
/// into a temporary folder, whose files are synced before it is renamed into place; then
/// `root/LATEST` names it (replaced atomically) and older ones are removed. A failed
/// write leaves nothing behind but the previous checkpoint.
pub fn commit(root: &Path, step: usize, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    io(root, std::fs::create_dir_all(root))?;
    // A folder of this step may exist already: the current checkpoint, when a run stops
    // right after writing it, or one a crash left before LATEST named it. It is never
    // replaced in place (a kill in between would leave LATEST naming nothing): the new one
    // takes the next free name.
    let mut name = format!("step-{step:08}");
    for n in 1.. {
        if !root.join(&name).exists() {
            break;
        }
        name = format!("step-{step:08}.{n}");
    }
    let tmp = root.join(format!(".{name}.tmp"));
    if tmp.exists() {
        io(&tmp, std::fs::remove_dir_all(&tmp))?;
    }
    io(&tmp, std::fs::create_dir_all(&tmp))?;
    if let Err(e) = fill(&tmp).and_then(|()| sync_folder(&tmp)) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::run(
            root,
            format!(
                "the checkpoint of step {step} was not written (the previous one is kept): {e}"
            ),
        ));
    }
    let dest = root.join(&name);
    pause_in_write();
    io(&dest, std::fs::rename(&tmp, &dest))?;
    sync_dir(root);
    write_bytes_atomic(&root.join("LATEST"), name.as_bytes())?;
    // Older checkpoints (and leftovers of interrupted writes) are no longer needed.
    for entry in io(root, std::fs::read_dir(root))?.flatten() {
        let n = entry.file_name().to_string_lossy().to_string();
        if n != name && (n.starts_with("step-") || (n.starts_with(".step-") && n.ends_with(".tmp")))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Syncs every file of `dir`, then the folder itself.
fn sync_folder(dir: &Path) -> Result<()> {
    for entry in io(dir, std::fs::read_dir(dir))?.flatten() {
        let p = entry.path();
        io(&p, std::fs::File::open(&p).and_then(|f| f.sync_all()))?;
    }
    sync_dir(dir);
    Ok(())
}

/// Writes the files of a checkpoint into the folder `dir`.
fn write_files(
    dir: &Path,
    state: &TrainState,
    model: &Network,
    ema: &Network,
    optim: &ModuleOptimizer,
) -> Result<()> {
    let p = dir.join(WEIGHTS);
    model.valid().save_file(&p).map_err(|e| record_err(&p, e))?;
    crate::reproducible::save_optimizer(optim, &dir.join(OPTIM))?;
    let p = dir.join(EMA);
    let mut store = SafetensorsStore::from_file(&p).overwrite(true);
    ema.save_into(&mut store).map_err(|e| record_err(&p, e))?;
    crate::reproducible::sort_safetensors_metadata(&p)?;
    write_state(dir, state)
}

/// Writes `state.json` into the checkpoint folder `dir`.
pub fn write_state(dir: &Path, state: &TrainState) -> Result<()> {
    let p = dir.join(STATE);
    io(
        &p,
        std::fs::write(
            &p,
            serde_json::to_vec_pretty(state).expect("state serialises"),
        ),
    )
}

/// The newest complete checkpoint of `run`, if any.
pub fn latest(run: &RunDir) -> Result<Option<(PathBuf, TrainState)>> {
    let Some(dir) = latest_dir(&run.checkpoints())? else {
        return Ok(None);
    };
    Ok(Some((dir.clone(), read_state(&dir)?)))
}

/// The checkpoint folder `root/LATEST` names, if there is one.
pub fn latest_dir(root: &Path) -> Result<Option<PathBuf>> {
    let pointer = root.join("LATEST");
    let name = match std::fs::read_to_string(&pointer) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&pointer, e)),
    };
    // LATEST names a folder beside it; anything else is a damaged file, not a path to follow.
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let valid = name
        .strip_prefix("step-")
        .is_some_and(|n| match n.split_once('.') {
            Some((step, k)) => digits(step) && digits(k),
            None => digits(n),
        });
    if !valid {
        return Err(Error::run(
            &pointer,
            format!("corrupt checkpoint pointer: expected a name like step-00000100, got {name:?}"),
        ));
    }
    Ok(Some(root.join(&name)))
}

/// The `state.json` of checkpoint folder `dir`.
pub fn read_state(dir: &Path) -> Result<TrainState> {
    let state_path = dir.join(STATE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| {
        Error::run(
            &state_path,
            format!("checkpoint named by LATEST is unreadable: {e}"),
        )
    })?;
    TrainState::from_json(&state_path, &text)
}

impl TrainState {
    /// Parses the text of a `state.json`, refusing a checkpoint of a newer format;
    /// `path` is used in messages.
    pub fn from_json(path: &Path, text: &str) -> Result<Self> {
        let state: TrainState = serde_json::from_str(text)
            .map_err(|e| Error::run(path, format!("corrupt checkpoint state: {e}")))?;
        if state.format_version > FORMAT_VERSION {
            return Err(Error::run(
                path,
                format!(
                    "checkpoint written by a newer dvae (format {}, this build reads up to {FORMAT_VERSION})",
                    state.format_version
                ),
            ));
        }
        Ok(state)
    }
}

/// Loads the training weights of checkpoint `dir` into `model` (restoring the saved
/// parameter ids, which the optimizer state and the EMA are matched by) and its EMA weights
/// into a copy of it.
pub fn load_models(dir: &Path, model: Network) -> Result<(Network, Network)> {
    let p = dir.join(WEIGHTS);
    let model = crate::run_config::v1::load_record(model, &p).map_err(|e| record_err(&p, e))?;
    let ema = crate::weights::load_weights(model.valid(), &dir.join(EMA))?;
    Ok((model, ema))
}
