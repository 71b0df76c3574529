//! DALL·E's pixel mapping and the decoder's output read back as pixels.

use burn::prelude::*;

/// DALL·E's pixel mapping ε: pixels are squeezed into [ε, 1-ε] before the encoder.
pub const LOGIT_LAPLACE_EPS: f64 = 0.1;

/// `x ↦ (1 − 2ε)·x + ε`.
pub fn map_pixels<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x * (1.0 - 2.0 * LOGIT_LAPLACE_EPS) + LOGIT_LAPLACE_EPS
}

/// Inverse of [`map_pixels`], clamped to [0, 1].
pub fn unmap_pixels<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    ((x - LOGIT_LAPLACE_EPS) / (1.0 - 2.0 * LOGIT_LAPLACE_EPS)).clamp(0.0, 1.0)
}

/// Pixels in [0, 1] from the decoder's output: `unmap(sigmoid(μ))`, μ the first C channels.
///
/// # Shapes
/// `[B, out_channels, S, S]` → `[B, C, S, S]`
pub fn output_to_pixels(out: Tensor<4>, channels: usize) -> Tensor<4> {
    let mu = out.narrow(1, 0, channels);
    unmap_pixels(burn::tensor::activation::sigmoid(mu))
}
