//! `dvae.metrics`: per-image MSE, PSNR and both SSIMs of two image arrays, computed by the
//! functions `dvae eval` averages.

use dvae::metrics::{SsimWindow, mse, psnr, ssim};
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{guard, value_error};
use crate::images::Images;

/// Images scored between two checks for Ctrl-C.
const IMAGES_PER_CHECK: usize = 64;

/// Per-image scores of images ``b`` against ``a`` (pixels in [0, 1], data range 1.0).
///
/// a, b: images of the same shape, each uint8 [N, H, W, C] or float32 [N, C, H, W] in
///     [0, 1] (the two may differ in dtype).
///
/// Returns a dict of float64 [N] arrays: ``mse``, ``psnr`` (dB, 100 for identical
/// images), ``ssim`` (11-tap Gaussian window, sigma 1.5) and ``ssim_uniform`` (7x7 uniform
/// window, sample covariances), NaN where an image is smaller than the window. Their means
/// over a run's reconstructions of 8-bit images are ``dvae eval``'s mse, psnr, ssim and
/// ssim_uniform.
#[pyfunction]
pub fn metrics<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let (a, b) = (Images::from_py(a, "a")?, Images::from_py(b, "b")?);
        let (da, db) = (a.dims(), b.dims());
        if da != db {
            return Err(value_error(format!(
                "shape mismatch: a holds [N, C, H, W] = {da:?} but b {db:?}"
            )));
        }
        let [n, c, h, w] = da;
        let mut scores: [Vec<f64>; 4] = std::array::from_fn(|_| Vec::with_capacity(n));
        for start in (0..n).step_by(IMAGES_PER_CHECK) {
            let end = (start + IMAGES_PER_CHECK).min(n);
            let (xa, xb) = (a.chw(start, end)?, b.chw(start, end)?);
            py.detach(|| {
                let per = (c * h * w).max(1);
                for (x, y) in xa.chunks_exact(per).zip(xb.chunks_exact(per)) {
                    let m = mse(x, y);
                    let s = |window| ssim(x, y, c, h, w, window).unwrap_or(f64::NAN);
                    scores[0].push(m);
                    scores[1].push(psnr(m));
                    scores[2].push(s(SsimWindow::Gaussian));
                    scores[3].push(s(SsimWindow::Uniform));
                }
            });
            py.check_signals()?;
        }
        let out = PyDict::new(py);
        for (key, values) in ["mse", "psnr", "ssim", "ssim_uniform"]
            .into_iter()
            .zip(scores)
        {
            let array: Bound<'py, PyArray1<f64>> = values.into_pyarray(py);
            out.set_item(key, array)?;
        }
        Ok(out)
    })
}
