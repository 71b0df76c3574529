//! The article's last two comparisons, measured: Gumbel vs Gaussian noise for sampling a
//! categorical, and Gumbel-Max vs Gumbel-softmax as τ varies.
//!
//! Plain f64 arithmetic on the host: the point is the estimators, not the tensors.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

/// Frequencies of `argmax(logits + noise)` against `softmax(logits)`.
#[derive(Clone, Debug, Serialize)]
pub struct Sampler {
    /// "gumbel" or "gaussian" (same variance as the Gumbel, π²/6).
    pub noise: String,
    /// Observed frequency of each category.
    pub frequencies: Vec<f64>,
    /// Largest |frequency − probability|.
    pub max_abs_error: f64,
    /// Pearson's χ² of the counts against the softmax (K−1 degrees of freedom).
    pub chi_square: f64,
}

/// Gumbel-softmax statistics at one temperature.
#[derive(Clone, Debug, Serialize)]
pub struct Relaxed {
    /// Temperature τ.
    pub tau: f64,
    /// Mean L1 distance of a sample to the one-hot of its argmax, `2(1 − max y)`.
    pub distance_to_one_hot: f64,
    /// Mean over logits of the variance of the pathwise gradient of `f(y) = c·y`.
    pub gradient_variance: f64,
    /// Squared error of the mean pathwise gradient against the exact gradient of
    /// `E_{z~softmax}[c_z]`: the relaxation's bias.
    pub gradient_bias: f64,
}

/// The whole study.
#[derive(Clone, Debug, Serialize)]
pub struct Study {
    /// The logits used.
    pub logits: Vec<f64>,
    /// softmax(logits).
    pub probabilities: Vec<f64>,
    /// Draws per measurement.
    pub samples: usize,
    /// Gumbel-Max and Gaussian-argmax samplers.
    pub samplers: Vec<Sampler>,
    /// Gumbel-softmax at each τ.
    pub relaxed: Vec<Relaxed>,
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.into_iter().map(|v| v / z).collect()
}

fn argmax(x: &[f64]) -> usize {
    (0..x.len())
        .max_by(|&a, &b| x[a].total_cmp(&x[b]))
        .unwrap_or(0)
}

/// A standard Gumbel sample, `−ln(−ln u)`.
pub fn gumbel(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    -(-u.ln()).ln()
}

/// Runs the study on `logits` with `samples` draws per measurement and a fixed `seed`.
pub fn run(logits: &[f64], taus: &[f64], samples: usize, seed: u64) -> Study {
    let k = logits.len();
    let p = softmax(logits);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let gauss_sd = std::f64::consts::PI / 6f64.sqrt();
    let mut samplers = Vec::new();
    for noise in ["gumbel", "gaussian"] {
        let mut counts = vec![0usize; k];
        for _ in 0..samples {
            let y: Vec<f64> = logits
                .iter()
                .map(|l| {
                    l + match noise {
                        "gumbel" => gumbel(&mut rng),
                        _ => gauss_sd * Distribution::<f64>::sample(&StandardNormal, &mut rng),
                    }
                })
                .collect();
            counts[argmax(&y)] += 1;
        }
        let n = samples as f64;
        let frequencies: Vec<f64> = counts.iter().map(|&c| c as f64 / n).collect();
        samplers.push(Sampler {
            noise: noise.into(),
            max_abs_error: frequencies
                .iter()
                .zip(&p)
                .map(|(f, q)| (f - q).abs())
                .fold(0.0, f64::max),
            chi_square: counts
                .iter()
                .zip(&p)
                .map(|(&c, q)| (c as f64 - n * q).powi(2) / (n * q))
                .sum(),
            frequencies,
        });
    }
    // The exact gradient of E_{z~softmax(l)}[c_z] = Σ p_i c_i is p ⊙ (c − p·c).
    let c: Vec<f64> = (0..k).map(|i| (i as f64 + 1.0) / k as f64).collect();
    let pc: f64 = p.iter().zip(&c).map(|(a, b)| a * b).sum();
    let exact: Vec<f64> = (0..k).map(|i| p[i] * (c[i] - pc)).collect();
    let relaxed = taus
        .iter()
        .map(|&tau| {
            let mut dist = 0.0;
            let mut sum = vec![0.0; k];
            let mut sq = vec![0.0; k];
            for _ in 0..samples {
                let pert: Vec<f64> = logits.iter().map(|l| l + gumbel(&mut rng)).collect();
                let y = softmax(&pert.iter().map(|v| v / tau).collect::<Vec<_>>());
                dist += 2.0 * (1.0 - y.iter().cloned().fold(0.0, f64::max));
                // d(c·y)/dl = (y ⊙ c − y (y·c)) / τ for y = softmax((l + g)/τ).
                let yc: f64 = y.iter().zip(&c).map(|(a, b)| a * b).sum();
                for i in 0..k {
                    let g = y[i] * (c[i] - yc) / tau;
                    sum[i] += g;
                    sq[i] += g * g;
                }
            }
            let n = samples as f64;
            let variance = (0..k)
                .map(|i| sq[i] / n - (sum[i] / n).powi(2))
                .sum::<f64>()
                / k as f64;
            let bias = (0..k).map(|i| (sum[i] / n - exact[i]).powi(2)).sum();
            Relaxed {
                tau,
                distance_to_one_hot: dist / n,
                gradient_variance: variance,
                gradient_bias: bias,
            }
        })
        .collect();
    Study {
        logits: logits.to_vec(),
        probabilities: p,
        samples,
        samplers,
        relaxed,
    }
}

/// The study as Markdown tables.
pub fn markdown(s: &Study) -> String {
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = format!(
        "Sampling a categorical: argmax(logits + noise), {} draws\n\nsoftmax: {}\n\n",
        s.samples,
        fmt(&s.probabilities)
    );
    out.push_str("| noise | frequencies | max abs error | χ² (K−1 dof) |\n|---|---|---|---|\n");
    for m in &s.samplers {
        out.push_str(&format!(
            "| {} | {} | {:.4} | {:.1} |\n",
            m.noise,
            fmt(&m.frequencies),
            m.max_abs_error,
            m.chi_square
        ));
    }
    out.push_str(
        "\nGumbel-softmax vs Gumbel-Max as τ varies (f(y) = c·y, pathwise gradient)\n\n\
         | τ | distance to one-hot | gradient variance | gradient bias² |\n\
         |---|---|---|---|\n",
    );
    for r in &s.relaxed {
        out.push_str(&format!(
            "| {} | {:.3} | {:.3e} | {:.3e} |\n",
            r.tau, r.distance_to_one_hot, r.gradient_variance, r.gradient_bias
        ));
    }
    out
}
