//! The DALL·E decoder: (soft) one-hot tokens → image distribution parameters.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::Rng;

use super::block::{ResBlock, dalle_conv};
use super::conv1x1;
use crate::config::ModelConfig;

/// 1×1 convolution `vocab_size → n_init` (the codebook), `group_count` groups of residual
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

    /// Runs the decoder from the codebook's output.
    ///
    /// # Shapes
    /// `[B, n_init, s, s]` → `[B, out_channels, s·2^(G-1), s·2^(G-1)]`
    pub fn forward_embedded(&self, h: Tensor<4>) -> Tensor<4> {
        let mut h = h;
        let last = self.groups.len() - 1;
        for (g, blocks) in self.groups.iter().enumerate() {
            for block in blocks {
                h = block.forward(h);
            }
            if g < last {
                h = upsample_nearest2(h);
            }
        }
        conv1x1::forward(&self.output, relu(h))
    }

    /// # Shapes
    /// (soft) one-hot `[B, vocab_size, s, s]` → `[B, out_channels, S, S]`
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        self.forward_embedded(conv1x1::forward(&self.input, z))
    }

    /// Codebook lookup for hard tokens: the same as `input` applied to a one-hot
    /// tensor, without building it (an embedding gather instead of a 1×1 convolution over K).
    ///
    /// # Shapes
    /// tokens `[B, s, s]` → `[B, n_init, s, s]`
    pub fn embed_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        conv1x1::one_hot_forward(&self.input, tokens)
    }
}

/// Nearest-neighbour ×2 upsampling, as a broadcast and a reshape (exact, differentiable).
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C, 2H, 2W]`
pub fn upsample_nearest2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}
