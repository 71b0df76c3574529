//! Reconstruction losses (logit-Laplace, MSE) and the KL term to a uniform prior.

use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};

use crate::kernels::engine::Engine;
use crate::kernels::ops::layout::Layout;
use crate::kernels::ops::softmax::kl_to_uniform_cells;
use crate::model::pixels::LOGIT_LAPLACE_EPS;

/// Mean logit-Laplace negative log-likelihood per element (nats), DALL·E's reconstruction loss.
///
/// For mapped pixels `x ∈ (0, 1)`, `μ` and `ln b` from the decoder:
/// `−ln p(x) = ln(2b) + ln(x(1−x)) + |logit(x) − μ| / b`.
///
/// # Shapes
/// out `[B, 2C, H, W]` (μ then ln b), mapped pixels `[B, C, H, W]` → `[1]`
pub fn logit_laplace_nll(out: Tensor<4>, x_mapped: Tensor<4>) -> Tensor<1> {
    let c = x_mapped.dims()[1];
    let mu = out.clone().narrow(1, 0, c);
    let ln_b = out.narrow(1, c, c);
    let one_minus = x_mapped.clone().neg() + 1.0;
    let logit = x_mapped.clone().log() - one_minus.clone().log();
    let log_x1x = x_mapped.log() + one_minus.log();
    let nll =
        ln_b.clone() + std::f64::consts::LN_2 + log_x1x + (logit - mu).abs() * ln_b.neg().exp();
    nll.mean()
}

/// Mean squared error in pixel space, with the prediction `unmap(sigmoid(out))` left
/// unclamped so the gradient never vanishes at the borders.
///
/// # Shapes
/// out `[B, C, H, W]`, pixels in [0, 1] `[B, C, H, W]` → `[1]`
pub fn mse_from_logits(out: Tensor<4>, x: Tensor<4>) -> Tensor<1> {
    let pred = (sigmoid(out) - LOGIT_LAPLACE_EPS) / (1.0 - 2.0 * LOGIT_LAPLACE_EPS);
    (pred - x).powi_scalar(2).mean()
}

/// Mean over cells of KL(q(z|x) ‖ uniform over K) in nats, `q = softmax(logits)` over dim 1.
///
/// # Shapes
/// logits `[B, K, h, w]` → `[1]`
pub fn kl_to_uniform(engine: Engine, logits: Tensor<4>) -> Tensor<1> {
    kl_to_uniform_cells(engine, Layout::Nchw, logits).mean()
}

/// The dVAE's two regularisers of `q = softmax(a·logits)`, `[mean per-cell KL(q ‖ U),
/// KL(q̄ ‖ U)]` in nats: [`kl_to_uniform`] and [`marginal_kl_to_uniform`] of `a·logits`, as
/// one fused operation with one backward pass on the kernels' engine. Elsewhere, without
/// `marginal` the second value is 0 and is not computed.
///
/// # Shapes
/// logits `[B, K, h, w]` → `[2]`
pub fn dvae_regularisers(engine: Engine, logits: Tensor<4>, a: f64, marginal: bool) -> Tensor<1> {
    if engine.is_kernels() {
        return crate::kernels::ops::regularisers::regularisers(logits, a);
    }
    let z = if a == 1.0 { logits } else { logits * a };
    let second = if marginal {
        marginal_kl_to_uniform(z.clone())
    } else {
        Tensor::zeros([1], &z.device())
    };
    Tensor::cat(vec![kl_to_uniform(engine, z), second], 0)
}

/// KL(q̄ ‖ uniform over K) in nats, where `q̄` is `softmax(logits)` averaged over every cell
/// of the batch: the codebook-diversity penalty of wav2vec 2.0. It is zero when the batch
/// uses all codes equally, whatever each cell's own confidence, so it fights codebook
/// collapse without pushing every q(z|x) towards uniform as the per-cell KL does.
///
/// # Shapes
/// logits `[B, K, h, w]` → `[1]`
pub fn marginal_kl_to_uniform(logits: Tensor<4>) -> Tensor<1> {
    let [b, k, h, w] = logits.dims();
    let q = softmax(logits, 1)
        .permute([1, 0, 2, 3])
        .reshape([k, b * h * w])
        .mean_dim(1)
        .reshape([k]);
    // q̄ is an average of probabilities, so it can underflow to 0 for unused codes.
    (q.clone() * (q.clamp_min(1e-12).log() + (k as f64).ln())).sum()
}
