//! The dVAE's two regularisers of `q = softmax(a·x)` over the code dimension of
//! `[N, K, H, W]` logits, forward and backward in one pass each, on host slices: the mean
//! per-cell `KL(q ‖ uniform)` and the KL of the batch-mean `q̄` to uniform (the diversity
//! term). Burn builds the pair from a scale, a log-softmax, a softmax, a permute, a mean and
//! their backward passes, about 15 operations over the `[N, K, H, W]` tensor that run on
//! one thread; at K = 1,024 on a 16×16 grid they took a third of a training step.
//!
//! The layout is [`super::softmax`]'s: images in parallel, each cell's K values strided by
//! `H·W`, blocks of positions in the inner loops.

use rayon::prelude::*;

use super::math::ln;
use super::position_blocks::{BLOCK, block_stats, blocks};

/// Where `q̄` is clamped before its logarithm, as `loss::marginal_kl_to_uniform` does: an
/// average of probabilities can underflow to 0 for an unused code.
pub const MARGINAL_FLOOR: f32 = 1e-12;

/// The forward pass: `[mean per-cell KL(q ‖ U), KL(q̄ ‖ U)]` in nats and `q̄` (`[K]`), with
/// `q = softmax(a·x)` over the K values of each of the `N·HW` cells.
///
/// # Shapes
/// `x` `[N, K, HW]` → (`[2]`, `[K]`)
pub fn forward(x: &[f32], a: f32, [n, k, hw]: [usize; 3]) -> ([f32; 2], Vec<f32>) {
    assert_eq!(x.len(), n * k * hw, "regularisers: values");
    let ln_k = (k as f32).ln();
    // Per image: the sum of its cells' KLs and of their q.
    let parts: Vec<(f64, Vec<f64>)> = x
        .par_chunks(k * hw)
        .map(|x| {
            let mut e = vec![0.0f32; k * BLOCK];
            let mut q_sum = vec![0.0f64; k];
            let mut kl = 0.0f64;
            for (p0, len) in blocks(hw) {
                let (max, sum, mean) = block_stats(x, a, k, hw, p0, len, &mut e);
                for j in 0..len {
                    kl += (mean[j] - max[j] - ln(sum[j]) + ln_k) as f64;
                }
                let inv = sum.map(|s| 1.0 / s);
                for (c, q) in q_sum.iter_mut().enumerate() {
                    let er = &e[c * len..][..len];
                    let s: f32 = er.iter().zip(&inv).map(|(&t, &i)| t * i).sum();
                    *q += s as f64;
                }
            }
            (kl, q_sum)
        })
        .collect();
    let cells = (n * hw) as f64;
    let mut q_bar = vec![0.0f64; k];
    let mut kl = 0.0;
    for (part_kl, part_q) in &parts {
        kl += part_kl;
        for (q, &p) in q_bar.iter_mut().zip(part_q) {
            *q += p;
        }
    }
    let q_bar: Vec<f32> = q_bar.iter().map(|&q| (q / cells) as f32).collect();
    let marginal: f32 = q_bar
        .iter()
        .map(|&q| q * (ln(q.max(MARGINAL_FLOOR)) + ln_k))
        .sum();
    ([(kl / cells) as f32, marginal], q_bar)
}

