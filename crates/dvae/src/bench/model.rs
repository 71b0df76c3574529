//! The `bench` workload's model: the dVAE of `shared/reference/torch_bench.py`, layer for
//! layer, so that `dvae bench --workload bench` and that script time the same work.
//!
//! encoder: conv 3→h/2 k4 s2, ReLU, conv h/2→h k4 s2, ReLU, 2 residual blocks, conv h→K k1;
//! quantizer: Gumbel-softmax over the code dimension (τ = 1, soft), a bias-free 1×1
//! codebook conv K→h; decoder: conv h→h k3, 2 residual blocks, ReLU, convT h→h/2 k4 s2,
//! ReLU, convT h/2→3 k4 s2; loss: MSE + 1e-3 · KL(softmax(logits) ‖ uniform).

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::prelude::*;

use crate::model::cpu_conv::{Layout, conv_transpose2d_in, conv2d_in, conv2d_relu_in};
use crate::model::quantizer::gumbel;
use crate::model::{conv1x1, cpu_softmax};

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
            relu: Relu::new(),
        }
    }
}

/// `x + conv1x1(relu(conv3x3(relu(x))))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub(crate) conv1: Conv2d,
    pub(crate) conv2: Conv2d,
    relu: Relu,
}

impl ResBlock {
    fn new(h: usize, device: &Device) -> Self {
        Self {
            conv1: Conv2dConfig::new([h, h], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            conv2: Conv2dConfig::new([h, h], [1, 1]).init(device),
            relu: Relu::new(),
        }
    }

    /// # Shapes
    /// `[B, h, s, s]` → `[B, h, s, s]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_in(Layout::Nchw, x)
    }

    fn forward_in(&self, layout: Layout, x: Tensor<4>) -> Tensor<4> {
        let r = conv2d_relu_in(layout, &self.conv1, x.clone());
        x + conv1x1::forward_relu_in(layout, &self.conv2, r)
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
    relu: Relu,
}

impl BenchModel {
    /// # Shapes
    /// `[B, 3, S, S]` → logits `[B, K, S/4, S/4]`
    pub fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        self.encode_in(Layout::Nchw, x)
    }

    /// [`encode`](Self::encode) with maps (input and logits too) in `layout`.
    fn encode_in(&self, layout: Layout, x: Tensor<4>) -> Tensor<4> {
        let h = self.relu.forward(conv2d_in(layout, &self.enc_in1, x));
        let mut h = self.relu.forward(conv2d_in(layout, &self.enc_in2, h));
        for b in &self.enc_blocks {
            h = b.forward_in(layout, h);
        }
        conv1x1::forward_in(layout, &self.enc_out, h)
    }

    /// Most likely code per cell: the argmax of the logits (a softmax would not change it).
    ///
    /// # Shapes
    /// `[B, 3, S, S]` → tokens `[B, S/4, S/4]`
    pub fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        gumbel::argmax_tokens(self.encode(x))
    }

    /// # Shapes
    /// (soft) one-hot `[B, K, s, s]` → image `[B, 3, 4s, 4s]`
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        self.decode_in(Layout::Nchw, z)
    }

    fn decode_in(&self, layout: Layout, z: Tensor<4>) -> Tensor<4> {
        self.decode_embedded_in(layout, conv1x1::forward_in(layout, &self.codebook, z))
    }

    /// The same as [`decode`](Self::decode) of the tokens' one-hot, with the codebook
    /// conv replaced by the row lookup it amounts to (no `[B, K, s, s]` tensor).
    ///
    /// # Shapes
    /// tokens `[B, s, s]` → image `[B, 3, 4s, 4s]`
    pub fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        let e = conv1x1::one_hot_forward(&self.codebook, tokens);
        self.decode_embedded_in(Layout::Nchw, e)
    }

    /// # Shapes
    /// `[B, h, s, s]` → image `[B, 3, 4s, 4s]` (or both NHWC)
    fn decode_embedded_in(&self, layout: Layout, e: Tensor<4>) -> Tensor<4> {
        let mut h = conv2d_in(layout, &self.dec_in, e);
        for b in &self.dec_blocks {
            h = b.forward_in(layout, h);
        }
        let h = self.relu.forward(h);
        let h = self
            .relu
            .forward(conv_transpose2d_in(layout, &self.dec_up1, h));
        conv_transpose2d_in(layout, &self.dec_up2, h)
    }

    /// torch_bench.py's loss: `MSE(decode(gumbel_softmax(logits, τ)), x) + kl_weight · KL`,
    /// with the maps in the layout the device runs fastest ([`Layout::for_device`]): the
    /// Gumbel noise, independent draws, is read in that layout's order.
    ///
    /// # Shapes
    /// x `[B, 3, S, S]`, gumbel `[B, K, S/4, S/4]` → `[1]`
    pub fn loss(&self, x: Tensor<4>, gumbel: Tensor<4>, tau: f64, kl_weight: f64) -> Tensor<1> {
        let layout = Layout::for_device(&x.device());
        let gumbel = match layout {
            Layout::Nchw => gumbel,
            Layout::Nhwc => {
                let [b, k, h, w] = gumbel.dims();
                gumbel.reshape([b, h, w, k])
            }
        };
        self.loss_in(layout, layout.from_nchw(x), gumbel, tau, kl_weight)
    }

    /// [`loss`](Self::loss) with `x` and the noise in `layout`.
    ///
    /// # Shapes
    /// x `[B, 3, S, S]`, gumbel `[B, K, S/4, S/4]` (or both NHWC) → `[1]`
    pub fn loss_in(
        &self,
        layout: Layout,
        x: Tensor<4>,
        gumbel: Tensor<4>,
        tau: f64,
        kl_weight: f64,
    ) -> Tensor<1> {
        let logits = self.encode_in(layout, x.clone());
        let soft = cpu_softmax::gumbel_softmax_in(layout, logits.clone(), gumbel, tau);
        let mse = (self.decode_in(layout, soft) - x).powi_scalar(2).mean();
        let kl = cpu_softmax::kl_to_uniform_cells_in(layout, logits).mean();
        mse + kl * kl_weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let x = Tensor::<4>::ones([2, 3, 8, 8], &device) * 0.5;
        assert_eq!(m.encode(x.clone()).dims(), [2, 8, 2, 2]);
        assert_eq!(m.encode_tokens(x).dims(), [2, 2, 2]);
        assert_eq!(m.decode_tokens(tokens(&device)).dims(), [2, 3, 8, 8]);
    }

    /// The lookup path equals the codebook conv over the one-hot (same sums, 1e-5).
    #[test]
    fn token_lookup_matches_one_hot_decode() {
        let device = Device::flex();
        let m = small(&device);
        let t = tokens(&device);
        let a = m.decode_tokens(t.clone());
        let b = m.decode(gumbel::one_hot_dim1(t, 8));
        let diff: f32 = (a - b).abs().max().into_scalar();
        assert!(diff < 1e-5, "max |lookup - one-hot| = {diff}");
    }
}
