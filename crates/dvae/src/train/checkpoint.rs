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

use crate::artifact::{RunDir, sync_dir, write_bytes_atomic};
use crate::config::FORMAT_VERSION;
use crate::error::{Error, Result};
use crate::model::DvaeModel;

/// What `state.json` records besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Format version of the checkpoint.
    pub format_version: u32,
    /// Steps completed.
    pub step: usize,
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

/// Writes a checkpoint of `step` completed steps.
pub fn save(
    run: &RunDir,
    step: usize,
    model: &DvaeModel,
    ema: &DvaeModel,
    optim: &ModuleOptimizer,
) -> Result<()> {
    let root = run.checkpoints();
    io(&root, std::fs::create_dir_all(&root))?;
    let name = format!("step-{step:08}");
    let tmp = root.join(format!(".{name}.tmp"));
    if tmp.exists() {
        io(&tmp, std::fs::remove_dir_all(&tmp))?;
    }
    io(&tmp, std::fs::create_dir_all(&tmp))?;
    let p = tmp.join(WEIGHTS);
    model.valid().save_file(&p).map_err(|e| record_err(&p, e))?;
    let p = tmp.join(OPTIM);
    optim.save(&p).map_err(|e| record_err(&p, e))?;
    let p = tmp.join(EMA);
    let mut store = SafetensorsStore::from_file(&p).overwrite(true);
    ema.save_into(&mut store).map_err(|e| record_err(&p, e))?;
    let state = TrainState {
        format_version: FORMAT_VERSION,
        step,
    };
    let p = tmp.join(STATE);
    io(
        &p,
        std::fs::write(
            &p,
            serde_json::to_vec_pretty(&state).expect("state serialises"),
        ),
    )?;
    for f in [WEIGHTS, OPTIM, EMA, STATE] {
        let p = tmp.join(f);
        io(&p, std::fs::File::open(&p).and_then(|f| f.sync_all()))?;
    }
    sync_dir(&tmp);
    let dest = root.join(&name);
    if dest.exists() {
        io(&dest, std::fs::remove_dir_all(&dest))?;
    }
    io(&dest, std::fs::rename(&tmp, &dest))?;
    sync_dir(&root);
    write_bytes_atomic(&root.join("LATEST"), name.as_bytes())?;
    // Older checkpoints (and leftovers of interrupted writes) are no longer needed.
    for entry in io(&root, std::fs::read_dir(&root))?.flatten() {
        let n = entry.file_name().to_string_lossy().to_string();
        if n != name && (n.starts_with("step-") || (n.starts_with(".step-") && n.ends_with(".tmp")))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// The newest complete checkpoint of `run`, if any.
pub fn latest(run: &RunDir) -> Result<Option<(PathBuf, TrainState)>> {
    let root = run.checkpoints();
    let pointer = root.join("LATEST");
    let name = match std::fs::read_to_string(&pointer) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&pointer, e)),
    };
    let dir = root.join(&name);
    let state_path = dir.join(STATE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| {
        Error::run(
            &state_path,
            format!("checkpoint named by LATEST is unreadable: {e}"),
        )
    })?;
    let state: TrainState = serde_json::from_str(&text)
        .map_err(|e| Error::run(&state_path, format!("corrupt checkpoint state: {e}")))?;
    if state.format_version > FORMAT_VERSION {
        return Err(Error::run(
            &state_path,
            format!(
                "checkpoint written by a newer dvae (format {}, this build reads up to {FORMAT_VERSION})",
                state.format_version
            ),
        ));
    }
    Ok(Some((dir, state)))
}

/// Loads the training weights of checkpoint `dir` into `model` (restoring the saved
/// parameter ids, which the optimizer state and the EMA are matched by) and its EMA weights
/// into a copy of it.
pub fn load_models(dir: &Path, model: DvaeModel) -> Result<(DvaeModel, DvaeModel)> {
    let p = dir.join(WEIGHTS);
    let model = model.try_load_file(&p).map_err(|e| record_err(&p, e))?;
    let ema = crate::pipeline::load_weights(model.valid(), &dir.join(EMA))?;
    Ok((model, ema))
}
