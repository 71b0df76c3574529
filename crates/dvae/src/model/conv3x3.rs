//! 3×3 stride-1 convolutions that train on the channels-last kernels of [`crate::infer`]:
//! Winograd's F(4×4, 3×3) for the output and for the input gradient (itself a 3×3
//! convolution, with the kernel flipped and transposed), one im2col GEMM per run of pixels
//! for the weight gradient. Burn's generic convolution spends about twice the time of its
//! forward pass on the weight gradient alone; these kernels are 2–4× faster than it on each
//! of the three.
//!
//! The operation is a Burn backend extension with a hand-written backward pass, on the flex
//! device (plain or autodiff); elsewhere, and with `DVAE_GENERIC=1`, [`forward`] is
//! `Conv2d::forward`. Values and gradients are pinned to Burn's convolution by tests.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn_flex::FlexTensor;

use crate::infer::{Act, Conv, ConvOpts};

/// The largest padding the flipped-kernel input gradient can express (`2 − pad ≥ 0`).
const MAX_PAD: usize = 2;

/// A 3×3 stride-1 convolution with symmetric padding `pad` and its two gradients.
#[backend_extension(Flex, Autodiff)]
pub trait Conv3x3Backend: Backend {
    /// `conv(x, weight) + bias`.
    ///
    /// # Shapes
    /// x `[N, cin, H, W]`, weight `[cout, cin, 3, 3]`, bias `[cout]` → `[N, cout, H', W']`
    fn conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options(pad))
    }

    /// The gradient of the input for output gradient `dy`.
    ///
    /// # Shapes
    /// x `[N, cin, H, W]`, weight `[cout, cin, 3, 3]`, dy `[N, cout, H', W']` → `[N, cin, H, W]`
    fn conv3x3_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, dy, options(pad))
    }

    /// The gradient of the weight for output gradient `dy`.
    ///
    /// # Shapes
    /// x `[N, cin, H, W]`, weight `[cout, cin, 3, 3]`, dy `[N, cout, H', W']` → `[cout, cin, 3, 3]`
    fn conv3x3_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, dy, options(pad))
    }
}

fn options(pad: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [pad, pad], [1, 1], 1)
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

fn flex_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `w'[ci][co][ky][kx] = w[co][ci][2 − ky][2 − kx]`: the input gradient's kernel.
fn flip_transpose(w: &[f32], [cout, cin]: [usize; 2]) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for k in 0..9 {
                out[(ci * cout + co) * 9 + 8 - k] = w[(co * cin + ci) * 9 + k];
            }
        }
    }
    out
}

impl Conv3x3Backend for Flex {
    fn conv3x3(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, pad: usize) -> FlexTensor {
        let (xc, wc, bc) = (
            x.to_contiguous(),
            weight.to_contiguous(),
            bias.to_contiguous(),
        );
        let (Some(xs), Some(ws), Some(bs)) = (
            xc.as_slice::<f32>(),
            wc.as_slice::<f32>(),
            bc.as_slice::<f32>(),
        ) else {
            return Self::conv2d(x, weight, Some(bias), options(pad));
        };
        let [n, cin, h, w] = dims4(&xc);
        let cout = dims4(&wc)[0];
        let conv = Conv::new([cin, cout], [3, 3], [1, 1], [pad; 4], ws, Some(bs), 1.0);
        let y = conv.forward(
            &Act::from_nchw_slice(xs, [n, cin, h, w]),
            ConvOpts::default(),
        );
        flex_tensor(y.to_nchw_vec(), [n, cout, y.h, y.w])
    }

    fn conv3x3_x_grad(x: FlexTensor, weight: FlexTensor, dy: FlexTensor, pad: usize) -> FlexTensor {
        let (wc, dc) = (weight.to_contiguous(), dy.to_contiguous());
        let (Some(ws), Some(ds)) = (wc.as_slice::<f32>(), dc.as_slice::<f32>()) else {
            return Self::conv2d_x_backward(x, weight, dy, options(pad));
        };
        let [cout, cin, _, _] = dims4(&wc);
        let [n, _, ho, wo] = dims4(&dc);
        let flipped = flip_transpose(ws, [cout, cin]);
        let back = MAX_PAD - pad;
        let conv = Conv::new([cout, cin], [3, 3], [1, 1], [back; 4], &flipped, None, 1.0);
        let dx = conv.forward(
            &Act::from_nchw_slice(ds, [n, cout, ho, wo]),
            ConvOpts::default(),
        );
        flex_tensor(dx.to_nchw_vec(), [n, cin, dx.h, dx.w])
    }

    fn conv3x3_weight_grad(
        x: FlexTensor,
        weight: FlexTensor,
        dy: FlexTensor,
        pad: usize,
    ) -> FlexTensor {
        let (xc, dc) = (x.to_contiguous(), dy.to_contiguous());
        let (Some(xs), Some(ds)) = (xc.as_slice::<f32>(), dc.as_slice::<f32>()) else {
            return Self::conv2d_weight_backward(x, weight, dy, options(pad));
        };
        let [n, cin, h, w] = dims4(&xc);
        let [_, cout, ho, wo] = dims4(&dc);
        let geometry = Conv::geometry([cin, cout], [3, 3], [1, 1], [pad; 4]);
        let dw = geometry.weight_grad(
            &Act::from_nchw_slice(xs, [n, cin, h, w]),
            &Act::from_nchw_slice(ds, [n, cout, ho, wo]),
        );
        flex_tensor(dw, [cout, cin, 3, 3])
    }
}

#[derive(Debug)]
struct Conv3x3Grad;

impl<B: Conv3x3Backend> Backward<B, 3> for Conv3x3Grad {
    type State = (NodeId, NodeId, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_state, w_state, pad) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        if let Some(node) = node_b {
            let cout = w.shape()[0];
            let db = B::float_sum_dim(B::float_sum_dim(B::float_sum_dim(dy.clone(), 0), 2), 3);
            grads.register::<B>(node.id, B::float_reshape(db, [cout].into()));
        }
        if let Some(node) = node_w {
            let dw = B::conv3x3_weight_grad(x.clone(), w.clone(), dy.clone(), pad);
            grads.register::<B>(node.id, dw);
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::conv3x3_x_grad(x, w, dy, pad));
        }
    }
}

impl<B: Conv3x3Backend, C: CheckpointStrategy> Conv3x3Backend for Autodiff<B, C> {
    fn conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        match Conv3x3Grad
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let out = B::conv3x3(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    pad,
                );
                prep.finish((x_state, w_state, pad), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv3x3(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                pad,
            )),
        }
    }
}

/// Whether `device` (plain or autodiff) is the flex CPU device.
fn on_flex(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// `conv.forward(x)`, on the channels-last kernels where they apply: a 3×3 kernel, stride
/// and dilation 1, one group, a bias, symmetric padding ≤ 2, the flex device, and
/// `DVAE_GENERIC` not `1`.
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']`
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let pad = match conv.padding {
        PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r && t <= MAX_PAD => t,
        PaddingConfig2d::Valid => 0,
        _ => return conv.forward(x),
    };
    let generic = std::env::var("DVAE_GENERIC").is_ok_and(|v| v == "1");
    let fits = conv.kernel_size == [3, 3]
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && !generic
        && on_flex(&x.device());
    match (&conv.bias, fits) {
        (Some(bias), true) => Tensor::from_dispatch(Dispatch::conv3x3(
            x.into_dispatch(),
            conv.weight.val().into_dispatch(),
            bias.val().into_dispatch(),
            pad,
        )),
        _ => conv.forward(x),
    }
}
