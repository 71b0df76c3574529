//! Token ids between Python and the model: integer grids `[N, h, w]` read and checked as
//! `dvae decode` checks a token file, and the model's tokens handed to numpy in the dtype
//! asked for, without a copy.

use numpy::ndarray::Array3;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::value_error;
use crate::images::{as_ndarray, dtype_name, shape_text};

/// Token grids read from Python: `n` grids of `h`×`w` ids, each below the vocabulary.
pub struct Grids {
    /// Number of grids.
    pub n: usize,
    /// Grid side.
    pub g: usize,
    /// `n·g·g` ids, row-major.
    pub ids: Vec<u32>,
}

/// Reads `obj` as token grids of `grid`×`grid` ids below `vocab_size`; a wrong dtype,
/// shape or id is a `ValueError` with `dvae decode`'s message (without a file name).
pub fn read(obj: &Bound<'_, PyAny>, grid: usize, vocab_size: usize) -> PyResult<Grids> {
    let array = as_ndarray(obj)?;
    let kind: String = array.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind != "i" && kind != "u" {
        return Err(value_error(format!(
            "token ids must be an integer array [N, {grid}, {grid}] (int64, int32, uint16, …), \
             got dtype {}",
            dtype_name(&array)?
        )));
    }
    let shape = array.shape().to_vec();
    let (n, h, w) = match shape.as_slice() {
        &[n, h, w] => (n, h, w),
        other => {
            let one = if other.len() == 2 {
                "; for one grid pass ids[None]"
            } else {
                ""
            };
            return Err(value_error(format!(
                "token ids must be [N, {grid}, {grid}], got shape {}{one}",
                shape_text(other)
            )));
        }
    };
    if (h, w) != (grid, grid) {
        return Err(value_error(dvae::tokens::grid_mismatch(grid, h, w)));
    }
    // int64 as it is, any other integer dtype converted by numpy (a uint64 above i64::MAX
    // wraps to a negative id, reported as out of range); then one pass in logical order,
    // whatever the layout.
    let kwargs = pyo3::types::PyDict::new(obj.py());
    kwargs.set_item("copy", false)?;
    let wide = array.call_method("astype", ("int64",), Some(&kwargs))?;
    let wide = wide.cast::<PyArrayDyn<i64>>()?.readonly();
    let view = wide.as_array();
    let mut ids = Vec::with_capacity(n * h * w);
    for (i, &t) in view.iter().enumerate() {
        if t < 0 || t >= vocab_size as i64 {
            return Err(value_error(dvae::tokens::id_out_of_range(
                i,
                t,
                h * w,
                vocab_size,
            )));
        }
        ids.push(t as u32);
    }
    Ok(Grids { n, g: grid, ids })
}

/// Token ids being collected for numpy in one dtype.
pub enum Out {
    /// `int64` (the default: what indexing and PyTorch's embeddings take).
    I64(Vec<i64>),
    /// `int32`.
    I32(Vec<i32>),
    /// `uint32`.
    U32(Vec<u32>),
    /// `uint16` (what `dvae encode` writes), for vocabularies up to 65536.
    U16(Vec<u16>),
}

impl Out {
    /// An empty collection for `cells` ids in the dtype named `dtype` (anything
    /// `numpy.dtype` takes); a dtype that cannot hold every id below `vocab_size` is a
    /// `ValueError`.
    pub fn new(dtype: &Bound<'_, PyAny>, cells: usize, vocab_size: usize) -> PyResult<Self> {
        let np = dtype.py().import("numpy")?;
        let name: String = np
            .call_method1("dtype", (dtype,))
            .map_err(|e| value_error(format!("dtype: {e}")))?
            .getattr("name")?
            .extract()?;
        Ok(match name.as_str() {
            "int64" => Out::I64(Vec::with_capacity(cells)),
            "int32" => Out::I32(Vec::with_capacity(cells)),
            "uint32" => Out::U32(Vec::with_capacity(cells)),
            "uint16" if vocab_size <= 1 << 16 => Out::U16(Vec::with_capacity(cells)),
            "uint16" => {
                return Err(value_error(format!(
                    "dtype uint16 cannot hold the ids of {vocab_size} codes; use int64 or int32"
                )));
            }
            other => {
                return Err(value_error(format!(
                    "dtype must be int64, int32, uint32 or uint16 for token ids, got {other}"
                )));
            }
        })
    }

    /// Appends one batch of ids.
    pub fn extend(&mut self, ids: &[u32]) {
        match self {
            Out::I64(v) => v.extend(ids.iter().map(|&t| t as i64)),
            Out::I32(v) => v.extend(ids.iter().map(|&t| t as i32)),
            Out::U32(v) => v.extend_from_slice(ids),
            Out::U16(v) => v.extend(ids.iter().map(|&t| t as u16)),
        }
    }

    /// The ids as a numpy array `[n, g, g]` that owns this memory (no copy).
    pub fn into_py(self, py: Python<'_>, n: usize, g: usize) -> PyResult<Bound<'_, PyAny>> {
        fn wrap<T: numpy::Element>(
            py: Python<'_>,
            v: Vec<T>,
            shape: (usize, usize, usize),
        ) -> PyResult<Bound<'_, PyAny>> {
            let a = Array3::from_shape_vec(shape, v).map_err(|e| value_error(e.to_string()))?;
            Ok(a.into_pyarray(py).into_any())
        }
        let shape = (n, g, g);
        match self {
            Out::I64(v) => wrap(py, v, shape),
            Out::I32(v) => wrap(py, v, shape),
            Out::U32(v) => wrap(py, v, shape),
            Out::U16(v) => wrap(py, v, shape),
        }
    }
}
