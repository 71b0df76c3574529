//! The `bench` workload's model: the dVAE of `shared/reference/torch_bench.py`, layer for
//! layer, so that `dvae bench --workload bench` and that script time the same work.
//!
//! encoder: conv 3→h/2 k4 s2, ReLU, conv h/2→h k4 s2, ReLU, 2 residual blocks, conv h→K k1;
//! quantizer: Gumbel-softmax over the code dimension (τ = 1, soft), a bias-free 1×1
//! codebook conv K→h; decoder: conv h→h k3, 2 residual blocks, ReLU, convT h→h/2 k4 s2,
//! ReLU, convT h/2→3 k4 s2; loss: MSE + 1e-3 · KL(softmax(logits) ‖ uniform).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;

use crate::kernels::engine::Engine;
use crate::kernels::ops::softmax;
use crate::model::ops::{Fuse, Ops};
use crate::model::tensor_ops::TensorOps;

/// Sizes of the bench model (torch_bench.py's `--codes`, `--hidden`, `--image-size`).
#[derive(Config, Debug)]
pub struct BenchModelConfig {
    /// Codebook size K.
    #[config(default = 512)]
    pub codes: usize,
    /// Channels of the 16×16 stage (h); the 32×32 stage has h/2.
    #[config(default = 128)]
    pub hidden: usize,
    /// Side of the square input images.
    #[config(default = 64)]
    pub image_size: usize,
}

impl BenchModelConfig {
    /// Side of the token grid (the image side / 4).
    pub fn grid_size(&self) -> usize {
        self.image_size / 4
    }

    /// A model with Burn's default (PyTorch-like) initialisation.
    pub fn init(&self, device: &Device) -> BenchModel {
        let h = self.hidden;
        let down = |i, o| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let up = |i, o| {
            ConvTranspose2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        BenchModel {
            enc_in1: down(3, h / 2),
            enc_in2: down(h / 2, h),
            enc_blocks: (0..2).map(|_| ResBlock::new(h, device)).collect(),
            enc_out: Conv2dConfig::new([h, self.codes], [1, 1]).init(device),
            codebook: Conv2dConfig::new([self.codes, h], [1, 1])
                .with_bias(false)
                .init(device),
            dec_in: Conv2dConfig::new([h, h], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            dec_blocks: (0..2).map(|_| ResBlock::new(h, device)).collect(),
            dec_up1: up(h, h / 2),
            dec_up2: up(h / 2, 3),
        }
    }
}

/// `x + conv1x1(relu(conv3x3(relu(x))))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub(crate) conv1: Conv2d,
    pub(crate) conv2: Conv2d,
}

impl ResBlock {
    fn new(h: usize, device: &Device) -> Self {
        Self {
            conv1: Conv2dConfig::new([h, h], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            conv2: Conv2dConfig::new([h, h], [1, 1]).init(device),
        }
    }

    /// # Shapes
    /// `[B, h, s, s]` → `[B, h, s, s]`
    fn forward<O: Ops>(&self, ops: &O, x: &O::Map) -> O::Map {
        let r = ops.conv(
            &self.conv1,
            x,
            Fuse {
                input_relu: true,
                ..Fuse::relu_out()
            },
        );
        ops.conv(&self.conv2, &r, Fuse::add_to(x, 1.0))
    }
}

/// torch_bench.py's `Dvae`.
#[derive(Module, Debug)]
pub struct BenchModel {
    pub(crate) enc_in1: Conv2d,
    pub(crate) enc_in2: Conv2d,
    pub(crate) enc_blocks: Vec<ResBlock>,
    pub(crate) enc_out: Conv2d,
    /// A bias-free 1×1 conv K→h: the codebook as an einsum with a `[K, h]` embedding.
    pub(crate) codebook: Conv2d,
    pub(crate) dec_in: Conv2d,
    pub(crate) dec_blocks: Vec<ResBlock>,
    pub(crate) dec_up1: ConvTranspose2d,
    pub(crate) dec_up2: ConvTranspose2d,
}

impl BenchModel {
    /// The encoder's maps before its output convolution.
    fn features<O: Ops>(&self, ops: &O, x: &O::Map) -> O::Map {
        let h = ops.conv(&self.enc_in1, x, Fuse::relu_out());
        let mut h = ops.conv(&self.enc_in2, &h, Fuse::relu_out());
        for b in &self.enc_blocks {
            h = b.forward(ops, &h);
        }
        h
    }

    /// # Shapes
    /// `[B, 3, S, S]` → logits `[B, K, S/4, S/4]`
    pub fn encode<O: Ops>(&self, ops: &O, x: Tensor<4>) -> Tensor<4> {
        let h = self.features(ops, &ops.input(x));
        ops.output(ops.conv(&self.enc_out, &h, Fuse::plain()))
    }

    /// Most likely code per cell: the argmax of the logits (a softmax would not change it).
    ///
    /// # Shapes
    /// `[B, 3, S, S]` → tokens `[B, S/4, S/4]`
    pub fn encode_tokens<O: Ops>(&self, ops: &O, x: Tensor<4>) -> Tensor<3, Int> {
        let h = self.features(ops, &ops.input(x));
        ops.conv_argmax(&self.enc_out, &h, false)
    }

