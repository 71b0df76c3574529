//! A pickled tensor (`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`,
//! maybe wrapped in `_rebuild_parameter`) → contiguous float32 values, from its storage's
//! bytes: float32/16, bfloat16 or float64, any strides, any storage offset.

use std::collections::HashMap;

use super::dalle_names::HostTensor;
use super::pickle::Value;

/// Largest tensor accepted, in elements (DALL·E's largest has 16.8 M); a stride-0 view
/// could otherwise ask for any size from a tiny storage.
const MAX_ELEMENTS: usize = 1 << 28;

/// `(storage type, key, view offset in elements)` of a storage persistent id.
pub(super) fn storage_id(pid: &Value) -> Option<(&str, &str, usize)> {
    let Value::Tuple(t) = pid else { return None };
    match t.as_slice() {
        [
            Value::Str(kind),
            Value::Global(ty),
            Value::Str(key),
            _,
            Value::Int(_),
            rest @ ..,
        ] if kind == "storage" => {
            let offset = match rest {
                [Value::Tuple(view), ..] => match view.as_slice() {
                    [_, Value::Int(off), ..] => usize::try_from(*off).ok()?,
                    _ => return None,
                },
                _ => 0,
            };
            Some((ty.as_str(), key.as_str(), offset))
        }
        _ => None,
    }
}

/// Element size in bytes of a storage type, or `None` if it is not a float type.
pub(super) fn element_size(storage_type: &str) -> Option<usize> {
    match storage_type {
        "torch.FloatStorage" => Some(4),
        "torch.HalfStorage" | "torch.BFloat16Storage" => Some(2),
        "torch.DoubleStorage" => Some(8),
        _ => None,
    }
}

pub(super) fn rebuild(
    storages: &HashMap<String, Vec<u8>>,
    v: &Value,
) -> std::result::Result<HostTensor, String> {
    let Value::Call { func, args } = v else {
        return Err(format!("expected a tensor, found {}", describe(v)));
    };
    match (func.as_str(), args.as_slice()) {
        (
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state",
            [data, ..],
        ) => rebuild(storages, data),
        (
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor",
            [
                Value::PersId(pid),
                Value::Int(offset),
                Value::Tuple(size),
                Value::Tuple(stride),
                ..,
            ],
        ) => {
            let (ty, key, view) = storage_id(pid).ok_or("malformed storage id")?;
            let esize = element_size(ty).ok_or(format!("storage type {ty} is not a float type"))?;
            let bytes = storages
                .get(key)
                .ok_or(format!("storage {key} is missing"))?;
            let dims = |t: &[Value]| -> std::result::Result<Vec<usize>, String> {
                t.iter()
                    .map(|d| match d {
                        Value::Int(i) => {
                            usize::try_from(*i).map_err(|_| "negative size/stride".into())
                        }
                        _ => Err("size/stride is not a tuple of ints".into()),
                    })
                    .collect()
            };
            let (shape, stride) = (dims(size)?, dims(stride)?);
            let start = usize::try_from(*offset).map_err(|_| "negative storage offset")?;
            let values = gather(bytes, esize, ty, view + start, &shape, &stride)?;
            Ok(HostTensor {
                shape,
                data: values,
            })
        }
        _ => Err(format!("expected a tensor, found a call of {func}")),
    }
}

/// Elements of a strided view of `bytes` (elements of `esize` bytes, type `ty`) as f32.
fn gather(
    bytes: &[u8],
    esize: usize,
    ty: &str,
    offset: usize,
    shape: &[usize],
    stride: &[usize],
) -> std::result::Result<Vec<f32>, String> {
    if shape.len() != stride.len() {
        return Err(format!(
            "{} sizes but {} strides",
            shape.len(),
            stride.len()
        ));
    }
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or("too many elements")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let last = shape.iter().zip(stride).try_fold(offset, |acc, (&d, &s)| {
        (d - 1).checked_mul(s).and_then(|x| x.checked_add(acc))
    });
    let available = bytes.len() / esize;
    if last.is_none_or(|l| l >= available) {
        return Err(format!(
            "view (offset {offset}, size {shape:?}, stride {stride:?}) reaches past its storage of {available} elements"
        ));
    }
    let read = |i: usize| -> f32 {
        let b = &bytes[i * esize..(i + 1) * esize];
        match ty {
            "torch.FloatStorage" => f32::from_le_bytes(b.try_into().expect("4 bytes")),
            "torch.DoubleStorage" => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            "torch.HalfStorage" => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            _ => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        }
    };
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; shape.len()];
    let mut pos = offset;
    for _ in 0..n {
        out.push(read(pos));
        // Odometer over the multi-index, last dimension fastest.
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            pos += stride[d];
            if index[d] < shape[d] {
                break;
            }
            pos -= stride[d] * shape[d];
            index[d] = 0;
        }
    }
    Ok(out)
}

/// A short description of a value's kind, for messages.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Call { func, .. } => format!("a call of {func}"),
        Value::Object { class, .. } => format!("an object of class {class}"),
        Value::Global(g) => format!("the class/function {g}"),
        Value::None => "None".into(),
        Value::Dict(_) => "a dict".into(),
        Value::List(_) | Value::Tuple(_) => "a sequence".into(),
        Value::PersId(_) => "a persistent id".into(),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}
