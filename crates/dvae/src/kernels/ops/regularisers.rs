//! The dVAE's regularisers of `q = softmax(a·logits)` (the mean per-cell KL to uniform and
//! the batch-mean `q̄`'s KL to uniform) as one operation on the flex device, plain or
//! autodiff, computed by [`crate::kernels::regularisers`]. `loss::dvae_regularisers` calls
//! it on the kernels' engine and composes Burn's operations elsewhere; tests pin the two.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn_flex::FlexTensor;

use super::flex_values::{dims4, flex, floats, strided, with_f32};
use crate::kernels::regularisers as host;

/// The two regularisers of NCHW logits `[N, K, H, W]` → `[2]`.
#[backend_extension(Flex, Autodiff)]
pub trait CpuRegularisersBackend: Backend {
    /// `[mean per-cell KL(q ‖ U), KL(q̄ ‖ U)]` of `q = softmax(a·x)` over dimension 1.
    fn cl_regularisers(x: FloatTensor<Self>, a: f32) -> FloatTensor<Self>;
}

/// The forward pass: the pair as a tensor, and `q̄`.
fn forward(x: &FlexTensor, a: f32) -> (FlexTensor, Vec<f32>) {
    let d = dims4(x);
    let (pair, q_bar) = with_f32(x, |x| host::forward(x, a, strided(d)));
    (flex(pair.to_vec(), [2]), q_bar)
}

impl CpuRegularisersBackend for Flex {
    fn cl_regularisers(x: FlexTensor, a: f32) -> FlexTensor {
        forward(&x, a).0
    }
}

#[derive(Debug)]
struct RegularisersGrad;

impl Backward<Flex, 1> for RegularisersGrad {
    /// x, the scale and `q̄`.
    type State = (NodeId, f32, Vec<f32>);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let d = floats(grads.consume::<Flex>(&ops.node));
        let (x_state, a, q_bar) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        if let Some(node) = node_x {
            let dims = dims4(&x);
            let dx = with_f32(&x, |x| {
                host::backward(x, a, &q_bar, [d[0], d[1]], strided(dims))
            });
            grads.register::<Flex>(node.id, flex(dx, dims));
        }
    }
}

impl<C: CheckpointStrategy> CpuRegularisersBackend for Autodiff<Flex, C> {
    fn cl_regularisers(x: FloatTensor<Self>, a: f32) -> FloatTensor<Self> {
        match RegularisersGrad
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                let (pair, q_bar) = forward(&x.into_primitive(), a);
                prep.finish((state, a, q_bar), pair)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(&x.into_primitive(), a).0),
        }
    }
}

/// `[mean per-cell KL(q ‖ U), KL(q̄ ‖ U)]` of `q = softmax(a·logits)` on the kernels
/// (the caller checks the engine).
///
/// # Shapes
/// logits `[B, K, h, w]` → `[2]`
pub fn regularisers(logits: Tensor<4>, a: f64) -> Tensor<1> {
    Tensor::from_dispatch(Dispatch::cl_regularisers(logits.into_dispatch(), a as f32))
}
