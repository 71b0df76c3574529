//! Gumbel-softmax relaxation and Gumbel-Max sampling over the code dimension.
//!
//! The noise is passed in, drawn from the caller's seeded generator ([`uniform_noise`]), so
//! a training step's randomness is a pure function of the run's seed and the step.

use burn::prelude::*;
use rand::Rng;

use crate::kernels::engine::Engine;
use crate::kernels::ops::layout::Layout;
use crate::kernels::ops::softmax;

/// Uniform samples in the open interval (0, 1), as a tensor of `shape`.
pub fn uniform_noise<const D: usize>(
    shape: [usize; D],
    rng: &mut impl Rng,
    device: &Device,
) -> Tensor<D> {
    let n: usize = shape.iter().product();
    // 23 random bits, offset by half a step: every value is an f32 strictly inside (0, 1)
    // (with 24 bits the largest would round to 1.0), so log(-log u) is finite.
    let values: Vec<f32> = (0..n).map(|_| uniform_value(rng)).collect();
    Tensor::<1>::from_floats(values.as_slice(), device).reshape(shape)
}

/// Standard Gumbel samples of `shape`, `g = −ln(−ln u)` of [`uniform_noise`]'s `u` (the same
/// values as [`gumbel_from_uniform`] of it, up to rounding), mapped on the host on every
/// thread: Burn's two logarithms over a `[B, K, h, w]` tensor run on one.
pub fn gumbel_noise<const D: usize>(
    shape: [usize; D],
    rng: &mut impl Rng,
    device: &Device,
) -> Tensor<D> {
    use rayon::prelude::*;
    let n: usize = shape.iter().product();
    let mut values: Vec<f32> = (0..n).map(|_| uniform_value(rng)).collect();
    // In runs of values, so that the logarithms vectorise.
    values.par_chunks_mut(4096).for_each(|run| {
        for x in run {
            *x = -crate::kernels::math::ln(-crate::kernels::math::ln(*x));
        }
    });
    Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}

/// One uniform sample strictly inside (0, 1) (see [`uniform_noise`]).
fn uniform_value(rng: &mut impl Rng) -> f32 {
    ((rng.random::<u32>() >> 9) as f32 + 0.5) * (1.0 / 8_388_608.0)
}

/// Standard Gumbel samples `g = -ln(-ln u)` from uniform samples `u` in (0, 1).
pub fn gumbel_from_uniform<const D: usize>(u: Tensor<D>) -> Tensor<D> {
    u.log().neg().log().neg()
}

/// Gumbel-softmax over dimension 1: `softmax((logits + g) / τ)`. With `hard`, the forward
/// value is the one-hot of the argmax and the gradient is the soft sample's
/// (straight-through).
///
/// # Shapes
/// logits, gumbel `[B, K, h, w]` → `[B, K, h, w]`, each `[b, :, i, j]` summing to 1
pub fn gumbel_softmax(
    engine: Engine,
    logits: Tensor<4>,
    gumbel: Tensor<4>,
    tau: f64,
    hard: bool,
) -> Tensor<4> {
    gumbel_softmax_scaled(engine, logits, gumbel, [1.0, tau], hard)
}

/// [`gumbel_softmax`] of `a·logits` for `[a, tau]`, the factor taken in the same pass:
/// `softmax((a·logits + g) / τ)`, a relaxed sample of `softmax(a·logits)`.
///
/// # Shapes
/// logits, gumbel `[B, K, h, w]` → `[B, K, h, w]`
pub fn gumbel_softmax_scaled(
    engine: Engine,
    logits: Tensor<4>,
    gumbel: Tensor<4>,
    scale_tau: [f64; 2],
    hard: bool,
) -> Tensor<4> {
    let soft = softmax::gumbel_softmax(engine, Layout::Nchw, logits, gumbel, scale_tau);
    if !hard {
        return soft;
    }
    let k = soft.dims()[1];
    let one_hot = one_hot_dim1(soft.clone().argmax(1).squeeze_dim::<3>(1), k);
    one_hot - soft.clone().detach() + soft
}

/// Gumbel-Max: an exact sample from `softmax(logits)` per cell, `argmax(logits + g)`.
///
/// # Shapes
/// logits, gumbel `[B, K, h, w]` → tokens `[B, h, w]`
pub fn gumbel_max(logits: Tensor<4>, gumbel: Tensor<4>) -> Tensor<3, Int> {
    (logits + gumbel).argmax(1).squeeze_dim::<3>(1)
}

/// Most likely code per cell.
///
/// # Shapes
/// logits `[B, K, h, w]` → tokens `[B, h, w]`
pub fn argmax_tokens(logits: Tensor<4>) -> Tensor<3, Int> {
    logits.argmax(1).squeeze_dim::<3>(1)
}

/// One-hot encoding with the code dimension second.
///
/// # Shapes
/// tokens `[B, h, w]` → `[B, K, h, w]`
pub fn one_hot_dim1(tokens: Tensor<3, Int>, k: usize) -> Tensor<4> {
    tokens.one_hot::<4>(k).float().permute([0, 3, 1, 2])
}
