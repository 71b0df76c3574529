//! The DALL·E decoder: (soft) one-hot tokens → image distribution parameters.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use rand::Rng;

use super::block::{ResBlock, dalle_conv};
use super::conv1x1;
use super::cpu_conv::Layout;
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
    ///
    /// On the channels-last kernels' device the maps are NHWC in between
    /// ([`Layout::for_device`]); input and output are NCHW either way.
    pub fn forward_embedded(&self, h: Tensor<4>) -> Tensor<4> {
        let layout = Layout::for_device(&h.device());
        layout.to_nchw(self.forward_embedded_in(layout, layout.from_nchw(h)))
    }

    /// [`forward_embedded`](Self::forward_embedded) of maps in `layout`.
    fn forward_embedded_in(&self, layout: Layout, h: Tensor<4>) -> Tensor<4> {
        let mut h = h;
        let last = self.groups.len() - 1;
        for (g, blocks) in self.groups.iter().enumerate() {
            for block in blocks {
                h = block.forward_in(layout, h);
            }
            if g < last {
                h = match layout {
                    Layout::Nchw => upsample_nearest2(h),
                    Layout::Nhwc => upsample_nearest2_nhwc(h),
                };
            }
        }
        conv1x1::forward_relu_in(layout, &self.output, h)
    }

    /// # Shapes
    /// (soft) one-hot `[B, vocab_size, s, s]` → `[B, out_channels, S, S]`
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let layout = Layout::for_device(&z.device());
        layout.to_nchw(self.forward_in(layout, layout.from_nchw(z)))
    }

    /// [`forward`](Self::forward) with input and output in `layout`.
    ///
    /// # Shapes
    /// `[B, vocab_size, s, s]` → `[B, out_channels, S, S]` (or both NHWC)
    pub fn forward_in(&self, layout: Layout, z: Tensor<4>) -> Tensor<4> {
        let h = conv1x1::forward_in(layout, &self.input, z);
        self.forward_embedded_in(layout, h)
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

/// [`upsample_nearest2`] of channels-last maps.
///
/// # Shapes
/// `[B, H, W, C]` → `[B, 2H, 2W, C]`
fn upsample_nearest2_nhwc(x: Tensor<4>) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    x.reshape([b, h, 1, w, 1, c])
        .expand([b, h, 2, w, 2, c])
        .reshape([b, 2 * h, 2 * w, c])
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
