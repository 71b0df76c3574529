//! The straight-through estimator's gradient path through a 1×1 convolution: a zero map
//! forward, the convolution's input gradient `Wᵀ · dy` into the soft sample backward, and
//! nothing into the weight. Added to the lookup of the drawn codes, it makes
//! `conv(one_hot + soft − stop_grad(soft))` without the `[B, K, h, w]` one-hot or the two
//! products over K it would cost: the forward is the lookup, the weight's gradient the
//! lookup's (the one-hot's), the soft sample's gradient one product.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::conv1x1::conv1x1;
use super::flex_values::{dims4, flex, floats, with_f32};
use crate::kernels::engine::Engine;
use crate::kernels::gemm::gemm_at_b;

/// `[B, K, h, w]` soft samples and a `[Co, K, 1, 1]` weight → `[B, Co, h, w]` zeros whose
/// gradient flows into the soft samples as the convolution's input gradient.
#[backend_extension(Flex, Autodiff)]
pub trait CpuStraightThroughBackend: Backend {
    /// Zeros of the convolution's output shape.
    fn cl_straight_through(soft: FloatTensor<Self>, weight: FloatTensor<Self>)
    -> FloatTensor<Self>;
}

/// Zeros of the convolution's output shape `[B, Co, h, w]`.
fn zeros_out(soft: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
    let (s, w) = (soft.shape(), weight.shape());
    assert_eq!(
        s[1], w[1],
        "straight_through: the weight takes {} channels",
        w[1]
    );
    let shape = [s[0], w[0], s[2], s[3]];
    flex(vec![0.0f32; shape.iter().product()], shape)
}

impl CpuStraightThroughBackend for Flex {
    fn cl_straight_through(soft: FlexTensor, weight: FlexTensor) -> FlexTensor {
        zeros_out(&soft, &weight)
    }
}

#[derive(Debug)]
struct StraightThroughGrad;

impl Backward<Flex, 1> for StraightThroughGrad {
    /// The weight and the soft samples' shape.
    type State = (FlexTensor, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_soft] = ops.parents;
        let dy = floats(grads.consume::<Flex>(&ops.node));
        let (weight, soft_shape) = ops.state;
        let Some(node) = node_soft else { return };
        let [b, k, h, w] = soft_shape;
        let hw = h * w;
        let co = weight.shape()[0];
        // Per image: dsoft[K, hw] = Wᵀ[K, Co] · dy[Co, hw].
        let mut dx = vec![0.0f32; b * k * hw];
        with_f32(&weight, |weight| {
            dx.par_chunks_mut(k * hw)
                .zip(dy.par_chunks(co * hw))
                .for_each(|(dx, dy)| {
                    gemm_at_b(dx, weight, dy, [k, co, hw], gemm::Parallelism::None)
                })
        });
        grads.register::<Flex>(node.id, flex(dx, soft_shape));
    }
}

impl<C: CheckpointStrategy> CpuStraightThroughBackend for Autodiff<Flex, C> {
    fn cl_straight_through(
        soft: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let node = soft.node();
        let (soft, weight) = (soft.into_primitive(), weight.into_primitive());
        let out = zeros_out(&soft, &weight);
        let soft_shape = dims4(&soft);
        match StraightThroughGrad
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((weight, soft_shape), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

/// The straight-through path of `conv` (pointwise) for soft samples `soft`: zeros forward,
/// `Wᵀ · dy` into `soft` backward, no gradient for the weight or the bias. On the generic
/// engine, `c − stop_grad(c)` of the convolution with its weight detached.
///
/// # Shapes
/// soft `[B, K, h, w]` → `[B, Co, h, w]`
pub fn straight_through(engine: Engine, conv: &Conv2d, soft: Tensor<4>) -> Tensor<4> {
    let weight = conv.weight.val().detach();
    if !engine.is_kernels() {
        let c = conv1x1(soft, weight, None);
        return c.clone() - c.detach();
    }
    Tensor::from_dispatch(Dispatch::cl_straight_through(
        soft.into_dispatch(),
        weight.into_dispatch(),
    ))
}
