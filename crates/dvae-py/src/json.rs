//! Library values that serialise to JSON (a run's configuration, an evaluation) as Python
//! objects, through the same serde form `config.json` and `--json` outputs have.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;

/// `value` as the Python object `json.loads` makes of its JSON.
pub fn to_py<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| crate::errors::DvaeError::new_err(format!("cannot serialise: {e}")))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// `value` (a struct) as a dict.
pub fn to_dict<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyDict>> {
    Ok(to_py(py, value)?.cast_into::<PyDict>()?)
}