/// The gradient of `x` for the gradients `d = [d_kl, d_marginal]` of [`forward`]'s two
/// values, with its `q̄`: per cell, with `u = a·x` and `g_c = ln max(q̄_c, floor) + ln K +
/// [q̄_c > floor]` (the marginal's derivative in `q̄_c`),
/// `a · q_c · (d_kl·(u_c − Σ q u) + d_marginal·(g_c − Σ q g)) / cells`.
///
/// # Shapes
/// `x` `[N, K, HW]`, `q̄` `[K]` → `[N, K, HW]`
pub fn backward(x: &[f32], a: f32, q_bar: &[f32], d: [f32; 2], [n, k, hw]: [usize; 3]) -> Vec<f32> {
    assert!(
        x.len() == n * k * hw && q_bar.len() == k,
        "regularisers backward: values"
    );
    let ln_k = (k as f32).ln();
    let g: Vec<f32> = q_bar
        .iter()
        .map(|&q| ln(q.max(MARGINAL_FLOOR)) + ln_k + if q > MARGINAL_FLOOR { 1.0 } else { 0.0 })
        .collect();
    let cells = (n * hw) as f32;
    let (d_kl, d_m) = (d[0] / cells, d[1] / cells);
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(k * hw)
        .zip(x.par_chunks(k * hw))
        .for_each(|(dx, x)| {
            let mut e = vec![0.0f32; k * BLOCK];
            for (p0, len) in blocks(hw) {
                let (_, sum, mean) = block_stats(x, a, k, hw, p0, len, &mut e);
                let inv = sum.map(|s| 1.0 / s);
                // Σ_c q_c g_c per position.
                let mut qg = [0.0f32; BLOCK];
                for (c, &gc) in g.iter().enumerate() {
                    for ((acc, &t), &i) in qg.iter_mut().zip(&e[c * len..][..len]).zip(&inv) {
                        *acc += t * i * gc;
                    }
                }
                for (c, &gc) in g.iter().enumerate() {
                    let i0 = c * hw + p0;
                    let out = &mut dx[i0..][..len];
                    let xr = &x[i0..][..len];
                    let er = &e[c * len..][..len];
                    for (j, o) in out.iter_mut().enumerate() {
                        let q = er[j] * inv[j];
                        let u = xr[j] * a;
                        *o = a * q * (d_kl * (u - mean[j]) + d_m * (gc - qg[j]));
                    }
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference in f64, straight from the definitions.
    fn reference(x: &[f32], a: f64, [n, k, hw]: [usize; 3]) -> [f64; 2] {
        let cells = (n * hw) as f64;
        let mut q_bar = vec![0.0f64; k];
        let mut kl = 0.0;
        for i in 0..n {
            for p in 0..hw {
                let u: Vec<f64> = (0..k).map(|c| a * x[(i * k + c) * hw + p] as f64).collect();
                let m = u.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = u.iter().map(|v| (v - m).exp()).sum();
                for c in 0..k {
                    let q = (u[c] - m).exp() / s;
                    kl += q * (q.ln() + (k as f64).ln());
                    q_bar[c] += q / cells;
                }
            }
        }
        let m: f64 = q_bar.iter().map(|q| q * (q.ln() + (k as f64).ln())).sum();
        [kl / cells, m]
    }

    fn data(len: usize, s: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * s).sin() * 3.0).collect()
    }

    /// Values against the f64 definitions, and the gradient against central differences of
    /// them, with HW more than one block and not a multiple of it.
    #[test]
    fn values_and_gradient_match_the_definitions() {
        let dims @ [n, k, hw] = [2, 7, 67];
        let x = data(n * k * hw, 0.37);
        let a = 1.7;
        let (v, q_bar) = forward(&x, a, dims);
        let want = reference(&x, a as f64, dims);
        for (got, want) in v.iter().zip(want) {
            assert!((*got as f64 - want).abs() < 1e-5, "{got} vs {want}");
        }
        let d = [0.6f32, -1.3];
        let dx = backward(&x, a, &q_bar, d, dims);
        let h = 1e-3f64;
        for idx in [0, 5, 66, 67, 200, 470, n * k * hw - 1] {
            let mut xp: Vec<f32> = x.clone();
            let mut xm: Vec<f32> = x.clone();
            xp[idx] += h as f32;
            xm[idx] -= h as f32;
            let (p, m) = (
                reference(&xp, a as f64, dims),
                reference(&xm, a as f64, dims),
            );
            // The step as f32 holds it, so that the difference quotient is of the inputs used.
            let step = (xp[idx] - xm[idx]) as f64;
            let num = (d[0] as f64 * (p[0] - m[0]) + d[1] as f64 * (p[1] - m[1])) / step;
            assert!(
                (dx[idx] as f64 - num).abs() < 1e-4 * (1.0 + num.abs()),
                "dx[{idx}] = {} vs {num}",
                dx[idx]
            );
        }
    }
}
