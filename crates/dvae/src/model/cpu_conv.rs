//! Convolutions and transposed convolutions that train on the channels-last kernels of
//! [`crate::infer`], through a Burn backend extension with hand-written backward passes:
//!
//! - `conv2d`: forward by [`Conv`] (Winograd's F(4×4, 3×3) for 3×3 stride-1 kernels,
//!   im2col and GEMM otherwise); input gradient as a convolution with the kernel flipped
//!   and transposed (stride 1) or as the transposed convolution by output phase (stride >
//!   1); weight gradient by Winograd's algorithm for 3×3 stride-1 and 4×4 stride-2 kernels,
//!   as `Σ im2col(x)ᵀ · dy` (one GEMM per run of whole images) otherwise.
//! - `conv_transpose2d`: forward by [`ConvTranspose`]; its input gradient is the convolution
//!   with the same weights, its weight gradient the convolution's with `x` and `dy` swapped.
//!
//! Each takes maps in Burn's NCHW layout or channels-last ([`Layout::Nhwc`], read in place:
//! a model that keeps its maps NHWC pays no transposes; [`Layout::from_nchw`] and
//! [`Layout::to_nchw`] cross at its edges). Burn's generic convolution spends about twice
//! its forward time on the weight gradient alone. The operations run on the flex device
//! (plain or autodiff); elsewhere, and with `DVAE_GENERIC=1`, [`conv2d`] and
//! [`conv_transpose2d`] are the modules' own `forward`. Values and gradients are pinned to
//! Burn's by tests.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::ops::{
    ActivationOps, ConvOptions, ConvTransposeOptions, FloatTensorOps, ModuleOps,
};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::relu;
use burn_flex::FlexTensor;

use crate::infer::{Act, AsMaps, Conv, ConvOpts, ConvTranspose, Maps};

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
fn nchw<B: Backend>(t: FloatTensor<B>, cl: bool) -> FloatTensor<B> {
    if cl {
        B::float_permute(t, &[0, 3, 1, 2])
    } else {
        t
    }
}

/// `relu(t)` when `relu`.
fn relu_if<B: Backend>(t: FloatTensor<B>, relu: bool) -> FloatTensor<B> {
    if relu { B::relu(t) } else { t }
}

/// An NCHW result back in the layout `cl` names.
fn back_to<B: Backend>(t: FloatTensor<B>, cl: bool) -> FloatTensor<B> {
    if cl {
        B::float_permute(t, &[0, 2, 3, 1])
    } else {
        t
    }
}

fn conv_options(stride: usize, pad: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1)
}

/// Stride, padding and output padding.
fn transpose_options([stride, pad, pad_out]: [usize; 3]) -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new([stride; 2], [pad; 2], [pad_out; 2], [1, 1], 1)
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// A map tensor's `[N, C, H, W]`, whatever its layout.
fn nchw_dims(t: &FlexTensor, cl: bool) -> [usize; 4] {
    let [a, b, c, d] = dims4(t);
    if cl { [a, d, b, c] } else { [a, b, c, d] }
}

/// A contiguous f32 copy-free view with its shape, `None` for other dtypes.
fn host(t: &FlexTensor) -> Option<(&[f32], [usize; 4])> {
    Some((t.as_slice::<f32>()?, dims4(t)))
}

/// A map tensor's values channels-last: read in place (NHWC), or transposed (NCHW).
enum HostMaps<'a> {
    InPlace(Maps<'a>),
    Transposed(Act),
}

impl AsMaps for HostMaps<'_> {
    fn maps(&self) -> Maps<'_> {
        match self {
            Self::InPlace(m) => *m,
            Self::Transposed(a) => a.maps(),
        }
    }
}

/// A map tensor's values channels-last (a copy only for NCHW, which `cl` says it is not).
fn act(t: &FlexTensor, cl: bool) -> Option<HostMaps<'_>> {
    let (v, d) = host(t)?;
    Some(if cl {
        HostMaps::InPlace(Maps::new(v, d))
    } else {
        HostMaps::Transposed(Act::from_nchw_slice(v, d))
    })
}

