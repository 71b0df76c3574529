//! Quantizers: how the encoder's output becomes the decoder's input.

pub mod gumbel;
