//! Files written whole or not at all: a temporary name, a sync, a rename.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

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
