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
}
