//! Images from Python: a numpy array of uint8 `[N, H, W, C]` (as image files decode) or
//! float32 `[N, C, H, W]` in [0, 1] (as a PyTorch batch), read batch by batch into CHW
//! floats in [0, 1] — the values the CLI makes of the same pixels.
//!
//! A C-contiguous array is read in place: each batch goes straight from numpy's buffer
//! into the one the model's tensor owns (the tensor needs its own: Burn tensors own their
//! memory). Any other layout (a slice with steps, Fortran order, a transposed view) is read
//! through its strides into the same buffer, so no layout costs an extra copy. Every read
//! happens with the GIL held, so no other Python thread writes the array meanwhile.

use numpy::ndarray::{ArrayViewD, Axis, Slice};
use numpy::{
    PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors::value_error;

/// What `images` must be, for messages.
const EXPECTED: &str = "uint8 [N, H, W, 3] or float32 [N, 3, H, W] in [0, 1]";

/// A batch of images as given, in one of the two layouts.
pub enum Images<'py> {
    /// uint8 `[N, H, W, C]`, channels last.
    Bytes(PyReadonlyArrayDyn<'py, u8>),
    /// float32 `[N, C, H, W]`, channels first, values in [0, 1].
    Floats(PyReadonlyArrayDyn<'py, f32>),
}

impl<'py> Images<'py> {
    /// Reads `obj` (a numpy array, or anything `numpy.asarray` takes) as images named `what`
    /// in messages; a wrong dtype or rank is a `ValueError` naming the expected ones.
    pub fn from_py(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        let array = as_ndarray(obj)?;
        let shape = array.shape().to_vec();
        let images = if let Ok(a) = array.cast::<PyArrayDyn<u8>>() {
            Images::Bytes(a.readonly())
        } else if let Ok(a) = array.cast::<PyArrayDyn<f32>>() {
            Images::Floats(a.readonly())
        } else {
            return Err(value_error(format!(
                "{what} must be {EXPECTED}, got dtype {}{}",
                dtype_name(&array)?,
                hint_for_dtype(&array)?
            )));
        };
        if shape.len() != 4 {
            let one = if shape.len() == 3 {
                format!("; for one image pass {what}[None]")
            } else {
                String::new()
            };
            return Err(value_error(format!(
                "{what} must be {EXPECTED}, got shape {}{one}",
                shape_text(&shape)
            )));
        }
        Ok(images)
    }

    /// `[N, C, H, W]` of the images, whichever the layout.
    pub fn dims(&self) -> [usize; 4] {
        match self {
            Images::Bytes(a) => {
                let s = a.shape();
                [s[0], s[3], s[1], s[2]]
            }
            Images::Floats(a) => {
                let s = a.shape();
                [s[0], s[1], s[2], s[3]]
            }
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.dims()[0]
    }

    /// A `ValueError` when the images are not `channels` planes of `size`×`size`, with a
    /// hint where the array looks like the other layout; the messages are the library's.
    pub fn check(&self, channels: usize, size: usize) -> PyResult<()> {
        let [_, c, h, w] = self.dims();
        if c == channels && h == size && w == size {
            return Ok(());
        }
        let shape = match self {
            Images::Bytes(a) => a.shape().to_vec(),
            Images::Floats(a) => a.shape().to_vec(),
        };
        let swapped = match self {
            // [N, 3, S, S] bytes or [N, S, S, 3] floats: the other layout's order.
            Images::Bytes(_) if shape[1] == channels && shape[3] != channels => Some((
                "uint8 images are channels last, [N, H, W, C]",
                "transpose(0, 2, 3, 1)",
            )),
            Images::Floats(_) if shape[3] == channels && shape[1] != channels => Some((
                "float32 images are channels first, [N, C, H, W]",
                "transpose(0, 3, 1, 2)",
            )),
            _ => None,
        };
        if let Some((rule, fix)) = swapped {
            return Err(value_error(format!(
                "shape mismatch: {rule}; got shape {} (pass images.{fix})",
                shape_text(&shape)
            )));
        }
        let reason = if c != channels {
            format!("input has {c} channels but model built for {channels}")
        } else {
            format!("input is {h}x{w} but model built for {size}x{size}")
        };
        Err(crate::errors::to_py(dvae::Error::Shape(reason)))
    }

    /// Images `start..end` as CHW floats in [0, 1], image after image. Bytes become
    /// `b as f32 / 255` (the CLI's conversion); floats outside [0, 1] or NaN are a
    /// `ValueError`.
    pub fn chw(&self, start: usize, end: usize) -> PyResult<Vec<f32>> {
        let [_, c, h, w] = self.dims();
        let per = c * h * w;
        let mut out = vec![0f32; (end - start) * per];
        match self {
            Images::Bytes(a) => match c_order(a) {
                Some(all) if c == 3 => {
                    let src = &all[start * per..end * per];
                    for (hwc, chw) in src.chunks_exact(per).zip(out.chunks_exact_mut(per)) {
                        dvae::data::hwc_to_chw(hwc, chw);
                    }
                }
                _ => {
                    // Channels last → first, through the view's strides.
                    let view = rows(a.as_array(), start, end).permuted_axes(vec![0, 3, 1, 2]);
                    for (o, &b) in out.iter_mut().zip(view.iter()) {
                        *o = b as f32 / 255.0;
                    }
                }
            },
            Images::Floats(a) => {
                match c_order(a) {
                    Some(all) => out.copy_from_slice(&all[start * per..end * per]),
                    None => {
                        for (o, &v) in out.iter_mut().zip(rows(a.as_array(), start, end).iter()) {
                            *o = v;
                        }
                    }
                }
                check_range(&out, start, per)?;
            }
        }
        Ok(out)
    }
}

/// The array's values in place when they lie in C order (numpy's `as_slice` also gives
/// a Fortran-ordered array's memory, which is in the other order).
pub fn c_order<'a, T: numpy::Element>(a: &'a PyReadonlyArrayDyn<'_, T>) -> Option<&'a [T]> {
    if a.is_c_contiguous() {
        a.as_slice().ok()
    } else {
        None
    }
}

/// Rows `start..end` of the first axis of `view`.
fn rows<T>(view: ArrayViewD<'_, T>, start: usize, end: usize) -> ArrayViewD<'_, T> {
    view.slice_axis_move(Axis(0), Slice::from(start..end))
}

/// A `ValueError` naming the first value outside [0, 1] (or NaN) of float images.
fn check_range(values: &[f32], start: usize, per: usize) -> PyResult<()> {
    match values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        None => Ok(()),
        Some(i) => Err(value_error(format!(
            "float32 images must hold values in [0, 1]: image {} has {} (divide 8-bit \
             pixels by 255, or pass the uint8 array as it is)",
            start + i / per.max(1),
            values[i]
        ))),
    }
}

/// `obj` as a numpy array (`numpy.asarray` for anything that is not one yet).
pub fn as_ndarray<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let np = obj.py().import("numpy")?;
    let a = np.call_method1("asarray", (obj,))?;
    Ok(a.cast_into::<PyUntypedArray>()?)
}

/// numpy's name of `array`'s dtype (`float64`, `int32`, …).
pub fn dtype_name(array: &Bound<'_, PyUntypedArray>) -> PyResult<String> {
    array.getattr("dtype")?.getattr("name")?.extract()
}

/// How to get the expected dtype from a common other one.
fn hint_for_dtype(array: &Bound<'_, PyUntypedArray>) -> PyResult<&'static str> {
    Ok(match dtype_name(array)?.as_str() {
        "float64" | "float16" => " (pass images.astype(numpy.float32))",
        _ => "",
    })
}

/// A shape as numpy prints it: `(64, 64, 3)`.
pub fn shape_text(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}
