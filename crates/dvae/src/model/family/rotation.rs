//! The rotation trick (Fifty et al. 2024, "Restructuring Vector Quantization with the
//! Rotation Trick"): the quantizer's output is the code, as with the straight-through
//! estimator, but the gradient reaching the encoder is the decoder's gradient rotated and
//! scaled by the transform that takes the encoder's vector onto its code, so that the
//! angle and the length between them shape the update. `vector_quantize_pytorch`'s
//! `rotate_to` (its section 4.2 form) is the reference; `tools/make_quantizer_fixtures.py`
//! pins it.

use burn::prelude::*;

const EPS: f64 = 1e-6;

/// Row norms `[N, 1]`.
fn norms(x: Tensor<2>) -> Tensor<2> {
    x.powi_scalar(2).sum_dim(1).sqrt()
}

/// `x / max(‖x‖, ε)` per row.
fn unit(x: Tensor<2>) -> Tensor<2> {
    let n = norms(x.clone()).clamp_min(EPS);
    x / n
}

/// `tgt` in value; in gradient, `src` rotated onto `tgt`'s direction and scaled by
/// `‖tgt‖/‖src‖` (both treated as constants): `[e − 2(e·w)w + 2(e·u)q̂]·‖tgt‖/‖src‖` with
/// `u = src/‖src‖`, `q̂ = tgt/‖tgt‖`, `w = (u + q̂)/‖u + q̂‖` and `e = src`.
///
/// # Shapes
/// `src`, `tgt` `[N, D]` → `[N, D]`
pub fn rotate_to(src: Tensor<2>, tgt: Tensor<2>) -> Tensor<2> {
    let n_src = norms(src.clone());
    let n_tgt = norms(tgt.clone());
    let u = unit(src.clone()).detach();
    let q = unit(tgt).detach();
    let w = unit(u.clone() + q.clone()).detach();
    let e = src;
    let ew = (e.clone() * w.clone()).sum_dim(1);
    let eu = (e.clone() * u).sum_dim(1);
    let rotated = e - w * ew * 2.0 + q * eu * 2.0;
    rotated * (n_tgt / n_src.clamp_min(EPS)).detach()
}
