//! A gated PixelCNN over the token grid (van den Oord et al. 2016), the prior the VQ-VAE
//! paper trains over its codes.
//!
//! Two stacks of masked convolutions keep the output at cell (i, j) a function of the tokens
//! before it in raster order only, without a blind spot:
//! - the vertical stack sees whole rows above: its first layer's k×k kernel keeps the rows
//!   above the centre, later layers also the centre row (which by then only summarises
//!   rows above);
//! - the horizontal stack sees the current row to the left: its first 1×k kernel keeps the
//!   columns left of the centre, later ones the centre too; each layer adds the vertical
//!   stack's features of the same cell.
//!
//! Every layer is gated, `tanh(a) ⊙ σ(b)`, with a class bias added to `a` and `b`.

use burn::module::Param;
use burn::nn::Embedding;
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid, tanh};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use rand::Rng;

use super::config::{PriorConfig, normal_param};

/// A convolution whose kernel is multiplied by a fixed 0/1 mask on every forward.
#[derive(Module, Debug)]
pub struct MaskedConv {
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
    /// Kernel mask, row-major over `[kh, kw]`.
    mask: Vec<u8>,
}

impl MaskedConv {
    /// `n_in → n_out` channels, `kh`×`kw` kernel, keeping the taps where `keep(row, col)`.
    fn new(
        n_in: usize,
        n_out: usize,
        [kh, kw]: [usize; 2],
        keep: impl Fn(usize, usize) -> bool,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let mask: Vec<u8> = (0..kh * kw).map(|i| keep(i / kw, i % kw) as u8).collect();
        let live = mask.iter().filter(|&&m| m == 1).count().max(1);
        let std = 1.0 / ((n_in * live) as f64).sqrt();
        Self {
            weight: normal_param([n_out, n_in, kh, kw], std, rng, device),
            bias: Param::from_tensor(Tensor::zeros([n_out], device)),
            mask,
        }
    }

    /// "Same" convolution with the masked kernel.
    ///
    /// # Shapes
    /// `[B, n_in, H, W]` → `[B, n_out, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let w = self.weight.val();
        let [_, _, kh, kw] = w.dims();
        let mask: Vec<f32> = self.mask.iter().map(|&m| m as f32).collect();
        let mask = Tensor::<1>::from_floats(mask.as_slice(), &w.device()).reshape([1, 1, kh, kw]);
        let options = ConvOptions::new([1, 1], [kh / 2, kw / 2], [1, 1], 1);
        conv2d(x, w * mask, Some(self.bias.val()), options)
    }
}

/// One gated layer of both stacks.
#[derive(Module, Debug)]
pub struct GatedLayer {
    v_conv: MaskedConv,
    h_conv: MaskedConv,
    v_to_h: MaskedConv,
    h_out: MaskedConv,
    /// Class bias of the gates, one row per class and one for "no class".
    class_bias: Embedding,
    residual: bool,
}

fn gate(x: Tensor<4>) -> Tensor<4> {
    let c = x.dims()[1] / 2;
    tanh(x.clone().narrow(1, 0, c)) * sigmoid(x.narrow(1, c, c))
}

impl GatedLayer {
    fn new(c: &PriorConfig, first: bool, rng: &mut impl Rng, device: &Device) -> Self {
        let (d, k) = (c.width, c.kernel);
        let centre = k / 2;
        let all = |_, _| true;
        Self {
            v_conv: MaskedConv::new(
                d,
                2 * d,
                [k, k],
                |r, _| r < centre || (!first && r == centre),
                rng,
                device,
            ),
            h_conv: MaskedConv::new(
                d,
                2 * d,
                [1, k],
                |_, col| col < centre || (!first && col == centre),
                rng,
                device,
            ),
            v_to_h: MaskedConv::new(2 * d, 2 * d, [1, 1], all, rng, device),
            h_out: MaskedConv::new(d, d, [1, 1], all, rng, device),
            class_bias: Embedding {
                weight: normal_param([c.classes + 1, 2 * d], 0.1, rng, device),
            },
            residual: !first,
        }
    }

    /// # Shapes
    /// `v`, `h` `[B, d, H, W]`, `classes` `[B]` → two `[B, d, H, W]`
    fn forward(
        &self,
        v: Tensor<4>,
        h: Tensor<4>,
        classes: Tensor<1, Int>,
    ) -> (Tensor<4>, Tensor<4>) {
        let [b] = classes.dims();
        let bias = self.class_bias.forward(classes.reshape([b, 1]));
        let d2 = bias.dims()[2];
        let bias = bias.reshape([b, d2, 1, 1]);
        let v_pre = self.v_conv.forward(v) + bias.clone();
        let h_pre = self.h_conv.forward(h.clone()) + self.v_to_h.forward(v_pre.clone()) + bias;
        let h_new = self.h_out.forward(gate(h_pre));
        let h = if self.residual { h + h_new } else { h_new };
        (gate(v_pre), h)
    }
}

/// The gated PixelCNN prior.
#[derive(Module, Debug)]
pub struct PixelCnn {
    embed: Embedding,
    layers: Vec<GatedLayer>,
    out_1: MaskedConv,
    out_2: MaskedConv,
    grid: usize,
}

impl PixelCnn {
    /// A PixelCNN for `c`, weights from `rng`.
    pub fn new(c: &PriorConfig, rng: &mut impl Rng, device: &Device) -> Self {
        let all = |_, _| true;
        Self {
            embed: Embedding {
                weight: normal_param([c.vocab_size, c.width], 1.0, rng, device),
            },
            layers: (0..c.layers)
                .map(|i| GatedLayer::new(c, i == 0, rng, device))
                .collect(),
            out_1: MaskedConv::new(c.width, c.width, [1, 1], all, rng, device),
            out_2: MaskedConv::new(c.width, c.vocab_size, [1, 1], all, rng, device),
            grid: c.grid,
        }
    }

    /// Logits of every cell given the cells before it in raster order.
    ///
    /// # Shapes
    /// `tokens` `[B, T]`, `classes` `[B]` → `[B, T, K]`
    pub fn forward(&self, tokens: Tensor<2, Int>, classes: Tensor<1, Int>) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let g = self.grid;
        let x = self.embed.forward(tokens); // [B, T, d]
        let d = x.dims()[2];
        let x = x.swap_dims(1, 2).reshape([b, d, g, g]);
        let (mut v, mut h) = (x.clone(), x);
        for layer in &self.layers {
            (v, h) = layer.forward(v, h, classes.clone());
        }
        let out = self.out_2.forward(relu(self.out_1.forward(relu(h))));
        let k = out.dims()[1];
        out.reshape([b, k, t]).swap_dims(1, 2)
    }
}
