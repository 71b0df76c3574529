//! The DALL·E encoder: image → K logits per grid cell.

use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use rand::Rng;

use super::block::{ResBlock, dalle_conv};
use super::conv1x1;
use super::cpu_conv::{self, Layout};
use crate::config::ModelConfig;

/// 7×7 input convolution, `group_count` groups of residual blocks at widths
/// `n_hid·2^g` with 2×2 max-pooling between groups, then ReLU and a 1×1 convolution to
/// `vocab_size` logits.
#[derive(Module, Debug)]
pub struct Encoder {
    /// 7×7 convolution from the image channels to `n_hid`.
    pub input: Conv2d,
    /// `groups[g][i]`: block `i` of group `g`.
    pub groups: Vec<Vec<ResBlock>>,
    /// 1×1 convolution to the logits.
    pub output: Conv2d,
}

impl Encoder {
    /// A freshly initialised encoder for `c`.
    pub fn new(c: &ModelConfig, out_channels: usize, rng: &mut impl Rng, device: &Device) -> Self {
        let n_layers = c.group_count * c.n_blk_per_group;
        let groups = (0..c.group_count)
            .map(|g| {
                let width = c.group_width(g);
                let first_in = if g == 0 { width } else { c.group_width(g - 1) };
                (0..c.n_blk_per_group)
                    .map(|i| {
                        let n_in = if i == 0 { first_in } else { width };
                        ResBlock::new([n_in, width], n_layers, [3, 3, 3, 1], rng, device)
                    })
                    .collect()
            })
            .collect();
        Self {
            input: dalle_conv(c.input_channels, c.n_hid, 7, rng, device),
            groups,
            output: dalle_conv(
                c.group_width(c.group_count - 1),
                out_channels,
                1,
                rng,
                device,
            ),
        }
    }

    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → logits `[B, vocab_size, S/2^(G-1), S/2^(G-1)]`
    ///
    /// On the channels-last kernels' device the maps stay NHWC from the input to the
    /// logits ([`Layout::for_device`]); input and logits are NCHW either way.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let layout = Layout::for_device(&x.device());
        layout.to_nchw(self.forward_in(layout, layout.from_nchw(x)))
    }

    /// [`forward`](Self::forward) with input and logits in `layout`.
    ///
    /// # Shapes
    /// `[B, C, S, S]` → `[B, vocab_size, s, s]` (or both NHWC)
    pub fn forward_in(&self, layout: Layout, x: Tensor<4>) -> Tensor<4> {
        let pool = MaxPool2dConfig::new([2, 2]).init();
        let mut h = cpu_conv::conv2d_in(layout, &self.input, x);
        let last = self.groups.len() - 1;
        for (g, blocks) in self.groups.iter().enumerate() {
            for block in blocks {
                h = block.forward_in(layout, h);
            }
            if g < last {
                // Burn's pooling, in NCHW.
                h = layout.from_nchw(pool.forward(layout.to_nchw(h)));
            }
        }
        conv1x1::forward_relu_in(layout, &self.output, h)
    }
}
