//! The DALL·E decoder: (soft) one-hot tokens → image distribution parameters.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use rand::Rng;

use super::block::{ResBlock, dalle_conv};
use super::latent::DecoderInput;
use super::ops::{Fuse, Ops};
use crate::config::ModelConfig;

/// 1×1 convolution from the latent to `n_init` channels (the dVAE's codebook), `group_count` groups of residual
/// blocks at widths `n_hid·2^(G-1-g)` with nearest ×2 upsampling between groups, then ReLU
/// and a 1×1 convolution to the output channels.
#[derive(Module, Debug)]
pub struct Decoder {
    /// The codebook: its weight `[n_init, vocab_size, 1, 1]` holds one vector per code.
    pub input: Conv2d,
    /// `groups[g][i]`: block `i` of group `g`.
    pub groups: Vec<Vec<ResBlock>>,
    /// 1×1 convolution to the output channels.
    pub output: Conv2d,
}

impl Decoder {
    /// A freshly initialised decoder for `c`, taking `in_channels` latent channels.
    pub fn new(c: &ModelConfig, in_channels: usize, rng: &mut impl Rng, device: &Device) -> Self {
        let n_layers = c.group_count * c.n_blk_per_group;
        let width = |g: usize| c.group_width(c.group_count - 1 - g);
        let groups = (0..c.group_count)
            .map(|g| {
                let first_in = if g == 0 { c.n_init } else { width(g - 1) };
                (0..c.n_blk_per_group)
                    .map(|i| {
                        let n_in = if i == 0 { first_in } else { width(g) };
                        ResBlock::new([n_in, width(g)], n_layers, [1, 3, 3, 3], rng, device)
                    })
                    .collect()
            })
            .collect();
        Self {
            input: dalle_conv(in_channels, c.n_init, 1, rng, device),
            groups,
            output: dalle_conv(c.n_hid, c.output_channels(), 1, rng, device),
        }
    }

    /// Runs the decoder from the codebook's output (the input convolution's).
    ///
    /// # Shapes
    /// `[B, n_init, s, s]` → `[B, out_channels, s·2^(G-1), s·2^(G-1)]`
    pub fn forward_embedded<O: Ops>(&self, ops: &O, h: O::Map) -> O::Map {
        let mut h = h;
        let last = self.groups.len() - 1;
        for (g, blocks) in self.groups.iter().enumerate() {
            for block in blocks {
                h = block.forward(ops, &h);
            }
            if g < last {
                h = ops.upsample2(h);
            }
        }
        ops.conv(&self.output, &h, Fuse::relu_in())
    }

    /// The decoder's output for `input`: tokens looked up in the codebook, or vectors through
    /// the input convolution.
    ///
    /// # Shapes
    /// tokens `[B, s, s]` or vectors `[B, in, s, s]` → `[B, out_channels, S, S]` (NCHW)
    pub fn forward<O: Ops>(&self, ops: &O, input: DecoderInput) -> Tensor<4> {
        ops.output(self.last_map(ops, input))
    }

    /// The decoder's output for `input` as pixels in [0, 1] (`unmap(sigmoid(μ))` of the
    /// first `channels` output channels), what a decoded image is.
    ///
    /// # Shapes
    /// tokens `[B, s, s]` or vectors `[B, in, s, s]` → `[B, channels, S, S]` (NCHW)
    pub fn forward_pixels<O: Ops>(
        &self,
        ops: &O,
        input: DecoderInput,
        channels: usize,
    ) -> Tensor<4> {
        ops.pixels(self.last_map(ops, input), channels)
    }

    fn last_map<O: Ops>(&self, ops: &O, input: DecoderInput) -> O::Map {
        let h = match input {
            DecoderInput::Lookup(tokens) => ops.lookup(&self.input, tokens),
            DecoderInput::Dense(z) => ops.conv(&self.input, &ops.input(z), Fuse::plain()),
            DecoderInput::StraightThrough {
                tokens,
                soft,
                soft_codebook_grad: true,
            } => {
                let soft = ops.output(ops.conv(&self.input, &ops.input(*soft), Fuse::plain()));
                let hard = ops.output(ops.lookup(&self.input, tokens));
                ops.input(soft.clone() + (hard - soft).detach())
            }
            DecoderInput::StraightThrough { tokens, soft, .. } => {
                ops.straight_through(&self.input, tokens, *soft)
            }
        };
        self.forward_embedded(ops, h)
    }

    /// The decoder with its codebook (the input weight) redrawn from N(0, std²) with
    /// `seed`; DALL·E's own init is std = 1/sqrt(vocab_size).
    pub fn with_codebook_std(mut self, std: f64, seed: u64) -> Self {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let w = &self.input.weight;
        let shape = w.dims();
        let device = w.val().device();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xc0de_b00c);
        let normal =
            rand_distr::Normal::new(0.0f32, std as f32).expect("std is finite and positive");
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| normal.sample(&mut rng))
            .collect();
        let t = Tensor::<1>::from_floats(values.as_slice(), &device).reshape(shape);
        self.input.weight = burn::module::Param::from_tensor(t);
        self
    }
}
