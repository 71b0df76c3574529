//! The Gumbel-softmax sample and the per-cell KL to the uniform prior, as single operations
//! over the code dimension on the flex device (plain or autodiff), computed by
//! [`crate::infer::softmax`]: Burn builds each from five to eight elementwise and reduction
//! operations that run on one thread, and at K = 512 they took about a sixth of a training
//! step. Elsewhere, and with `DVAE_GENERIC=1`, the same functions use Burn's operations.
//! Values and gradients are pinned to Burn's by tests.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{log_softmax, softmax};
use burn_flex::FlexTensor;

use crate::infer::softmax as host;

/// Softmax over dimension 1 of `[N, K, H, W]` tensors, and the per-cell KL to uniform.
#[backend_extension(Flex, Autodiff)]
pub trait CpuSoftmaxBackend: Backend {
    /// `softmax((x + noise) · scale, dim 1)`; differentiable in `x` only.
    fn cl_softmax1(x: FloatTensor<Self>, noise: FloatTensor<Self>, scale: f32)
    -> FloatTensor<Self>;

    /// `KL(softmax(x, dim 1) ‖ uniform)` per cell: `[N, K, H, W]` → `[N, 1, H, W]`.
    fn cl_kl_uniform1(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn dims(t: &FlexTensor) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// Contiguous f32 values; Burn's training tensors are f32, and other dtypes convert.
fn values(t: FlexTensor) -> (Vec<f32>, [usize; 4]) {
    let d = dims(&t);
    let data = t.into_data().convert::<f32>();
    (data.try_into_vec::<f32>().unwrap_or_default(), d)
}

fn flex(v: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

impl CpuSoftmaxBackend for Flex {
    fn cl_softmax1(x: FlexTensor, noise: FlexTensor, scale: f32) -> FlexTensor {
        let ((x, d), (g, _)) = (values(x), values(noise));
        let y = host::softmax(&x, Some(&g), scale, [d[0], d[1], d[2] * d[3]]);
        flex(y, d)
    }

    fn cl_kl_uniform1(x: FlexTensor) -> FlexTensor {
        let (x, [n, k, h, w]) = values(x);
        flex(host::kl_uniform(&x, [n, k, h * w]), [n, 1, h, w])
    }
}

/// The gradient of `x` for `cl_softmax1`'s output `y` and its gradient `dy`.
fn softmax_backward(y: FlexTensor, dy: FlexTensor, scale: f32) -> FlexTensor {
    let ((y, d), (dy, _)) = (values(y), values(dy));
    flex(
        host::softmax_backward(&y, &dy, scale, [d[0], d[1], d[2] * d[3]]),
        d,
    )
}

/// The gradient of `x` for the per-cell KL's gradient `dkl`.
fn kl_backward(x: FlexTensor, dkl: FlexTensor) -> FlexTensor {
    let ((x, d), (g, _)) = (values(x), values(dkl));
    flex(
        host::kl_uniform_backward(&x, &g, [d[0], d[1], d[2] * d[3]]),
        d,
    )
}

#[derive(Debug)]
struct SoftmaxGrad;

// The backward passes run on flex's tensors: the operations exist on flex only.
impl Backward<Flex, 1> for SoftmaxGrad {
    /// The output and the scale.
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (y, scale) = ops.state;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, softmax_backward(y, dy, scale));
        }
    }
}

#[derive(Debug)]
struct KlGrad;

impl Backward<Flex, 1> for KlGrad {
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let dkl = grads.consume::<Flex>(&ops.node);
        let x = checkpointer.retrieve_node_output::<FlexTensor>(ops.state);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, kl_backward(x, dkl));
        }
    }
}

impl<C: CheckpointStrategy> CpuSoftmaxBackend for Autodiff<Flex, C> {
    fn cl_softmax1(
        x: FloatTensor<Self>,
        noise: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self> {
        match SoftmaxGrad
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = Flex::cl_softmax1(x.into_primitive(), noise.into_primitive(), scale);
                prep.finish((y.clone(), scale), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::cl_softmax1(
                x.into_primitive(),
                noise.into_primitive(),
                scale,
            )),
        }
    }

    fn cl_kl_uniform1(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match KlGrad.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, Flex::cl_kl_uniform1(x.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::cl_kl_uniform1(x.into_primitive())),
        }
    }
}

/// The Gumbel-softmax sample `softmax((logits + gumbel) / τ, dim 1)`.
///
/// # Shapes
/// logits, gumbel `[B, K, h, w]` → `[B, K, h, w]`
pub fn gumbel_softmax(logits: Tensor<4>, gumbel: Tensor<4>, tau: f64) -> Tensor<4> {
    if !crate::infer::runs_on(&logits.device()) {
        return softmax((logits + gumbel) / tau, 1);
    }
    Tensor::from_dispatch(Dispatch::cl_softmax1(
        logits.into_dispatch(),
        gumbel.into_dispatch(),
        (1.0 / tau) as f32,
    ))
}

/// `KL(softmax(logits) ‖ uniform over K)` per cell, in nats.
///
/// # Shapes
/// logits `[B, K, h, w]` → `[B, 1, h, w]`
pub fn kl_to_uniform_cells(logits: Tensor<4>) -> Tensor<4> {
    if !crate::infer::runs_on(&logits.device()) {
        let k = logits.dims()[1];
        let log_q = log_softmax(logits, 1);
        return (log_q.clone().exp() * (log_q + (k as f64).ln())).sum_dim(1);
    }
    Tensor::from_dispatch(Dispatch::cl_kl_uniform1(logits.into_dispatch()))
}
