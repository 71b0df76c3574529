//! [`BenchModel`](crate::bench::model::BenchModel) on the channels-last path.

use burn::prelude::*;

use super::{Act, Conv, ConvOpts, ConvTranspose, one_hot_rows, tokens_tensor};
use crate::bench::model::{BenchModel, ResBlock};
use crate::pipeline::int_values;

/// `x + conv2(relu(conv1(relu(x))))`.
#[derive(Clone, Debug)]
struct Block {
    conv1: Conv,
    conv2: Conv,
}

impl Block {
    fn new(b: &ResBlock) -> Option<Self> {
        Some(Self {
            conv1: Conv::from_burn(&b.conv1, 1.0)?,
            conv2: Conv::from_burn(&b.conv2, 1.0)?,
        })
    }

    fn forward(&self, x: &Act) -> Act {
        let relu_in_out = ConvOpts {
            input_relu: true,
            output_relu: true,
            ..ConvOpts::default()
        };
        let h = self.conv1.forward(x, relu_in_out);
        self.conv2.forward(
            &h,
            ConvOpts {
                residual: Some(x),
                ..ConvOpts::default()
            },
        )
    }
}

/// The bench model's weights laid out for the channels-last path.
#[derive(Clone, Debug)]
pub struct BenchNet {
    enc_in1: Conv,
    enc_in2: Conv,
    enc_blocks: Vec<Block>,
    enc_out: Conv,
    /// `[K, h]`: row k is the codebook conv's output for a one-hot at k.
    codebook: Vec<f32>,
    hidden: usize,
    dec_in: Conv,
    dec_blocks: Vec<Block>,
    dec_up1: ConvTranspose,
    dec_up2: ConvTranspose,
}

impl BenchNet {
    /// `None` if a layer is outside what the path covers.
    pub fn new(m: &BenchModel) -> Option<Self> {
        let (codebook, h) = one_hot_rows(&m.codebook)?;
        Some(Self {
            enc_in1: Conv::from_burn(&m.enc_in1, 1.0)?,
            enc_in2: Conv::from_burn(&m.enc_in2, 1.0)?,
            enc_blocks: m.enc_blocks.iter().map(Block::new).collect::<Option<_>>()?,
            enc_out: Conv::from_burn(&m.enc_out, 1.0)?,
            codebook,
            hidden: h,
            dec_in: Conv::from_burn(&m.dec_in, 1.0)?,
            dec_blocks: m.dec_blocks.iter().map(Block::new).collect::<Option<_>>()?,
            dec_up1: ConvTranspose::from_burn(&m.dec_up1)?,
            dec_up2: ConvTranspose::from_burn(&m.dec_up2)?,
        })
    }

    fn features(&self, x: &Act) -> Act {
        let relu_out = ConvOpts {
            output_relu: true,
            ..ConvOpts::default()
        };
        let h = self.enc_in1.forward(x, relu_out);
        let mut h = self.enc_in2.forward(&h, relu_out);
        for b in &self.enc_blocks {
            h = b.forward(&h);
        }
        h
    }

    /// The encoder's logits (for tests; [`encode_tokens`](Self::encode_tokens) never
    /// builds them).
    ///
    /// # Shapes
    /// `[B, 3, S, S]` → `[B, K, S/4, S/4]`
    pub fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let h = self.features(&Act::from_nchw(x));
        self.enc_out
            .forward(&h, ConvOpts::default())
            .to_nchw(&device)
    }

    /// # Shapes
    /// `[B, 3, S, S]` → tokens `[B, S/4, S/4]`
    pub fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        let device = x.device();
        let h = self.features(&Act::from_nchw(x));
        let ids = self.enc_out.forward_argmax(&h, false);
        tokens_tensor(ids, [h.n, h.h, h.w], &device)
    }

    /// # Shapes
    /// tokens `[B, s, s]` → image `[B, 3, 4s, 4s]`
    pub fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        let device = tokens.device();
        let [n, gh, gw] = tokens.dims();
        let e = Act::lookup(
            &int_values(tokens),
            [n, gh, gw],
            &self.codebook,
            self.hidden,
        );
        let mut h = self.dec_in.forward(&e, ConvOpts::default());
        for b in &self.dec_blocks {
            h = b.forward(&h);
        }
        let h = self.dec_up1.forward(
            &h,
            ConvOpts {
                input_relu: true,
                output_relu: true,
                ..ConvOpts::default()
            },
        );
        self.dec_up2
            .forward(&h, ConvOpts::default())
            .to_nchw(&device)
    }
}
