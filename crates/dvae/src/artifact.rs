//! Files on disk: atomic writes and the layout of a run directory.
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

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::RunConfig;
use crate::error::{Error, Result};

/// Writes `path` by letting `write` fill a temporary file beside it, syncing it to disk and
/// renaming it over `path`, so a reader (or a crash) sees the old file or the new one, never
/// a partial one. Errors of `write` should name `path`, the file the user knows.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = write(&tmp).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        pause_in_write();
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Test hook: with `DVAE_PAUSE_IN_WRITE_MS=N` in the environment, every atomic write
/// ([`write_atomic`], and the checkpoint folder of
/// [`checkpoint::commit`](crate::train::checkpoint::commit)) sleeps N ms once its temporary
/// file or folder is complete and synced, just before renaming it into place, so that a test
/// can kill the process in the middle of a write on every run, not only by chance
/// (`crates/dvae-cli/tests/cli/faults.rs`). The variable is read once; unset, or not a
/// number, it does nothing.
pub(crate) fn pause_in_write() {
    static PAUSE: OnceLock<Option<Duration>> = OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        std::env::var("DVAE_PAUSE_IN_WRITE_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_millis)
    });
    if let Some(p) = pause {
        std::thread::sleep(*p);
    }
}

/// [`write_atomic`] for bytes.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |tmp| {
        let mut f = File::create(tmp).map_err(|e| Error::io(path, e))?;
        f.write_all(bytes).map_err(|e| Error::io(path, e))
    })
}

/// Removes the temporary files and folders (`.NAME.tmp`, `.NAME.PID.tmp`) that writes
/// interrupted by a kill left in `dir`; best effort.
pub fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

/// Makes a directory's entries (a rename) durable; best effort where unsupported.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

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
