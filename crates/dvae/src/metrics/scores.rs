//! Per-image and per-codebook scores: MSE, PSNR, the token histogram and its statistics.

/// Mean squared error between two equally long slices of values in [0, 1].
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "mse of slices of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64
}

/// PSNR in dB for data range 1.0: `10·log10(1/mse)`; capped at 100 dB for identical images.
pub fn psnr(mse: f64) -> f64 {
    if mse <= 1e-10 {
        100.0
    } else {
        -10.0 * mse.log10()
    }
}

/// Counts of each code among `tokens`.
pub fn histogram(tokens: &[u32], vocab_size: usize) -> Vec<u64> {
    let mut h = vec![0u64; vocab_size];
    for &t in tokens {
        if let Some(c) = h.get_mut(t as usize) {
            *c += 1;
        }
    }
    h
}

/// Codebook statistics of a token histogram.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CodeStats {
    /// Fraction of codes used at least once, in [0, 1].
    pub usage: f64,
    /// `exp(entropy)` of the empirical code distribution (nats): the effective number of codes.
    pub perplexity: f64,
    /// Number of codes never used.
    pub dead_codes: usize,
    /// Entropy of the empirical code distribution in bits (`log2(perplexity)`).
    pub entropy_bits: f64,
}

/// Usage, perplexity and dead codes of `hist`.
pub fn code_stats(hist: &[u64]) -> CodeStats {
    let total: u64 = hist.iter().sum();
    let used = hist.iter().filter(|&&c| c > 0).count();
    let entropy: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum();
    CodeStats {
        usage: used as f64 / hist.len().max(1) as f64,
        perplexity: if total == 0 { 0.0 } else { entropy.exp() },
        dead_codes: hist.len() - used,
        entropy_bits: entropy / std::f64::consts::LN_2,
    }
}
