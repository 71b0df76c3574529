//! The library's errors as Python exceptions, and the guard that keeps a Rust panic from
//! reaching Python.
//!
//! A bad shape, dtype, id or option value is a `ValueError`; a missing file, folder or run
//! directory a `FileNotFoundError`; anything else `dvae.DvaeError`. Each carries the one
//! line the CLI prints after `error: `.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use dvae::Error;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    dvae,
    DvaeError,
    PyException,
    "An error of the dvae toolkit that is not a bad argument or a missing file: a corrupt \
     run directory or image, a run that holds only one half of the network, a failed write."
);

/// A Python exception for a library error: its message is the CLI's line.
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    classify(&e, message)
}

/// [`to_py`] with `context: ` before the message, as the CLI adds context to some errors.
pub fn to_py_with(e: Error, context: &str) -> PyErr {
    let message = format!("{context}: {e}");
    classify(&e, message)
}

/// The exception class of `e`, carrying `message`.
fn classify(e: &Error, message: String) -> PyErr {
    let missing = |p: &std::path::Path| !p.as_os_str().is_empty() && !p.exists();
    match e {
        Error::Shape(_) | Error::Config { .. } => PyValueError::new_err(message),
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        // A run directory, its config.json or weights, or a data folder that is not there.
        Error::Run { path, .. } | Error::Data { path, .. } if missing(path) => {
            PyFileNotFoundError::new_err(message)
        }
        _ => DvaeError::new_err(message),
    }
}

/// A `ValueError` with `message`.
pub fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// Guards running now: while one runs, the panic hook records the message instead of
/// printing it.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// The message and place of the last panic inside a guard.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Installs the panic hook (once, at import): inside [`guard`] a panic's message is kept
/// for the exception; elsewhere the previous hook runs as before.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if ACTIVE.load(Ordering::SeqCst) == 0 {
            previous(info);
            return;
        }
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{what}{at}"));
        }
    }));
}

/// Runs `f`; a panic inside it (on this thread or a pool thread it waited for) becomes a
/// `DvaeError` naming it as an internal error, and its message is not printed.
pub fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    ACTIVE.fetch_add(1, Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(f));
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    result.unwrap_or_else(|payload| Err(internal(payload)))
}

/// The `DvaeError` of a caught panic `payload`.
pub fn internal(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let recorded = LAST_PANIC.lock().ok().and_then(|mut l| l.take());
    let what = recorded
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    DvaeError::new_err(format!(
        "internal error in dvae (a bug, please report it): {what}"
    ))
}