/// A map back as a tensor in the layout `cl` names (NHWC is moved, NCHW transposed).
fn map_tensor(a: Act, cl: bool) -> FlexTensor {
    let data = if cl {
        let shape = [a.n, a.h, a.w, a.c];
        TensorData::new(a.into_nhwc_vec(), shape)
    } else {
        TensorData::new(a.to_nchw_vec(), [a.n, a.c, a.h, a.w])
    };
    FlexTensor::from_data(data)
}

/// `w'[ci][co][ky][kx] = w[co][ci][k−1−ky][k−1−kx]`: a stride-1 input gradient's kernel.
fn flip_transpose(w: &[f32], [cout, cin, k]: [usize; 3]) -> Vec<f32> {
    let kk = k * k;
    let mut out = vec![0.0; w.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for t in 0..kk {
                out[(ci * cout + co) * kk + kk - 1 - t] = w[(co * cin + ci) * kk + t];
            }
        }
    }
    out
}

impl CpuConvBackend for Flex {
    fn cl_conv2d(
        x: FlexTensor,
        w: FlexTensor,
        b: FlexTensor,
        s: usize,
        p: usize,
        cl: bool,
        relu_in: bool,
    ) -> FlexTensor {
        let (xc, wc, bc) = (x.to_contiguous(), w.to_contiguous(), b.to_contiguous());
        let (Some(xa), Some((ws, [cout, cin, k, _])), Some(bs)) =
            (act(&xc, cl), host(&wc), bc.as_slice::<f32>())
        else {
            let x = relu_if::<Self>(nchw::<Self>(x, cl), relu_in);
            let y = Self::conv2d(x, w, Some(b), conv_options(s, p));
            return back_to::<Self>(y, cl);
        };
        let conv = Conv::new([cin, cout], [k, k], [s, s], [p; 4], ws, Some(bs), 1.0);
        let o = ConvOpts {
            input_relu: relu_in,
            ..ConvOpts::default()
        };
        map_tensor(conv.forward(&xa, o), cl)
    }

    fn cl_conv2d_x_grad(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        s: usize,
        p: usize,
        cl: bool,
        relu_in: bool,
    ) -> FlexTensor {
        let (wc, dc) = (w.to_contiguous(), dy.to_contiguous());
        let [_, _, h, wd] = nchw_dims(&x, cl);
        let (Some((ws, [cout, cin, k, _])), Some(dy)) = (host(&wc), act(&dc, cl)) else {
            let (x, dy) = (nchw::<Self>(x, cl), nchw::<Self>(dy, cl));
            let dx = Self::conv2d_x_backward(x.clone(), w, dy, conv_options(s, p));
            let dx = if relu_in {
                Self::relu_backward(x, dx)
            } else {
                dx
            };
            return back_to::<Self>(dx, cl);
        };
        let dx = if s == 1 && p < k {
            let flipped = flip_transpose(ws, [cout, cin, k]);
            let back = [k - 1 - p; 4];
            let conv = Conv::new([cout, cin], [k, k], [1, 1], back, &flipped, None, 1.0);
            conv.forward(&dy, ConvOpts::default())
        } else {
            // The stride's remainder rows the convolution never read get no gradient.
            let reach = |i: usize| (i - 1) * s + k - 2 * p;
            let pad_out = [h - reach(dy.maps().h), wd - reach(dy.maps().w)];
            let t = ConvTranspose::new([cout, cin], [k, k], [s, s], [p, p], pad_out, ws, None);
            t.forward(&dy, ConvOpts::default())
        };
        if !relu_in {
            return map_tensor(dx, cl);
        }
        // The ReLU's mask: on the host where x lies as dx does (channels-last, f32).
        let xc = x.to_contiguous();
        match (cl, host(&xc)) {
            (true, Some((xs, _))) => {
                let mut dx = dx;
                crate::infer::relu_mask(&mut dx.data, xs);
                map_tensor(dx, cl)
            }
            _ => Self::relu_backward(x, map_tensor(dx, cl)),
        }
    }

