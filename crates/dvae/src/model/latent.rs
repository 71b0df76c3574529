//! What the decoder starts from: tokens or vectors.

use burn::prelude::*;

/// What the decoder starts from.
#[derive(Debug, Clone)]
pub enum DecoderInput {
    /// Token ids `[B, h, w]` that pick columns of the decoder's 1×1 input convolution (the
    /// dVAE's codebook): a lookup, no one-hot tensor.
    Lookup(Tensor<3, Int>),
    /// Vectors `[B, D, h, w]` the decoder's input convolution takes as they are.
    Dense(Tensor<4>),
    /// Tokens `[B, h, w]` looked up in the forward pass, with the gradient of the input
    /// convolution applied to `soft` `[B, K, h, w]` going into `soft`.
    StraightThrough {
        /// The drawn codes.
        tokens: Tensor<3, Int>,
        /// The soft sample the gradient goes through (boxed: the variant would be twice
        /// the others' size).
        soft: Box<Tensor<4>>,
        /// The weight's gradient weighted by `soft` (IBQ's) instead of by the one-hot of
        /// the tokens (the straight-through estimator's).
        soft_codebook_grad: bool,
    },
}
