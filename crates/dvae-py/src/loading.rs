//! Image files into numpy arrays through the CLI's loader: the same expansion of files
//! and folders, the same decoders and limits, the same resize (short side to the size,
//! Catmull-Rom) and centre crop, the same errors.

use std::path::PathBuf;

use dvae::data::image_io;
use image::DynamicImage;
use numpy::ndarray::{Array3, Array4};
use numpy::{IntoPyArray, PyArray3, PyArray4, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::{guard, to_py, value_error};
use crate::images::{as_ndarray, dtype_name, shape_text};

/// Files decoded between two checks for Ctrl-C.
const FILES_PER_CHECK: usize = 64;

/// `paths` as given from Python: one path (str or os.PathLike) or a sequence of them.
fn paths_of(paths: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if let Ok(one) = paths.extract::<PathBuf>() {
        return Ok(vec![one]);
    }
    paths.extract::<Vec<PathBuf>>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "paths must be a path (str or os.PathLike) or a sequence of paths",
        )
    })
}

/// The image files that ``paths`` name, in the order ``load_images`` reads them.
///
/// paths: a file or folder (str or os.PathLike), or a sequence of them; a folder gives
///     its image files recursively, sorted (the order of ``dvae encode``'s OUT.json).
#[pyfunction]
pub fn list_images(py: Python<'_>, paths: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    guard(|| {
        let inputs = paths_of(paths)?;
        let files = py
            .detach(|| image_io::expand_inputs(&inputs))
            .map_err(to_py)?;
        Ok(files.iter().map(|p| p.display().to_string()).collect())
    })
}

/// Image files as one uint8 array, read as ``dvae encode`` reads them.
///
/// paths: a file or folder, or a sequence of them (see list_images).
/// size: side of the square images: each is resized so that its short side is ``size``
///     (Catmull-Rom; smaller ones are upscaled) and centre-cropped.
///
/// Returns uint8 [N, size, size, 3]. A file that is not a readable image is an error
/// naming it (DvaeError; FileNotFoundError for a missing path).
#[pyfunction]
pub fn load_images<'py>(
    py: Python<'py>,
    paths: &Bound<'py, PyAny>,
    size: usize,
) -> PyResult<Bound<'py, PyArray4<u8>>> {
    guard(|| {
        check_size(size)?;
        let inputs = paths_of(paths)?;
        let files = py
            .detach(|| image_io::expand_inputs(&inputs))
            .map_err(to_py)?;
        let per = size * size * 3;
        let mut pixels = Vec::with_capacity(files.len() * per);
        for chunk in files.chunks(FILES_PER_CHECK) {
            py.detach(|| -> dvae::Result<()> {
                for f in chunk {
                    pixels.extend(image_io::load_square(f, size)?);
                }
                Ok(())
            })
            .map_err(to_py)?;
            py.check_signals()?;
        }
        let a = Array4::from_shape_vec((files.len(), size, size, 3), pixels)
            .map_err(|e| value_error(e.to_string()))?;
        Ok(a.into_pyarray(py))
    })
}

/// One decoded image resized and centre-cropped as ``load_images`` does it, for pixels
/// that are already in memory (e.g. Ray Data's ``read_images`` batches).
///
/// image: uint8 [H, W, 3] (RGB), [H, W, 4] (RGBA: alpha dropped), [H, W] or [H, W, 1]
///     (grey), [H, W, 2] (grey and alpha).
/// size: side of the result.
///
/// Returns uint8 [size, size, 3]; an image already RGB at size x size comes back equal.
#[pyfunction]
pub fn resize_crop<'py>(
    py: Python<'py>,
    image: &Bound<'py, PyAny>,
    size: usize,
) -> PyResult<Bound<'py, PyArray3<u8>>> {
    guard(|| {
        check_size(size)?;
        let array = as_ndarray(image)?;
        let Ok(bytes) = array.cast::<PyArrayDyn<u8>>() else {
            return Err(value_error(format!(
                "image must be uint8 [H, W, 3] (or [H, W], [H, W, 1], [H, W, 2], [H, W, 4]), \
                 got dtype {}",
                dtype_name(&array)?
            )));
        };
        let shape = array.shape().to_vec();
        let (h, w, c) = match shape.as_slice() {
            &[h, w] => (h, w, 1),
            &[h, w, c] if (1..=4).contains(&c) => (h, w, c),
            other => {
                return Err(value_error(format!(
                    "image must be [H, W, 3] (or [H, W], [H, W, 1], [H, W, 2], [H, W, 4]), \
                     got shape {}",
                    shape_text(other)
                )));
            }
        };
        if h == 0 || w == 0 {
            return Err(value_error(format!(
                "image is {w}x{h} pixels, with nothing to read"
            )));
        }
        let raw: Vec<u8> = bytes.readonly().as_array().iter().copied().collect();
        let img = dynamic_image(raw, w as u32, h as u32, c)?;
        let out = py.detach(|| image_io::fit_square(&img, size));
        let a =
            Array3::from_shape_vec((size, size, 3), out).map_err(|e| value_error(e.to_string()))?;
        Ok(a.into_pyarray(py))
    })
}

/// `raw` HWC bytes of `channels` channels as an image of the `image` crate.
fn dynamic_image(raw: Vec<u8>, w: u32, h: u32, channels: usize) -> PyResult<DynamicImage> {
    let too_large = || value_error(format!("image of {w}x{h} pixels is too large"));
    Ok(match channels {
        1 => DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, raw).ok_or_else(too_large)?),
        2 => DynamicImage::ImageLumaA8(
            image::GrayAlphaImage::from_raw(w, h, raw).ok_or_else(too_large)?,
        ),
        3 => DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, raw).ok_or_else(too_large)?),
        _ => DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, raw).ok_or_else(too_large)?),
    })
}

/// A `ValueError` for a size no model takes.
fn check_size(size: usize) -> PyResult<()> {
    if size == 0 || size > image_io::MAX_SIDE as usize {
        return Err(value_error(format!(
            "size must be in 1..={}, got {size}",
            image_io::MAX_SIDE
        )));
    }
    Ok(())
}
