//! The Gumbel-softmax sample and the per-cell KL to the uniform prior, as single operations
//! over the code dimension on the flex device (plain or autodiff), computed by
//! [`crate::kernels::softmax`]: Burn builds each from five to eight elementwise and reduction
//! operations that run on one thread, and at K = 512 they took about a sixth of a training
//! step. On the generic engine the same functions use Burn's operations.
//! Values and gradients are pinned to Burn's by tests.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn_flex::FlexTensor;

use super::flex_values::{dims4, flex, strided, with_f32};
use super::layout::Layout;
use crate::kernels::engine::Engine;
use crate::kernels::softmax as host;

/// Softmax over the code dimension of `[N, K, H, W]` tensors (dimension 1) or, with `cl`,
/// of channels-last `[N, H, W, K]` ones (dimension 3), and the per-cell KL to uniform.
#[backend_extension(Flex, Autodiff)]
pub trait CpuSoftmaxBackend: Backend {
    /// `softmax((a·x + noise) · scale)` over the codes (`scales = [a, scale]`);
    /// differentiable in `x` only.
    fn cl_softmax1(
        x: FloatTensor<Self>,
        noise: FloatTensor<Self>,
        scales: [f32; 2],
        cl: bool,
    ) -> FloatTensor<Self>;

    /// `KL(softmax(x) ‖ uniform)` per cell: `[N, K, H, W]` → `[N, 1, H, W]` (or
    /// `[N, H, W, K]` → `[N, H, W, 1]`).
    fn cl_kl_uniform1(x: FloatTensor<Self>, cl: bool) -> FloatTensor<Self>;
}

impl CpuSoftmaxBackend for Flex {
    fn cl_softmax1(x: FlexTensor, noise: FlexTensor, scales: [f32; 2], cl: bool) -> FlexTensor {
        let d = dims4(&x);
        let y = with_f32(&x, |x| {
            with_f32(&noise, |g| {
                if cl {
                    host::softmax_rows(x, Some(g), scales, d[3])
                } else {
                    host::softmax(x, Some(g), scales, strided(d))
                }
            })
        });
        flex(y, d)
    }

    fn cl_kl_uniform1(x: FlexTensor, cl: bool) -> FlexTensor {
        let d @ [n, a, b, c] = dims4(&x);
        with_f32(&x, |x| {
            if cl {
                flex(host::kl_uniform_rows(x, c), [n, a, b, 1])
            } else {
                flex(host::kl_uniform(x, strided(d)), [n, 1, b, c])
            }
        })
    }
}

/// The gradient of `x` for `cl_softmax1`'s output `y` and its gradient `dy`.
fn softmax_backward(y: FlexTensor, dy: FlexTensor, scale: f32, cl: bool) -> FlexTensor {
    let d = dims4(&y);
    let dx = with_f32(&y, |y| {
        with_f32(&dy, |dy| {
            if cl {
                host::softmax_backward_rows(y, dy, scale, d[3])
            } else {
                host::softmax_backward(y, dy, scale, strided(d))
            }
        })
    });
    flex(dx, d)
}

/// The gradient of `x` for the per-cell KL's gradient `dkl`.
fn kl_backward(x: FlexTensor, dkl: FlexTensor, cl: bool) -> FlexTensor {
    let d = dims4(&x);
    let dx = with_f32(&x, |x| {
        with_f32(&dkl, |g| {
            if cl {
                host::kl_uniform_backward_rows(x, g, d[3])
            } else {
                host::kl_uniform_backward(x, g, strided(d))
            }
        })
    });
    flex(dx, d)
}

#[derive(Debug)]
struct SoftmaxGrad;

// The backward passes run on flex's tensors: the operations exist on flex only.
impl Backward<Flex, 1> for SoftmaxGrad {
    /// The output, the scale and the layout.
    type State = (FlexTensor, f32, bool);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (y, scale, cl) = ops.state;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, softmax_backward(y, dy, scale, cl));
        }
    }
}

#[derive(Debug)]
struct KlGrad;

impl Backward<Flex, 1> for KlGrad {
    /// x and the layout.
    type State = (NodeId, bool);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let dkl = grads.consume::<Flex>(&ops.node);
        let (x_state, cl) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, kl_backward(x, dkl, cl));
        }
    }
}

impl<C: CheckpointStrategy> CpuSoftmaxBackend for Autodiff<Flex, C> {
    fn cl_softmax1(
        x: FloatTensor<Self>,
        noise: FloatTensor<Self>,
        scales: [f32; 2],
        cl: bool,
    ) -> FloatTensor<Self> {
        let (x_node, x, g) = (x.node(), x.into_primitive(), noise.into_primitive());
        match SoftmaxGrad
            .prepare::<C>([x_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = Flex::cl_softmax1(x, g, scales, cl);
                prep.finish((y.clone(), scales[0] * scales[1], cl), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::cl_softmax1(x, g, scales, cl)),
        }
    }

    fn cl_kl_uniform1(x: FloatTensor<Self>, cl: bool) -> FloatTensor<Self> {
        match KlGrad.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish((state, cl), Flex::cl_kl_uniform1(x.into_primitive(), cl))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::cl_kl_uniform1(x.into_primitive(), cl)),
        }
    }
}

/// The Gumbel-softmax sample `softmax((a·logits + gumbel) / τ)` of `softmax(a·logits)`
/// over the code dimension of `layout`.
///
/// # Shapes
/// logits, gumbel `[B, K, h, w]` (or `[B, h, w, K]`) → the same
pub fn gumbel_softmax(
    engine: Engine,
    layout: Layout,
    logits: Tensor<4>,
    gumbel: Tensor<4>,
    [a, tau]: [f64; 2],
) -> Tensor<4> {
    if !engine.is_kernels() {
        let logits = if a == 1.0 { logits } else { logits * a };
        return softmax((logits + gumbel) / tau, layout.channel_dim());
    }
    Tensor::from_dispatch(Dispatch::cl_softmax1(
        logits.into_dispatch(),
        gumbel.into_dispatch(),
        [a as f32, (1.0 / tau) as f32],
        layout.is_channels_last(),
    ))
}

/// `KL(softmax(logits) ‖ uniform over K)` per cell, in nats, over the code dimension of
/// `layout`.
///
/// # Shapes
/// logits `[B, K, h, w]` → `[B, 1, h, w]` (or `[B, h, w, K]` → `[B, h, w, 1]`)
pub fn kl_to_uniform_cells(engine: Engine, layout: Layout, logits: Tensor<4>) -> Tensor<4> {
    if !engine.is_kernels() {
        let dim = layout.channel_dim();
        let k = logits.dims()[dim];
        let log_q = log_softmax(logits, dim);
        return (log_q.clone().exp() * (log_q + (k as f64).ln())).sum_dim(dim);
    }
    Tensor::from_dispatch(Dispatch::cl_kl_uniform1(
        logits.into_dispatch(),
        layout.is_channels_last(),
    ))
}
