//! The Burn backend extension that trains convolutions on this crate's channels-last
//! kernels, with hand-written backward passes:
//!
//! - `cl_conv2d`: forward by [`Conv`](crate::kernels::conv::Conv) (Winograd's F(4×4, 3×3)
//!   for 3×3 stride-1 kernels, im2col and GEMM otherwise); input gradient as a convolution
//!   with the kernel flipped and transposed (stride 1) or as the transposed convolution by
//!   output phase (stride > 1); weight gradient by Winograd's algorithm for 3×3 stride-1 and
//!   4×4 stride-2 kernels, as `Σ im2col(x)ᵀ · dy` (one GEMM per run of whole images)
//!   otherwise.
//! - `cl_conv_transpose2d`: forward by [`ConvTranspose`](crate::kernels::conv_transpose::ConvTranspose);
//!   its input gradient is the convolution with the same weights, its weight gradient the
//!   convolution's with `x` and `dy` swapped.
//!
//! Each takes maps in Burn's NCHW layout or channels-last (`cl`: read in place, so a model
//! that keeps its maps NHWC pays no transposes). The flex implementation is in
//! `conv_flex.rs`, the autodiff one in `conv_backward.rs`; the default methods below are
//! Burn's generic operations, which the tests pin the kernels to.

use burn::backend::ops::{ConvOptions, ConvTransposeOptions};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};

/// Square-kernel convolutions with the same stride and padding on both axes, on maps in
/// Burn's NCHW layout or, with `cl` (channels last), in NHWC (`x` and `dy` `[N, H, W, C]`,
/// outputs likewise; weights keep Burn's layout either way). With `relu_in`, a convolution
/// reads `relu(x)` (taken while reading, in the same pass) and its gradients are those of
/// `conv2d(relu(x))`.
#[backend_extension(Flex, Autodiff)]
pub trait CpuConvBackend: Backend {
    /// `conv2d(relu_in ? relu(x) : x, weight) + bias`.
    ///
    /// # Shapes
    /// x `[N, cin, H, W]`, weight `[cout, cin, k, k]`, bias `[cout]` → `[N, cout, H', W']`
    fn cl_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        cl: bool,
        relu_in: bool,
    ) -> FloatTensor<Self> {
        let x = relu_if::<Self>(nchw::<Self>(x, cl), relu_in);
        let y = Self::conv2d(x, weight, Some(bias), conv_options(stride, pad));
        back_to::<Self>(y, cl)
    }

    /// The input gradient of `cl_conv2d` for output gradient `dy` (same shape as `x`).
    fn cl_conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        cl: bool,
        relu_in: bool,
    ) -> FloatTensor<Self> {
        let (x, dy) = (nchw::<Self>(x, cl), nchw::<Self>(dy, cl));
        let dx = Self::conv2d_x_backward(x.clone(), weight, dy, conv_options(stride, pad));
        let dx = if relu_in {
            Self::relu_backward(x, dx)
        } else {
            dx
        };
        back_to::<Self>(dx, cl)
    }

    /// The weight gradient of `cl_conv2d` (same shape as `weight`).
    fn cl_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        cl: bool,
        relu_in: bool,
    ) -> FloatTensor<Self> {
        let x = relu_if::<Self>(nchw::<Self>(x, cl), relu_in);
        let dy = nchw::<Self>(dy, cl);
        Self::conv2d_weight_backward(x, weight, dy, conv_options(stride, pad))
    }

    /// `conv_transpose2d(x, weight) + bias`.
    ///
    /// # Shapes
    /// x `[N, cin, H, W]`, weight `[cin, cout, k, k]`, bias `[cout]` → `[N, cout, H', W']`
    fn cl_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: [usize; 3],
        cl: bool,
    ) -> FloatTensor<Self> {
        let o = transpose_options(geometry);
        let y = Self::conv_transpose2d(nchw::<Self>(x, cl), weight, Some(bias), o);
        back_to::<Self>(y, cl)
    }

    /// The input gradient of `cl_conv_transpose2d` (same shape as `x`).
    fn cl_conv_transpose2d_x_grad(
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        geometry: [usize; 3],
        cl: bool,
    ) -> FloatTensor<Self> {
        let o = transpose_options(geometry);
        let dx = Self::conv_transpose2d_x_backward(weight, nchw::<Self>(dy, cl), o);
        back_to::<Self>(dx, cl)
    }

    /// The weight gradient of `cl_conv_transpose2d` (same shape as `weight`).
    fn cl_conv_transpose2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        geometry: [usize; 3],
        cl: bool,
    ) -> FloatTensor<Self> {
        let (x, dy) = (nchw::<Self>(x, cl), nchw::<Self>(dy, cl));
        Self::conv_transpose2d_weight_backward(x, weight, dy, transpose_options(geometry))
    }

    /// NCHW → NHWC (`to_cl`) or NHWC → NCHW.
    fn cl_relayout(x: FloatTensor<Self>, to_cl: bool) -> FloatTensor<Self> {
        if to_cl {
            Self::float_permute(x, &[0, 2, 3, 1])
        } else {
            Self::float_permute(x, &[0, 3, 1, 2])
        }
    }
}

/// `t` in NCHW: permuted from NHWC when `cl`.
pub(super) fn nchw<B: Backend>(t: FloatTensor<B>, cl: bool) -> FloatTensor<B> {
    if cl {
        B::float_permute(t, &[0, 3, 1, 2])
    } else {
        t
    }
}

/// `relu(t)` when `relu`.
pub(super) fn relu_if<B: Backend>(t: FloatTensor<B>, relu: bool) -> FloatTensor<B> {
    if relu { B::relu(t) } else { t }
}

/// An NCHW result back in the layout `cl` names.
pub(super) fn back_to<B: Backend>(t: FloatTensor<B>, cl: bool) -> FloatTensor<B> {
    if cl {
        B::float_permute(t, &[0, 2, 3, 1])
    } else {
        t
    }
}

pub(super) fn conv_options(stride: usize, pad: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1)
}

/// Stride, padding and output padding.
pub(super) fn transpose_options([stride, pad, pad_out]: [usize; 3]) -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new([stride; 2], [pad; 2], [pad_out; 2], [1, 1], 1)
}
