//! The operations a network's topology is written in. Each network (the DALL·E encoder and
//! decoder, the bench model) is defined once, generic over [`Ops`]; an engine runs it:
//! [`TensorOps`](super::tensor_ops::TensorOps) on Burn tensors (training, and inference on
//! the generic engine), [`HostOps`](super::host_ops::HostOps) on the kernels' host maps
//! (inference on the CPU, weights packed once).

use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

/// What a layer does around its convolution: `relu?(residual + scale · conv(relu?(x)))`.
#[derive(Debug)]
pub struct Fuse<'a, M> {
    /// ReLU of the input.
    pub input_relu: bool,
    /// ReLU of the output.
    pub output_relu: bool,
    /// Added to the scaled output (same shape as the output).
    pub residual: Option<&'a M>,
    /// Factor on the convolution's output (DALL·E's `post_gain`).
    pub scale: f64,
}

impl<M> Fuse<'_, M> {
    /// `conv(x)`.
    pub fn plain() -> Self {
        Self {
            input_relu: false,
            output_relu: false,
            residual: None,
            scale: 1.0,
        }
    }

    /// `conv(relu(x))`.
    pub fn relu_in() -> Self {
        Self {
            input_relu: true,
            ..Self::plain()
        }
    }

    /// `relu(conv(x))`.
    pub fn relu_out() -> Self {
        Self {
            output_relu: true,
            ..Self::plain()
        }
    }
}

impl<'a, M> Fuse<'a, M> {
    /// `residual + scale · conv(x)`.
    pub fn add_to(residual: &'a M, scale: f64) -> Self {
        Self {
            residual: Some(residual),
            scale,
            ..Self::plain()
        }
    }
}

/// An engine's layers: maps of its own type between them, NCHW Burn tensors at the edges.
pub trait Ops {
    /// A batch of feature maps between layers.
    type Map;
    /// An NCHW tensor as a map.
    fn input(&self, x: Tensor<4>) -> Self::Map;
    /// A map as an NCHW tensor.
    fn output(&self, m: Self::Map) -> Tensor<4>;
    /// The decoder's last map as pixels in [0, 1]: `unmap(sigmoid(μ))` of its first
    /// `channels` channels, what [`super::pixels::output_to_pixels`] makes of
    /// [`Ops::output`] (an engine may do it in one pass).
    ///
    /// # Shapes
    /// → `[B, channels, S, S]`
    fn pixels(&self, m: Self::Map, channels: usize) -> Tensor<4> {
        super::pixels::output_to_pixels(self.output(m), channels)
    }
    /// A convolution with its fused epilogue.
    fn conv(&self, layer: &Conv2d, x: &Self::Map, f: Fuse<'_, Self::Map>) -> Self::Map;
    /// A transposed convolution with its fused epilogue.
    fn conv_transpose(
        &self,
        layer: &ConvTranspose2d,
        x: &Self::Map,
        f: Fuse<'_, Self::Map>,
    ) -> Self::Map;
    /// The argmax over the output channels of `conv(relu?(x))`, without keeping the output
    /// where the engine can.
    fn conv_argmax(&self, layer: &Conv2d, x: &Self::Map, input_relu: bool) -> Tensor<3, Int>;
    /// The 1×1 convolution `layer` applied to the one-hot of `tokens` (a row lookup).
    fn lookup(&self, layer: &Conv2d, tokens: Tensor<3, Int>) -> Self::Map;
    /// The straight-through estimator's input to `layer` (pointwise): the lookup of
    /// `tokens` forward, the gradient of `layer` applied to `soft` `[B, K, h, w]` into `soft`
    /// backward, the weight's gradient the lookup's. Engines that do not train take the
    /// lookup.
    fn straight_through(
        &self,
        layer: &Conv2d,
        tokens: Tensor<3, Int>,
        soft: Tensor<4>,
    ) -> Self::Map {
        let _ = soft;
        self.lookup(layer, tokens)
    }
    /// 2×2 max pooling with stride 2.
    fn max_pool2(&self, x: Self::Map) -> Self::Map;
    /// Nearest-neighbour ×2 upsampling (an engine may defer it into the next layer).
    fn upsample2(&self, x: Self::Map) -> Self::Map;
}
