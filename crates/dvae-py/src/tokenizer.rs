//! `dvae.Tokenizer`: a run directory loaded once, images ↔ tokens on numpy arrays.
//!
//! Each call runs batch by batch: the batch is read from numpy with the GIL held (see
//! `images.rs`), the model runs with the GIL released, and Ctrl-C is checked between
//! batches. Results are collected into one buffer that numpy then owns (no copy out).

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::TensorData;
use dvae::kernels::host::{float_values, int_values, tokens_tensor};
use numpy::ndarray::Array4;
use numpy::{IntoPyArray, PyArray4};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{guard, to_py};
use crate::images::Images;
use crate::{ids, json};

/// A trained tokenizer: a run directory of `dvae train` or `dvae.import_openai`, loaded
/// once. Safe to share between threads; its calls release the GIL.
#[pyclass(frozen, module = "dvae", name = "Tokenizer")]
pub struct PyTokenizer {
    inner: dvae::Tokenizer,
    run_dir: PathBuf,
}

/// The batches of `n` items, `batch` at a time.
fn batches(n: usize, batch: usize) -> PyResult<impl Iterator<Item = (usize, usize)>> {
    if batch == 0 {
        return Err(crate::errors::value_error("batch must be at least 1"));
    }
    Ok((0..n).step_by(batch).map(move |s| (s, (s + batch).min(n))))
}

impl PyTokenizer {
    fn model(&self) -> &dvae::config::ModelConfig {
        &self.inner.config.model
    }

    /// CHW floats of `b` images as a tensor on the model's device.
    fn tensor(&self, values: Vec<f32>, b: usize) -> Tensor<4> {
        let m = self.model();
        let shape = [b, m.input_channels, m.image_size, m.image_size];
        Tensor::from_data(TensorData::new(values, shape), self.inner.device())
    }
}

#[pymethods]
impl PyTokenizer {
    /// Loads a run directory (its ``config.json`` and ``model.safetensors``).
    ///
    /// Raises FileNotFoundError when the directory or one of its files is missing, and
    /// DvaeError when a file is unreadable or does not fit the configuration.
    #[staticmethod]
    fn load(py: Python<'_>, run_dir: PathBuf) -> PyResult<Self> {
        guard(|| {
            let inner = py
                .detach(|| dvae::Tokenizer::load(&run_dir))
                .map_err(to_py)?;
            Ok(Self { inner, run_dir })
        })
    }

