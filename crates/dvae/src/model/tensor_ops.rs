//! [`Ops`] on Burn tensors: the layers training runs (autodiff), and inference on the
//! generic engine. On the kernels' engine the maps stay channels-last between layers and
//! each convolution is the kernels' Burn operation; on the generic engine they are NCHW and
//! Burn's own operations run.

use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::gumbel::argmax_tokens;
use super::ops::{Fuse, Ops};
use crate::kernels::engine::Engine;
use crate::kernels::ops::{conv, conv1x1, straight_through};

/// A map in the engine's layout, with a ReLU of its values still to be taken by the layer
/// that reads it (so that a convolution that reads it takes the ReLU in the same pass).
#[derive(Clone, Debug)]
pub struct TensorMap {
    t: Tensor<4>,
    relu: bool,
}

impl TensorMap {
    /// The values, the pending ReLU applied.
    fn value(&self) -> Tensor<4> {
        if self.relu {
            relu(self.t.clone())
        } else {
            self.t.clone()
        }
    }
}

/// The layers on Burn tensors for `engine`.
#[derive(Clone, Copy, Debug)]
pub struct TensorOps {
    /// Which operations run.
    pub engine: Engine,
}

impl TensorOps {
    /// A tensor already in the engine's layout, as a map.
    pub fn wrap(&self, t: Tensor<4>) -> TensorMap {
        TensorMap { t, relu: false }
    }

    /// A map's values in the engine's layout (no relayout).
    pub fn unwrap(&self, m: TensorMap) -> Tensor<4> {
        m.value()
    }

    /// `y` scaled and added to the residual, as the fused epilogue does.
    fn epilogue(y: Tensor<4>, f: &Fuse<'_, TensorMap>) -> TensorMap {
        let y = if f.scale == 1.0 { y } else { y * f.scale };
        let y = match f.residual {
            Some(r) => r.value() + y,
            None => y,
        };
        TensorMap {
            t: y,
            relu: f.output_relu,
        }
    }
}

impl Ops for TensorOps {
    type Map = TensorMap;

    fn input(&self, x: Tensor<4>) -> TensorMap {
        TensorMap {
            t: self.engine.layout().from_nchw(x),
            relu: false,
        }
    }

    fn output(&self, m: TensorMap) -> Tensor<4> {
        self.engine.layout().to_nchw(m.value())
    }

    fn conv(&self, layer: &Conv2d, x: &TensorMap, f: Fuse<'_, TensorMap>) -> TensorMap {
        let relu_in = f.input_relu || x.relu;
        let y = conv1x1::forward(
            self.engine,
            self.engine.layout(),
            layer,
            x.t.clone(),
            relu_in,
        );
        Self::epilogue(y, &f)
    }

    fn conv_transpose(
        &self,
        layer: &ConvTranspose2d,
        x: &TensorMap,
        f: Fuse<'_, TensorMap>,
    ) -> TensorMap {
        let x = if f.input_relu || x.relu {
            relu(x.t.clone())
        } else {
            x.t.clone()
        };
        let y = conv::conv_transpose2d(self.engine, self.engine.layout(), layer, x);
        Self::epilogue(y, &f)
    }

    fn conv_argmax(&self, layer: &Conv2d, x: &TensorMap, input_relu: bool) -> Tensor<3, Int> {
        let f = if input_relu {
            Fuse::relu_in()
        } else {
            Fuse::plain()
        };
        let logits = self.output(self.conv(layer, x, f));
        argmax_tokens(logits)
    }

    fn lookup(&self, layer: &Conv2d, tokens: Tensor<3, Int>) -> TensorMap {
        self.input(conv1x1::one_hot_forward(layer, tokens))
    }

    fn straight_through(
        &self,
        layer: &Conv2d,
        tokens: Tensor<3, Int>,
        soft: Tensor<4>,
    ) -> TensorMap {
        let st = straight_through::straight_through(self.engine, layer, soft);
        self.input(conv1x1::one_hot_forward(layer, tokens) + st)
    }

    fn max_pool2(&self, x: TensorMap) -> TensorMap {
        // Burn's pooling, in NCHW.
        let layout = self.engine.layout();
        let pool = MaxPool2dConfig::new([2, 2]).init();
        TensorMap {
            t: layout.from_nchw(pool.forward(layout.to_nchw(x.value()))),
            relu: false,
        }
    }

    fn upsample2(&self, x: TensorMap) -> TensorMap {
        let t = x.value();
        let t = if self.engine.layout().is_channels_last() {
            let [b, h, w, c] = t.dims();
            t.reshape([b, h, 1, w, 1, c])
                .expand([b, h, 2, w, 2, c])
                .reshape([b, 2 * h, 2 * w, c])
        } else {
            let [b, c, h, w] = t.dims();
            t.reshape([b, c, h, 1, w, 1])
                .expand([b, c, h, 2, w, 2])
                .reshape([b, c, 2 * h, 2 * w])
        };
        TensorMap { t, relu: false }
    }
}
