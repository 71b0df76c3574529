//! The DALL·E encoder: image → K logits per grid cell.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use rand::Rng;

use super::block::{ResBlock, dalle_conv};
use super::ops::{Fuse, Ops};
use crate::config::ModelConfig;

/// 7×7 input convolution, `group_count` groups of residual blocks at widths
/// `n_hid·2^g` with 2×2 max-pooling between groups, then ReLU and a 1×1 convolution to
/// the family's channels (`vocab_size` logits for the dVAE).
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

    /// The maps before the output convolution.
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, n_hid·2^(G-1), s, s]`
    pub fn features<O: Ops>(&self, ops: &O, x: &O::Map) -> O::Map {
        let mut h = ops.conv(&self.input, x, Fuse::plain());
        let last = self.groups.len() - 1;
        for (g, blocks) in self.groups.iter().enumerate() {
            for block in blocks {
                h = block.forward(ops, &h);
            }
            if g < last {
                h = ops.max_pool2(h);
            }
        }
        h
    }

    /// The output convolution of the features (ReLU first).
    ///
    /// # Shapes
    /// `[B, n_hid·2^(G-1), s, s]` → `[B, out_channels, s, s]`
    pub fn output<O: Ops>(&self, ops: &O, features: &O::Map) -> O::Map {
        ops.conv(&self.output, features, Fuse::relu_in())
    }

    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, out_channels, S/2^(G-1), S/2^(G-1)]` (NCHW)
    pub fn forward<O: Ops>(&self, ops: &O, x: Tensor<4>) -> Tensor<4> {
        let h = self.features(ops, &ops.input(x));
        ops.output(self.output(ops, &h))
    }
}
