//! Convolutions as Burn operations, on the kernels where the engine is theirs: the
//! functions a model's layers call in training (and on the generic engine, in inference).

use burn::backend::Dispatch;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::backend::CpuConvBackend;
use super::layout::Layout;
use crate::kernels::engine::Engine;

/// `conv.forward(relu_in ? relu(x) : x)` of a map in `layout`. On the kernels (the
/// `Kernels` engine, a square kernel, the same stride and padding on both axes, dilation 1,
/// one group) the ReLU is taken while the input is read and its gradient applied within
/// the convolution's backward pass; otherwise Burn's convolution runs, through NCHW.
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']` (or both NHWC)
pub fn conv2d(
    engine: Engine,
    layout: Layout,
    conv: &Conv2d,
    x: Tensor<4>,
    relu_in: bool,
) -> Tensor<4> {
    let pad = match conv.padding {
        PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r => Some(t),
        PaddingConfig2d::Valid => Some(0),
        _ => None,
    };
    let [kh, kw] = conv.kernel_size;
    let [sy, sx] = conv.stride;
    match pad {
        Some(pad)
            if kh == kw
                && sy == sx
                && conv.dilation == [1, 1]
                && conv.groups == 1
                && engine.is_kernels() =>
        {
            let weight = conv.weight.val();
            // A bias-free convolution adds zeros (untracked: no gradient is computed).
            let bias = match &conv.bias {
                Some(b) => b.val(),
                None => Tensor::zeros([weight.dims()[0]], &weight.device()),
            };
            Tensor::from_dispatch(Dispatch::cl_conv2d(
                x.into_dispatch(),
                weight.into_dispatch(),
                bias.into_dispatch(),
                sy,
                pad,
                layout.is_channels_last(),
                relu_in,
            ))
        }
        _ => {
            let x = if relu_in { relu(x) } else { x };
            layout.from_nchw(conv.forward(layout.to_nchw(x)))
        }
    }
}

/// `conv.forward(x)` of a map in `layout`, on the kernels where they apply (as [`conv2d`]).
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']` (or both NHWC)
pub fn conv_transpose2d(
    engine: Engine,
    layout: Layout,
    conv: &ConvTranspose2d,
    x: Tensor<4>,
) -> Tensor<4> {
    let [kh, kw] = conv.kernel_size;
    let ([sy, sx], [py, px], [oy, ox]) = (conv.stride, conv.padding, conv.padding_out);
    match &conv.bias {
        Some(bias)
            if kh == kw
                && sy == sx
                && py == px
                && oy == ox
                && conv.dilation == [1, 1]
                && conv.groups == 1
                && engine.is_kernels() =>
        {
            Tensor::from_dispatch(Dispatch::cl_conv_transpose2d(
                x.into_dispatch(),
                conv.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
                [sy, py, oy],
                layout.is_channels_last(),
            ))
        }
        _ => layout.from_nchw(conv.forward(layout.to_nchw(x))),
    }
}