    fn cl_conv2d_weight_grad(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        s: usize,
        p: usize,
        cl: bool,
        relu_in: bool,
    ) -> FlexTensor {
        let (xc, dc) = (x.to_contiguous(), dy.to_contiguous());
        let [cout, cin, k, _] = dims4(&w);
        let (Some(xa), Some(da)) = (act(&xc, cl), act(&dc, cl)) else {
            let x = relu_if::<Self>(nchw::<Self>(x, cl), relu_in);
            let dy = nchw::<Self>(dy, cl);
            return Self::conv2d_weight_backward(x, w, dy, conv_options(s, p));
        };
        let geometry = Conv::geometry([cin, cout], [k, k], [s, s], [p; 4]);
        let dw = geometry.weight_grad_of(&xa, &da, relu_in);
        FlexTensor::from_data(TensorData::new(dw, [cout, cin, k, k]))
    }

    fn cl_conv_transpose2d(
        x: FlexTensor,
        w: FlexTensor,
        b: FlexTensor,
        geometry: [usize; 3],
        cl: bool,
    ) -> FlexTensor {
        let (xc, wc, bc) = (x.to_contiguous(), w.to_contiguous(), b.to_contiguous());
        let (Some(xa), Some((ws, [cin, cout, k, _])), Some(bs)) =
            (act(&xc, cl), host(&wc), bc.as_slice::<f32>())
        else {
            let o = transpose_options(geometry);
            let y = Self::conv_transpose2d(nchw::<Self>(x, cl), w, Some(b), o);
            return back_to::<Self>(y, cl);
        };
        let [s, p, po] = geometry;
        let t = ConvTranspose::new([cin, cout], [k, k], [s, s], [p, p], [po, po], ws, Some(bs));
        map_tensor(t.forward(&xa, ConvOpts::default()), cl)
    }

    fn cl_conv_transpose2d_x_grad(
        w: FlexTensor,
        dy: FlexTensor,
        geometry: [usize; 3],
        cl: bool,
    ) -> FlexTensor {
        let (wc, dc) = (w.to_contiguous(), dy.to_contiguous());
        let (Some((ws, [cin, cout, k, _])), Some(da)) = (host(&wc), act(&dc, cl)) else {
            let o = transpose_options(geometry);
            let dx = Self::conv_transpose2d_x_backward(w, nchw::<Self>(dy, cl), o);
            return back_to::<Self>(dx, cl);
        };
        // The convolution with the same weights, read as `[cin, cout, k, k]` = OIHW.
        let [s, p, _] = geometry;
        let conv = Conv::new([cout, cin], [k, k], [s, s], [p; 4], ws, None, 1.0);
        map_tensor(conv.forward(&da, ConvOpts::default()), cl)
    }

    fn cl_conv_transpose2d_weight_grad(
        x: FlexTensor,
        w: FlexTensor,
        dy: FlexTensor,
        geometry: [usize; 3],
        cl: bool,
    ) -> FlexTensor {
        let (xc, dc) = (x.to_contiguous(), dy.to_contiguous());
        let [cin, cout, k, _] = dims4(&w);
        let (Some(xa), Some(da)) = (act(&xc, cl), act(&dc, cl)) else {
            let (x, dy) = (nchw::<Self>(x, cl), nchw::<Self>(dy, cl));
            let o = transpose_options(geometry);
            return Self::conv_transpose2d_weight_backward(x, w, dy, o);
        };
        // The convolution dy → x with these weights has the same weight gradient, with the
        // roles of input and output gradient swapped.
        let [s, p, _] = geometry;
        let conv = Conv::geometry([cout, cin], [k, k], [s, s], [p; 4]);
        let dw = conv.weight_grad(&da, &xa);
        FlexTensor::from_data(TensorData::new(dw, [cin, cout, k, k]))
    }

    fn cl_relayout(x: FlexTensor, to_cl: bool) -> FlexTensor {
        let xc = x.to_contiguous();
        let Some((v, d)) = host(&xc) else {
            let o = if to_cl { [0, 2, 3, 1] } else { [0, 3, 1, 2] };
            return Self::float_permute(x, &o);
        };
        // Both directions by the blocked, parallel transposes of `Act`.
        let data = if to_cl {
            let a = Act::from_nchw_slice(v, d);
            TensorData::new(a.into_nhwc_vec(), [d[0], d[2], d[3], d[1]])
        } else {
            let [n, h, w, c] = d;
            let m = Maps::new(v, d);
            TensorData::new(m.to_nchw_vec(), [n, c, h, w])
        };
        FlexTensor::from_data(data)
    }
}

