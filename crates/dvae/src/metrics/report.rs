//! [`EvalReport`]: the held-out metrics of a model, with stable JSON keys.

use serde::{Deserialize, Serialize};

/// Held-out reconstruction and codebook metrics. The JSON keys (the field names) are
/// stable: `dvae eval --json` prints this object and `log.jsonl` holds one per evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Mean squared error per pixel channel, pixels in [0, 1], of the 8-bit reconstruction.
    pub mse: f64,
    /// PSNR (dB, data range 1.0), per image then averaged.
    pub psnr: f64,
    /// SSIM with an 11-tap Gaussian window (σ = 1.5) and population covariances, as Wang et
    /// al. 2004 and scikit-image's `gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False`; per channel, per image, then averaged. `None` (null)
    /// for images smaller than 11×11.
    #[serde(default)]
    pub ssim: Option<f64>,
    /// SSIM with scikit-image's default settings: 7×7 uniform window, sample covariances.
    #[serde(default)]
    pub ssim_uniform: Option<f64>,
    /// Bits per dimension of the 8-bit pixels under the decoder's discretised
    /// logit-Laplace given the argmax tokens (see [`bits`](super::bits)); `None` (null) for a
    /// decoder trained with MSE, which defines no likelihood.
    #[serde(default)]
    pub bits_per_dim: Option<f64>,
    /// Negative ELBO in bits per dimension with the argmax posterior and the uniform
    /// prior: `bits_per_dim + cells·log2(K) / (C·H·W)`, an upper bound on `−log2 p(x)` per
    /// dimension (the length of a two-part code: tokens, then pixels). `None` without
    /// tokens (the continuous families).
    #[serde(default)]
    pub elbo_bits_per_dim: Option<f64>,
    /// Fraction of codes used at least once, in [0, 1].
    pub usage: f64,
    /// `exp(entropy)` of the token distribution.
    pub perplexity: f64,
    /// Codes never used.
    pub dead_codes: usize,
    /// Entropy of the marginal token distribution (the histogram), in bits; at most
    /// `log2(vocab_size)`.
    #[serde(default)]
    pub token_entropy: f64,
    /// Mean per-cell entropy of q(z|x) = softmax(logits), in bits: 0 for a confident
    /// encoder, `log2(vocab_size)` for a uniform one.
    #[serde(default)]
    pub cell_entropy: f64,
    /// Codebook size K.
    #[serde(default)]
    pub vocab_size: usize,
}

/// One line of a metrics table: JSON key, formatted value, what it means.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    /// The JSON key.
    pub key: &'static str,
    /// The value, formatted with its unit.
    pub value: String,
    /// How it is computed.
    pub note: String,
}

fn opt(v: Option<f64>, digits: usize, unit: &str) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.digits$}{unit}"))
}

/// The rows of `r` for a human table, in JSON-key order.
pub fn describe(r: &EvalReport) -> Vec<MetricRow> {
    let max_bits = (r.vocab_size.max(1) as f64).log2();
    let row = |key, value, note: &str| MetricRow {
        key,
        value,
        note: note.to_string(),
    };
    let rows = vec![
        row("images", r.images.to_string(), "images evaluated"),
        row(
            "mse",
            format!("{:.6}", r.mse),
            "per pixel channel, pixels in [0, 1], 8-bit reconstruction",
        ),
        row(
            "psnr",
            format!("{:.2} dB", r.psnr),
            "per image then averaged, data range 1.0",
        ),
        row(
            "ssim",
            opt(r.ssim, 4, ""),
            "Gaussian window σ=1.5, population covariance (Wang et al. 2004)",
        ),
        row(
            "ssim_uniform",
            opt(r.ssim_uniform, 4, ""),
            "7×7 uniform window, sample covariance (scikit-image defaults)",
        ),
        row(
            "bits_per_dim",
            opt(r.bits_per_dim, 3, ""),
            "discretised logit-Laplace, 8-bit pixels, argmax tokens",
        ),
        row(
            "elbo_bits_per_dim",
            opt(r.elbo_bits_per_dim, 3, ""),
            "bits_per_dim + tokens at log2(K) bits each (upper bound on −log2 p(x))",
        ),
        row(
            "usage",
            format!("{:.1}%", 100.0 * r.usage),
            &format!("codes used at least once, of {}", r.vocab_size),
        ),
        row(
            "perplexity",
            format!("{:.1}", r.perplexity),
            "exp(entropy) of the token histogram: effective codes",
        ),
        row("dead_codes", r.dead_codes.to_string(), "codes never used"),
        row(
            "token_entropy",
            format!("{:.3} bits", r.token_entropy),
            &format!("entropy of the marginal token distribution (max {max_bits:.2})"),
        ),
        row(
            "cell_entropy",
            format!("{:.3} bits", r.cell_entropy),
            &format!("mean per-cell entropy of q(z|x) (max {max_bits:.2})"),
        ),
    ];
    // A continuous family (VAE, AE) has no tokens: leave the token rows out.
    const TOKEN_ROWS: [&str; 6] = [
        "elbo_bits_per_dim",
        "usage",
        "perplexity",
        "dead_codes",
        "token_entropy",
        "cell_entropy",
    ];
    rows.into_iter()
        .filter(|row| r.vocab_size > 0 || !TOKEN_ROWS.contains(&row.key))
        .collect()
}
