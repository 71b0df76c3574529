//! `dvae._dvae`: the native module of the `dvae` Python package — the library's
//! tokenizer, loaders, metrics, import and training on numpy arrays. The pure-Python
//! package (`python/dvae/`) re-exports it and adds `dvae.ray`.
//!
//! Every function converts the library's errors to Python exceptions with the CLI's
//! message (`errors.rs`), releases the GIL while the model runs, and checks for Ctrl-C
//! between batches.

mod errors;
mod ids;
mod images;
mod import;
mod json;
mod loading;
mod metrics;
mod tokenizer;
mod train;
mod train_config;

use pyo3::prelude::*;

/// The native half of the dvae package: use it through ``import dvae``.
#[pymodule]
fn _dvae(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::install_panic_hook();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DvaeError", m.py().get_type::<errors::DvaeError>())?;
    m.add_class::<tokenizer::PyTokenizer>()?;
    m.add_function(wrap_pyfunction!(loading::load_images, m)?)?;
    m.add_function(wrap_pyfunction!(loading::list_images, m)?)?;
    m.add_function(wrap_pyfunction!(loading::resize_crop, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::metrics, m)?)?;
    m.add_function(wrap_pyfunction!(import::import_openai, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(train_keys, m)?)?;
    m.add_function(wrap_pyfunction!(retain_freed_memory, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}

/// Panics on a thread of the compute pool, inside the guard every function runs in: the
/// tests check that this reaches Python as a DvaeError and prints nothing.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    errors::guard(|| {
        py.detach(|| rayon::join(|| panic!("a test of the panic guard"), || ()));
        Ok(())
    })
}

/// Sets glibc's allocator as the ``dvae`` binary sets it at start: blocks up to 1 GiB are
/// served from the heap and freed memory is kept for reuse instead of being unmapped and
/// faulted in again at every batch (a fifth of a training step). Process-wide and for the
/// rest of the process; ``train`` calls it, as ``dvae train`` does. Returns whether the
/// allocator took the settings (False where the C library is not glibc).
#[pyfunction]
fn retain_freed_memory() -> bool {
    dvae::alloc::retain_freed_memory()
}

/// The configuration keywords ``train`` takes (the flags of ``dvae train``).
#[pyfunction]
fn train_keys() -> Vec<&'static str> {
    train_config::keys()
}
