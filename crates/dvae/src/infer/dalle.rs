//! The DALL·E encoder and decoder ([`DvaeModel`], dVAE family) on the channels-last path.

use burn::prelude::*;

use super::{Act, Conv, ConvOpts, one_hot_rows, tokens_tensor};
use crate::model::block::ResBlock;
use crate::model::quantizer::Family;
use crate::model::{DvaeModel, decoder::Decoder, encoder::Encoder};
use crate::pipeline::int_values;

/// `id_path(x) + post_gain · conv_4(relu(conv_3(relu(conv_2(relu(conv_1(relu(x))))))))`,
/// with `post_gain` folded into `conv_4`.
#[derive(Clone, Debug)]
struct Block {
    id_path: Option<Conv>,
    convs: [Conv; 4],
}

impl Block {
    fn new(b: &ResBlock) -> Option<Self> {
        let id_path = match &b.id_path {
            Some(c) => Some(Conv::from_burn(c, 1.0)?),
            None => None,
        };
        let g = b.post_gain as f32;
        Some(Self {
            id_path,
            convs: [
                Conv::from_burn(&b.conv_1, 1.0)?,
                Conv::from_burn(&b.conv_2, 1.0)?,
                Conv::from_burn(&b.conv_3, 1.0)?,
                Conv::from_burn(&b.conv_4, g)?,
            ],
        })
    }

    /// The block applied to `x`, or to `x` upsampled ×2 (nearest) when `upsample`.
    fn forward(&self, x: &Act, upsample: bool) -> Act {
        let up = (upsample && self.id_path.is_none()).then(|| x.upsample2());
        let id = self.id_path.as_ref().map(|c| {
            c.forward(
                x,
                ConvOpts {
                    upsample,
                    ..ConvOpts::default()
                },
            )
        });
        let relu = |input_relu, upsample| ConvOpts {
            input_relu,
            output_relu: true,
            residual: None,
            upsample,
        };
        // Each intermediate map is dropped as soon as the next exists.
        let mut h = self.convs[0].forward(x, relu(true, upsample));
        h = self.convs[1].forward(&h, relu(false, false));
        h = self.convs[2].forward(&h, relu(false, false));
        let id = id.as_ref().or(up.as_ref()).unwrap_or(x);
        self.convs[3].forward(
            &h,
            ConvOpts {
                residual: Some(id),
                ..ConvOpts::default()
            },
        )
    }
}

fn blocks(groups: &[Vec<ResBlock>]) -> Option<Vec<Vec<Block>>> {
    groups
        .iter()
        .map(|g| g.iter().map(Block::new).collect())
        .collect()
}

/// A dVAE's weights laid out for the channels-last path.
#[derive(Clone, Debug)]
pub struct DalleNet {
    enc_input: Conv,
    enc_groups: Vec<Vec<Block>>,
    enc_output: Conv,
    /// `[K, n_init]`: the decoder's input conv for a one-hot at each code, bias included.
    codebook: Vec<f32>,
    n_init: usize,
    dec_groups: Vec<Vec<Block>>,
    dec_output: Conv,
}

impl DalleNet {
    /// `None` for a model this path does not cover (the continuous families, the VQ-VAE,
    /// layers with groups or dilation).
    pub fn new(m: &DvaeModel) -> Option<Self> {
        if m.family != Family::Dvae || m.vq.is_some() {
            return None;
        }
        let (e, d): (&Encoder, &Decoder) = (&m.encoder, &m.decoder);
        let (codebook, n_init) = one_hot_rows(&d.input)?;
        Some(Self {
            enc_input: Conv::from_burn(&e.input, 1.0)?,
            enc_groups: blocks(&e.groups)?,
            enc_output: Conv::from_burn(&e.output, 1.0)?,
            codebook,
            n_init,
            dec_groups: blocks(&d.groups)?,
            dec_output: Conv::from_burn(&d.output, 1.0)?,
        })
    }

    /// Encoder features before its output convolution.
    fn features(&self, x: Tensor<4>) -> Act {
        let mut h = self
            .enc_input
            .forward(&Act::from_nchw(x), ConvOpts::default());
        let last = self.enc_groups.len() - 1;
        for (g, blocks) in self.enc_groups.iter().enumerate() {
            for b in blocks {
                h = b.forward(&h, false);
            }
            if g < last {
                h = h.max_pool2();
            }
        }
        h
    }

    /// The encoder's logits (for tests; [`encode_tokens`](Self::encode_tokens) never
    /// builds them).
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → `[B, K, s, s]`
    pub fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let h = self.features(x);
        let opts = ConvOpts {
            input_relu: true,
            ..ConvOpts::default()
        };
        self.enc_output.forward(&h, opts).to_nchw(&device)
    }

    /// Most likely token per cell, as [`DvaeModel::encode_tokens`].
    ///
    /// # Shapes
    /// mapped pixels `[B, C, S, S]` → tokens `[B, s, s]`
    pub fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        let device = x.device();
        let h = self.features(x);
        let ids = self.enc_output.forward_argmax(&h, true);
        tokens_tensor(ids, [h.n, h.h, h.w], &device)
    }

    /// Decoder output for hard tokens, as [`DvaeModel::decode_tokens`].
    ///
    /// # Shapes
    /// tokens `[B, s, s]` → `[B, out_channels, S, S]`
    pub fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        let device = tokens.device();
        let [n, gh, gw] = tokens.dims();
        let ids = int_values(tokens);
        let mut h = Act::lookup(&ids, [n, gh, gw], &self.codebook, self.n_init);
        // Between groups the map is upsampled ×2; the next group's first block reads it
        // upsampled without building it.
        for (g, blocks) in self.dec_groups.iter().enumerate() {
            for (i, b) in blocks.iter().enumerate() {
                h = b.forward(&h, g > 0 && i == 0);
            }
        }
        let opts = ConvOpts {
            input_relu: true,
            ..ConvOpts::default()
        };
        self.dec_output.forward(&h, opts).to_nchw(&device)
    }
}
