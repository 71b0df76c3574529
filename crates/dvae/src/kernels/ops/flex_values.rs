//! A flex tensor's f32 values for a host kernel: borrowed in place when the tensor is
//! contiguous f32 (as training tensors are), copied otherwise.

use burn::backend::TensorMetadata;
use burn::tensor::TensorData;
use burn_flex::FlexTensor;

/// The tensor's `[N, C, H, W]` (or `[N, H, W, C]`) dimensions.
pub fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// `[N, K, H·W]`: the strided kernels' view of NCHW dimensions.
pub fn strided([n, k, h, w]: [usize; 4]) -> [usize; 3] {
    [n, k, h * w]
}

/// A tensor of `shape` holding `v`.
pub fn flex<const D: usize>(v: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

/// An owned copy of the values as f32.
pub fn floats(t: FlexTensor) -> Vec<f32> {
    let data = t.into_data().convert::<f32>();
    data.try_into_vec::<f32>().unwrap_or_default()
}

/// `f` of the values as f32, without a copy where the tensor allows.
pub fn with_f32<R>(t: &FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    match t.as_slice::<f32>() {
        Some(v) => f(v),
        None => f(&floats(t.clone())),
    }
}