#[derive(Debug)]
struct RelayoutGrad;

impl<B: CpuConvBackend> Backward<B, 1> for RelayoutGrad {
    /// The forward direction (to channels-last or not).
    type State = bool;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::cl_relayout(dy, !ops.state));
        }
    }
}

/// The bias gradient: `dy` summed over batch and positions.
fn bias_grad<B: Backend>(dy: FloatTensor<B>, channels: usize, cl: bool) -> FloatTensor<B> {
    let db = if cl {
        let rows = dy.shape().num_elements() / channels;
        B::float_sum_dim(B::float_reshape(dy, [rows, channels].into()), 0)
    } else {
        B::float_sum_dim(B::float_sum_dim(B::float_sum_dim(dy, 0), 2), 3)
    };
    B::float_reshape(db, [channels].into())
}

#[derive(Debug)]
struct Conv2dGrad;

impl<B: CpuConvBackend> Backward<B, 3> for Conv2dGrad {
    /// x, the weight, (stride and padding, layout and input ReLU).
    type State = (NodeId, NodeId, ([usize; 2], [bool; 2]));

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_state, w_state, ([s, p], [cl, relu])) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        if let Some(node) = node_b {
            grads.register::<B>(node.id, bias_grad::<B>(dy.clone(), w.shape()[0], cl));
        }
        if let Some(node) = node_w {
            let dw = B::cl_conv2d_weight_grad(x.clone(), w.clone(), dy.clone(), s, p, cl, relu);
            grads.register::<B>(node.id, dw);
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::cl_conv2d_x_grad(x, w, dy, s, p, cl, relu));
        }
    }
}

#[derive(Debug)]
struct ConvTranspose2dGrad;

impl<B: CpuConvBackend> Backward<B, 3> for ConvTranspose2dGrad {
    /// x, the weight, (stride, padding and output padding, layout).
    type State = (NodeId, NodeId, ([usize; 3], bool));

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x_state, w_state, (geometry, cl)) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        if let Some(node) = node_b {
            grads.register::<B>(node.id, bias_grad::<B>(dy.clone(), w.shape()[1], cl));
        }
        if let Some(node) = node_w {
            let dw = B::cl_conv_transpose2d_weight_grad(x, w.clone(), dy.clone(), geometry, cl);
            grads.register::<B>(node.id, dw);
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::cl_conv_transpose2d_x_grad(w, dy, geometry, cl));
        }
    }
}

/// A convolution-like operation on autodiff tensors: `op` on the inner backend's x, weight
/// and bias, with `backward` recorded (x and the weight checkpointed, beside `geometry`)
/// when any of them is tracked.
fn tracked_conv<B, C, BO, G>(
    backward: BO,
    [x, weight, bias]: [FloatTensor<Autodiff<B, C>>; 3],
    geometry: G,
    op: impl FnOnce(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: CpuConvBackend,
    C: CheckpointStrategy,
    BO: Backward<B, 3, State = (NodeId, NodeId, G)>,
    G: Clone + Send + std::fmt::Debug + 'static,
{
    let prep = backward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful();
    match prep {
        OpsKind::Tracked(mut prep) => {
            let (xs, ws) = (prep.checkpoint(&x), prep.checkpoint(&weight));
            let y = op(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            );
            prep.finish((xs, ws, geometry), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(op(
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        )),
    }
}

impl<B: CpuConvBackend, C: CheckpointStrategy> CpuConvBackend for Autodiff<B, C> {
    fn cl_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        cl: bool,
        relu_in: bool,
    ) -> FloatTensor<Self> {
        let geometry = ([stride, pad], [cl, relu_in]);
        tracked_conv::<B, C, _, _>(Conv2dGrad, [x, weight, bias], geometry, |x, w, b| {
            B::cl_conv2d(x, w, b, stride, pad, cl, relu_in)
        })
    }

    fn cl_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geometry: [usize; 3],
        cl: bool,
    ) -> FloatTensor<Self> {
        tracked_conv::<B, C, _, _>(
            ConvTranspose2dGrad,
            [x, weight, bias],
            (geometry, cl),
            |x, w, b| B::cl_conv_transpose2d(x, w, b, geometry, cl),
        )
    }

    fn cl_relayout(x: FloatTensor<Self>, to_cl: bool) -> FloatTensor<Self> {
        match RelayoutGrad
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(to_cl, B::cl_relayout(x.into_primitive(), to_cl)),
            OpsKind::UnTracked(prep) => prep.finish(B::cl_relayout(x.into_primitive(), to_cl)),
        }
    }
}

/// Burn's NCHW or channels-last NHWC: how the maps a model passes between layers lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[N, C, H, W]`, Burn's convention (its generic operations take this).
    Nchw,
    /// `[N, H, W, C]`: the CPU kernels' own layout, no transposes around them.
    Nhwc,
}

