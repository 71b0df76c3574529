//! Bits per dimension of 8-bit pixels under the decoder's discretised logit-Laplace
//! likelihood.
//!
//! # Convention
//! Byte `k ∈ {0, …, 255}` stands for the pixel value `x = k/255` (as the data loader reads
//! it). The decoder outputs, per channel, `μ` (its first C channels) and `ln b` (the next C)
//! of a Laplace distribution on `logit(y)`, where `y = ε + (1 − 2ε)·x` is the mapped pixel
//! (ε = [`LOGIT_LAPLACE_EPS`](crate::model::LOGIT_LAPLACE_EPS) = 0.1) — the density that
//! [`logit_laplace_nll`](crate::loss::logit_laplace_nll) trains. Byte `k` owns the bin
//! `[(k − ½)/255, (k + ½)/255]` of the pixel axis, centred on the value the decoder is
//! trained on; the first and last bins are extended to the ends of the mapped interval
//! (0, 1), i.e. to logit −∞ and +∞, so the 256 masses sum to one (PixelCNN++'s
//! discretisation, carried through the logit of the mapped pixel). Bits per dimension is
//! `−Σ log₂ P(byte) / (C·H·W)` per image, averaged over images.

use crate::model::pixels::LOGIT_LAPLACE_EPS;

const LN_HALF: f64 = -std::f64::consts::LN_2;

/// Logit of the mapped pixel-axis point `t ∈ [0, 1]`.
fn edge_logit(t: f64) -> f64 {
    let y = LOGIT_LAPLACE_EPS + (1.0 - 2.0 * LOGIT_LAPLACE_EPS) * t;
    y.ln() - (1.0 - y).ln()
}

/// `ln(F(zh) − F(zl))` for the standard Laplace CDF F and `zl < zh` (either may be
/// infinite), without cancellation: each case factors out the larger term.
fn log_mass(zl: f64, zh: f64) -> f64 {
    if zh <= 0.0 {
        // ½(e^zh − e^zl)
        LN_HALF + zh + (-(zl - zh).exp_m1()).ln()
    } else if zl >= 0.0 {
        // ½(e^−zl − e^−zh)
        LN_HALF - zl + (-(zl - zh).exp_m1()).ln()
    } else {
        // 1 − ½e^zl − ½e^−zh
        (-0.5 * zl.exp_m1() - 0.5 * (-zh).exp_m1()).ln()
    }
}

/// `ln P(byte)` (nats) of an 8-bit pixel value under the discretised logit-Laplace with
/// location `mu` and log-scale `ln_b` (see the module docs for the bins).
pub fn log_prob(byte: u8, mu: f64, ln_b: f64) -> f64 {
    let k = byte as f64;
    let inv_b = (-ln_b).exp();
    let zl = if byte == 0 {
        f64::NEG_INFINITY
    } else {
        (edge_logit((k - 0.5) / 255.0) - mu) * inv_b
    };
    let zh = if byte == 255 {
        f64::INFINITY
    } else {
        (edge_logit((k + 0.5) / 255.0) - mu) * inv_b
    };
    log_mass(zl, zh)
}

/// Negative log-likelihood (nats) summed over the pixels of one or more images: `pixels`
/// in [0, 1] (multiples of 1/255, rounded to bytes), `mu` and `ln_b` of the same length.
pub fn nll_nats(pixels: &[f32], mu: &[f32], ln_b: &[f32]) -> f64 {
    assert_eq!(
        pixels.len(),
        mu.len(),
        "nll_nats: pixels and mu differ in length"
    );
    assert_eq!(
        pixels.len(),
        ln_b.len(),
        "nll_nats: pixels and ln b differ in length"
    );
    pixels
        .iter()
        .zip(mu.iter().zip(ln_b))
        .map(|(&x, (&m, &lb))| {
            let byte = (x.clamp(0.0, 1.0) * 255.0).round() as u8;
            -log_prob(byte, m as f64, lb as f64)
        })
        .sum()
}

/// Nats per dimension as bits per dimension.
pub fn nats_to_bits(nats: f64) -> f64 {
    nats / std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masses_sum_to_one() {
        // Closed form: the 256 bins partition the real line of logit(y).
        for (mu, ln_b) in [
            (0.0, -3.0),
            (2.0, 0.0),
            (-7.5, -6.0),
            (0.3, 2.0),
            (40.0, -1.0),
        ] {
            let total: f64 = (0..=255u8).map(|k| log_prob(k, mu, ln_b).exp()).sum();
            assert!((total - 1.0).abs() < 1e-12, "mu {mu} ln b {ln_b}: {total}");
        }
    }

    #[test]
    fn narrow_bins_approach_the_density() {
        // With b much wider than a bin, P ≈ density(y) · bin width in mapped space, the
        // density being exp(−NLL) of loss.rs at the bin centre.
        let (k, mu, ln_b) = (100u8, 0.2f64, 0.5f64);
        let x = k as f64 / 255.0;
        let y = LOGIT_LAPLACE_EPS + (1.0 - 2.0 * LOGIT_LAPLACE_EPS) * x;
        let b = ln_b.exp();
        let logit = (y / (1.0 - y)).ln();
        let nll = ln_b + std::f64::consts::LN_2 + (y * (1.0 - y)).ln() + (logit - mu).abs() / b;
        let width = (1.0 - 2.0 * LOGIT_LAPLACE_EPS) / 255.0;
        let approx = -nll + width.ln();
        assert!((log_prob(k, mu, ln_b) - approx).abs() < 1e-4);
    }
}
