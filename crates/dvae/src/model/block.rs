//! DALL·E's convolution and bottleneck residual block, shared by encoder and decoder.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use rand::Rng;
use rand_distr::{Distribution, Normal};

use super::ops::{Fuse, Ops};

/// DALL·E's `Conv2d`: square kernel `kw` (odd), "same" padding, weights drawn from
/// N(0, 1/(n_in·kw²)), zero bias. The weights come from `rng`, so a seed fixes them
/// whatever else runs on the device.
pub fn dalle_conv(
    n_in: usize,
    n_out: usize,
    kw: usize,
    rng: &mut impl Rng,
    device: &Device,
) -> Conv2d {
    let pad = (kw - 1) / 2;
    let std = 1.0 / ((n_in * kw * kw) as f32).sqrt();
    let mut conv = Conv2dConfig::new([n_in, n_out], [kw, kw])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_initializer(Initializer::Zeros)
        .init(device);
    let normal = Normal::new(0.0f32, std).expect("std is finite and positive");
    let values: Vec<f32> = (0..n_out * n_in * kw * kw)
        .map(|_| normal.sample(rng))
        .collect();
    let weight = Tensor::<1>::from_floats(values.as_slice(), device).reshape([n_out, n_in, kw, kw]);
    conv.weight = Param::from_tensor(weight);
    conv.bias = Some(Param::from_tensor(Tensor::zeros([n_out], device)));
    conv
}

/// A bottleneck residual block: `id_path(x) + post_gain · res_path(x)`, where the residual
/// path is four ReLU→conv layers through `n_out/4` hidden channels.
///
/// The encoder's kernels are 3,3,3,1; the decoder's 1,3,3,3 (as in openai/DALL-E).
#[derive(Module, Debug)]
pub struct ResBlock {
    /// 1×1 projection when `n_in != n_out`, identity otherwise.
    pub id_path: Option<Conv2d>,
    /// First residual convolution (`n_in → n_out/4`).
    pub conv_1: Conv2d,
    /// Second residual convolution.
    pub conv_2: Conv2d,
    /// Third residual convolution.
    pub conv_3: Conv2d,
    /// Last residual convolution (`n_out/4 → n_out`).
    pub conv_4: Conv2d,
    /// `1 / n_layers²`, with `n_layers = group_count · n_blk_per_group`.
    pub post_gain: f64,
}

impl ResBlock {
    /// A block with the given kernel sizes of its four residual convolutions.
    pub fn new(
        [n_in, n_out]: [usize; 2],
        n_layers: usize,
        kernels: [usize; 4],
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let n_hid = n_out / 4;
        Self {
            id_path: (n_in != n_out).then(|| dalle_conv(n_in, n_out, 1, rng, device)),
            conv_1: dalle_conv(n_in, n_hid, kernels[0], rng, device),
            conv_2: dalle_conv(n_hid, n_hid, kernels[1], rng, device),
            conv_3: dalle_conv(n_hid, n_hid, kernels[2], rng, device),
            conv_4: dalle_conv(n_hid, n_out, kernels[3], rng, device),
            post_gain: 1.0 / (n_layers * n_layers) as f64,
        }
    }

    /// `id_path(x) + post_gain · conv_4(relu(conv_3(relu(conv_2(relu(conv_1(relu(x))))))))`.
    ///
    /// # Shapes
    /// `[B, n_in, H, W]` → `[B, n_out, H, W]`
    pub fn forward<O: Ops>(&self, ops: &O, x: &O::Map) -> O::Map {
        let h = ops.conv(
            &self.conv_1,
            x,
            Fuse {
                input_relu: true,
                ..Fuse::relu_out()
            },
        );
        let h = ops.conv(&self.conv_2, &h, Fuse::relu_out());
        let h = ops.conv(&self.conv_3, &h, Fuse::relu_out());
        let id = self.id_path.as_ref().map(|c| ops.conv(c, x, Fuse::plain()));
        ops.conv(
            &self.conv_4,
            &h,
            Fuse::add_to(id.as_ref().unwrap_or(x), self.post_gain),
        )
    }
}