impl Layout {
    /// NHWC where the channels-last kernels run on `device` ([`crate::infer::runs_on`]),
    /// NCHW elsewhere.
    pub fn for_device(device: &Device) -> Self {
        if crate::infer::runs_on(device) {
            Self::Nhwc
        } else {
            Self::Nchw
        }
    }

    /// The channel dimension.
    pub fn channel_dim(self) -> usize {
        match self {
            Self::Nchw => 1,
            Self::Nhwc => 3,
        }
    }

    /// An NCHW tensor in this layout (a contiguous copy for NHWC: on the channels-last
    /// kernels' device by their blocked, parallel transpose, elsewhere by Burn's).
    pub fn from_nchw(self, t: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Nchw => t,
            Self::Nhwc => relayout(t, true),
        }
    }

    /// A tensor of this layout in NCHW (as [`from_nchw`](Self::from_nchw)).
    pub fn to_nchw(self, t: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Nchw => t,
            Self::Nhwc => relayout(t, false),
        }
    }
}

/// NCHW → NHWC (`to_cl`) or back, differentiable.
fn relayout(t: Tensor<4>, to_cl: bool) -> Tensor<4> {
    if !crate::infer::runs_on(&t.device()) {
        let order = if to_cl { [0, 2, 3, 1] } else { [0, 3, 1, 2] };
        return t.permute(order);
    }
    Tensor::from_dispatch(Dispatch::cl_relayout(t.into_dispatch(), to_cl))
}

/// `conv.forward(x)`, on the channels-last kernels where they apply: a square kernel, the
/// same stride and padding on both axes, dilation 1, one group, and a device for
/// which [`crate::infer::runs_on`].
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_in(Layout::Nchw, conv, x)
}

/// [`conv2d`] of a map in `layout`: a channels-last map stays channels-last, and needs the
/// channels-last kernels' device (elsewhere it goes through NCHW and back).
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']` (or both NHWC)
pub fn conv2d_in(layout: Layout, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_of(layout, conv, x, false)
}

/// [`conv2d_in`] of `relu(x)`: on the channels-last kernels the ReLU is taken while the
/// input is read, and its gradient applied within the convolution's backward pass.
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']` (or both NHWC)
pub fn conv2d_relu_in(layout: Layout, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_of(layout, conv, x, true)
}

fn conv2d_of(layout: Layout, conv: &Conv2d, x: Tensor<4>, relu_in: bool) -> Tensor<4> {
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
                && crate::infer::runs_on(&x.device()) =>
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
                layout == Layout::Nhwc,
                relu_in,
            ))
        }
        _ => {
            let x = if relu_in { relu(x) } else { x };
            layout.from_nchw(conv.forward(layout.to_nchw(x)))
        }
    }
}

/// `conv.forward(x)`, on the channels-last kernels where they apply (as [`conv2d`]).
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']`
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    conv_transpose2d_in(Layout::Nchw, conv, x)
}

/// [`conv_transpose2d`] of a map in `layout` (as [`conv2d_in`]).
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']` (or both NHWC)
pub fn conv_transpose2d_in(layout: Layout, conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
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
                && crate::infer::runs_on(&x.device()) =>
        {
            Tensor::from_dispatch(Dispatch::cl_conv_transpose2d(
                x.into_dispatch(),
                conv.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
                [sy, py, oy],
                layout == Layout::Nhwc,
            ))
        }
        _ => layout.from_nchw(conv.forward(layout.to_nchw(x))),
    }
}