    /// # Shapes
    /// `[B, h, s, s]` → image `[B, 3, 4s, 4s]`
    fn decode_embedded<O: Ops>(&self, ops: &O, e: O::Map) -> O::Map {
        let mut h = ops.conv(&self.dec_in, &e, Fuse::plain());
        for b in &self.dec_blocks {
            h = b.forward(ops, &h);
        }
        let h = ops.conv_transpose(
            &self.dec_up1,
            &h,
            Fuse {
                input_relu: true,
                ..Fuse::relu_out()
            },
        );
        ops.conv_transpose(&self.dec_up2, &h, Fuse::plain())
    }

    /// # Shapes
    /// (soft) one-hot `[B, K, s, s]` → image `[B, 3, 4s, 4s]`
    pub fn decode<O: Ops>(&self, ops: &O, z: Tensor<4>) -> Tensor<4> {
        let e = ops.conv(&self.codebook, &ops.input(z), Fuse::plain());
        ops.output(self.decode_embedded(ops, e))
    }

    /// The same as [`decode`](Self::decode) of the tokens' one-hot, with the codebook
    /// conv replaced by the row lookup it amounts to (no `[B, K, s, s]` tensor).
    ///
    /// # Shapes
    /// tokens `[B, s, s]` → image `[B, 3, 4s, 4s]`
    pub fn decode_tokens<O: Ops>(&self, ops: &O, tokens: Tensor<3, Int>) -> Tensor<4> {
        let e = ops.lookup(&self.codebook, tokens);
        ops.output(self.decode_embedded(ops, e))
    }

    /// torch_bench.py's loss: `MSE(decode(gumbel_softmax(logits, τ)), x) + kl_weight · KL`,
    /// with every map in the engine's layout: the Gumbel noise, independent draws, is read
    /// in that layout's order.
    ///
    /// # Shapes
    /// x `[B, 3, S, S]`, gumbel `[B, K, S/4, S/4]` → `[1]`
    pub fn loss(
        &self,
        engine: Engine,
        x: Tensor<4>,
        gumbel: Tensor<4>,
        tau: f64,
        kl_weight: f64,
    ) -> Tensor<1> {
        let ops = TensorOps { engine };
        let layout = engine.layout();
        let gumbel = if layout.is_channels_last() {
            let [b, k, h, w] = gumbel.dims();
            gumbel.reshape([b, h, w, k])
        } else {
            gumbel
        };
        let x = ops.input(x);
        let h = self.features(&ops, &x);
        let logits = ops.unwrap(ops.conv(&self.enc_out, &h, Fuse::plain()));
        let soft = softmax::gumbel_softmax(engine, layout, logits.clone(), gumbel, [1.0, tau]);
        let e = ops.conv(&self.codebook, &ops.wrap(soft), Fuse::plain());
        let out = ops.unwrap(self.decode_embedded(&ops, e));
        let mse = (out - ops.unwrap(x)).powi_scalar(2).mean();
        let kl = softmax::kl_to_uniform_cells(engine, layout, logits).mean();
        mse + kl * kl_weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gumbel;
    use crate::model::host_ops::HostOps;

    fn small(device: &Device) -> BenchModel {
        let c = BenchModelConfig::new()
            .with_codes(8)
            .with_hidden(8)
            .with_image_size(8);
        c.init(device)
    }

    fn tokens(device: &Device) -> Tensor<3, Int> {
        Tensor::<1, Int>::from_ints([0, 5, 7, 1, 2, 3, 7, 0], device).reshape([2, 2, 2])
    }

    #[test]
    fn shapes_follow_torch_bench() {
        let device = Device::flex();
        let m = small(&device);
        let ops = TensorOps {
            engine: Engine::Generic,
        };
        let x = Tensor::<4>::ones([2, 3, 8, 8], &device) * 0.5;
        assert_eq!(m.encode(&ops, x.clone()).dims(), [2, 8, 2, 2]);
        assert_eq!(m.encode_tokens(&ops, x).dims(), [2, 2, 2]);
        assert_eq!(m.decode_tokens(&ops, tokens(&device)).dims(), [2, 3, 8, 8]);
    }

    /// The lookup path equals the codebook conv over the one-hot (same sums, 1e-5), and the
    /// kernels' host path equals Burn's (1e-4).
    #[test]
    fn token_lookup_matches_one_hot_decode_on_both_engines() {
        let device = Device::flex();
        let m = small(&device);
        let generic = TensorOps {
            engine: Engine::Generic,
        };
        let t = tokens(&device);
        let a = m.decode_tokens(&generic, t.clone());
        let b = m.decode(&generic, gumbel::one_hot_dim1(t.clone(), 8));
        let diff: f32 = (a.clone() - b).abs().max().into_scalar();
        assert!(diff < 1e-5, "max |lookup - one-hot| = {diff}");
        let host = m.decode_tokens(&HostOps::new(&device), t);
        let diff: f32 = (a - host).abs().max().into_scalar();
        assert!(diff < 1e-4, "max |host - burn| = {diff}");
    }
}
