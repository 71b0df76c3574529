//! Drawing one token from a row of logits: temperature, top-k and nucleus (top-p)
//! truncation, classifier-free guidance, and the exact Gumbel-Max sampler.
//!
//! Gumbel-Max: `argmax_k (ℓ_k / T + g_k)` with `g_k = −ln(−ln u_k)`, `u_k ~ U(0, 1)`, is an
//! exact sample of `softmax(ℓ / T)` — the discrete draw that the Gumbel-softmax relaxes.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How tokens are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleOptions {
    /// Softmax temperature; 0 takes the most likely token.
    pub temperature: f64,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p`.
    pub top_p: Option<f64>,
    /// Classifier-free guidance scale: logits `u + g·(c − u)` from the conditional `c` and
    /// unconditional `u` ones (1 is the conditional model as trained).
    pub guidance: f64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            guidance: 1.0,
        }
    }
}

impl SampleOptions {
    /// Checks every field, naming the one that is wrong.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::config(
                "temperature",
                format!("must be ≥ 0; got {}", self.temperature),
            ));
        }
        if self.top_k == Some(0) {
            return Err(Error::config("top_k", "must be at least 1"));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(Error::config(
                "top_p",
                format!("must be in (0, 1]; got {p}"),
            ));
        }
        if !self.guidance.is_finite() {
            return Err(Error::config("guidance", "must be finite"));
        }
        Ok(())
    }
}

/// A standard Gumbel draw, `−ln(−ln u)`.
pub fn gumbel(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    -(-u.ln()).ln()
}

/// Mixes conditional and unconditional logits for guidance scale `g`.
pub fn guide(cond: &[f32], uncond: &[f32], g: f64) -> Vec<f32> {
    cond.iter()
        .zip(uncond)
        .map(|(&c, &u)| (u as f64 + g * (c as f64 - u as f64)) as f32)
        .collect()
}

/// `logits / T` with the tokens outside top-k / top-p set to −∞.
pub fn truncate(logits: &[f32], opts: &SampleOptions) -> Vec<f64> {
    let t = opts.temperature.max(1e-8);
    let mut scaled: Vec<f64> = logits.iter().map(|&l| l as f64 / t).collect();
    let k = logits.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| scaled[b].total_cmp(&scaled[a]));
    let mut keep = opts.top_k.unwrap_or(k).min(k);
    if let Some(p) = opts.top_p {
        let max = scaled[order[0]];
        let z: f64 = scaled.iter().map(|s| (s - max).exp()).sum();
        let mut mass = 0.0;
        for (n, &i) in order.iter().enumerate().take(keep) {
            mass += (scaled[i] - max).exp() / z;
            if mass >= p {
                keep = n + 1;
                break;
            }
        }
    }
    for &i in &order[keep..] {
        scaled[i] = f64::NEG_INFINITY;
    }
    scaled
}

/// One token from `logits` (a row of K): Gumbel-Max over the truncated, tempered logits,
/// or the argmax at temperature 0.
pub fn sample(logits: &[f32], opts: &SampleOptions, rng: &mut impl Rng) -> u32 {
    let scaled = truncate(logits, opts);
    let greedy = opts.temperature == 0.0;
    let mut best = (f64::NEG_INFINITY, 0u32);
    for (i, &s) in scaled.iter().enumerate() {
        // One draw per code whatever the mask, so the stream does not depend on it.
        let g = gumbel(rng);
        let v = if greedy { s } else { s + g };
        if v > best.0 {
            best = (v, i as u32);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn truncation() {
        let l = [0.0f32, 3.0, 1.0, 2.0];
        let o = SampleOptions {
            top_k: Some(2),
            ..Default::default()
        };
        let s = truncate(&l, &o);
        assert!(s[0].is_infinite() && s[2].is_infinite() && s[1] == 3.0 && s[3] == 2.0);
        // p(3.0) ≈ 0.64 < 0.7, so top-p 0.7 keeps the two largest.
        let o = SampleOptions {
            top_p: Some(0.7),
            ..Default::default()
        };
        let s = truncate(&l, &o);
        assert_eq!(s.iter().filter(|v| v.is_finite()).count(), 2);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let greedy = SampleOptions {
            temperature: 0.0,
            ..Default::default()
        };
        assert_eq!(sample(&l, &greedy, &mut rng), 1);
        assert_eq!(guide(&[2.0], &[1.0], 3.0), vec![4.0]);
    }
}