    /// Tokens of images: the most likely code of each grid cell.
    ///
    /// images: uint8 [N, H, W, 3] (as image files decode) or float32 [N, 3, H, W] with
    ///     values in [0, 1], H = W = image_size; any layout (C-contiguous arrays are read
    ///     in place).
    /// batch: images per model call.
    /// dtype: of the result: int64 (default), int32, uint32 or uint16 (what ``dvae
    ///     encode`` writes).
    ///
    /// Returns [N, grid, grid] token ids in 0..vocab_size: the ids ``dvae encode`` writes
    /// for the same pixels.
    #[pyo3(signature = (images, *, batch = 64, dtype = None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        batch: usize,
        dtype: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let images = Images::from_py(images, "images")?;
            let m = self.model();
            images.check(m.input_channels, m.image_size)?;
            let (n, g) = (images.len(), m.grid_size());
            let int64 = pyo3::intern!(py, "int64").clone().into_any();
            let mut out = ids::Out::new(dtype.unwrap_or(&int64), n * g * g, m.vocab_size)?;
            for (start, end) in batches(n, batch)? {
                let x = images.chw(start, end)?;
                let tokens = py
                    .detach(|| {
                        let t = self.inner.encode(self.tensor(x, end - start))?;
                        Ok(int_values(t))
                    })
                    .map_err(to_py)?;
                out.extend(&tokens);
                py.check_signals()?;
            }
            out.into_py(py, n, g)
        })
    }

    /// Images from token grids.
    ///
    /// ids: integer [N, grid, grid] token ids (any integer dtype), each in 0..vocab_size.
    /// batch: grids per model call.
    ///
    /// Returns uint8 [N, image_size, image_size, 3]: the pixels of the PNGs ``dvae decode``
    /// writes for the same ids.
    #[pyo3(signature = (ids, *, batch = 64))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        batch: usize,
    ) -> PyResult<Bound<'py, PyArray4<u8>>> {
        guard(|| {
            let m = self.model();
            let grids = ids::read(ids, m.grid_size(), m.vocab_size)?;
            let (s, g, c) = (m.image_size, grids.g, m.input_channels);
            let per = s * s * c;
            let mut out = vec![0u8; grids.n * per];
            for (start, end) in batches(grids.n, batch)? {
                let chunk = grids.ids[start * g * g..end * g * g].to_vec();
                let dst = &mut out[start * per..end * per];
                py.detach(|| -> dvae::Result<()> {
                    let t = tokens_tensor(chunk, [end - start, g, g], self.inner.device());
                    let px = float_values(self.inner.decode(t)?);
                    for (chw, hwc) in px.chunks_exact(per).zip(dst.chunks_exact_mut(per)) {
                        dvae::grid::chw_to_hwc_into(chw, hwc);
                    }
                    Ok(())
                })
                .map_err(to_py)?;
                py.check_signals()?;
            }
            let a = Array4::from_shape_vec((grids.n, s, s, c), out)
                .map_err(|e| crate::errors::value_error(e.to_string()))?;
            Ok(a.into_pyarray(py))
        })
    }

    /// The encoder's logits of q(z|x) over the codes, for the dvae family (DvaeError for a
    /// family without logits).
    ///
    /// images: as for encode.
    ///
    /// Returns float32 [N, vocab_size, grid, grid]; their argmax over axis 1 is encode's
    /// tokens.
    #[pyo3(signature = (images, *, batch = 64))]
    fn logits<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        batch: usize,
    ) -> PyResult<Bound<'py, PyArray4<f32>>> {
        guard(|| {
            let images = Images::from_py(images, "images")?;
            let m = self.model();
            images.check(m.input_channels, m.image_size)?;
            let (n, k, g) = (images.len(), m.vocab_size, m.grid_size());
            let mut out: Vec<f32> = Vec::new();
            for (start, end) in batches(n, batch)? {
                let x = images.chw(start, end)?;
                let values = py
                    .detach(|| {
                        Ok(float_values(
                            self.inner.logits(self.tensor(x, end - start))?,
                        ))
                    })
                    .map_err(to_py)?;
                if out.is_empty() && end == n {
                    out = values;
                } else {
                    out.extend_from_slice(&values);
                }
                py.check_signals()?;
            }
            let a = Array4::from_shape_vec((n, k, g, g), out)
                .map_err(|e| crate::errors::value_error(e.to_string()))?;
            Ok(a.into_pyarray(py))
        })
    }

    /// Number of codes K.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.model().vocab_size
    }

    /// Side of the token grid (image_size / 2^(group_count - 1)).
    #[getter]
    fn grid(&self) -> usize {
        self.model().grid_size()
    }

    /// Side of the square images the model takes and makes, in pixels.
    #[getter]
    fn image_size(&self) -> usize {
        self.model().image_size
    }

    /// The family: dvae, vqvae, vae, ae, fsq or lfq.
    #[getter]
    fn family(&self) -> &'static str {
        self.inner.config.bottleneck.name()
    }

    /// The run's configuration, a dict as config.json holds it.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        json::to_dict(py, &self.inner.config)
    }

    /// The run directory this tokenizer was loaded from.
    #[getter]
    fn run_dir(&self) -> String {
        self.run_dir.display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Tokenizer({:?}: {} family, {} codes, {g}x{g} tokens for {s}x{s} images)",
            self.run_dir.display().to_string(),
            self.family(),
            self.vocab_size(),
            g = self.grid(),
            s = self.image_size()
        )
    }
}
