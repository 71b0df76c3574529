//! [`CpuConvBackend`] on autodiff: the operations recorded with their backward passes
//! (input and weight gradients by the kernels, bias gradient as a sum).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};

use super::backend::CpuConvBackend;

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
