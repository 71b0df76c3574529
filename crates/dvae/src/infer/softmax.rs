//! Softmax over the code dimension of `[N, K, H, W]` logits and the per-cell KL to the
//! uniform distribution, forward and backward, on host slices: images in parallel, each
//! cell's K values strided by `H·W`, processed in blocks of positions so that the inner
//! loops run over contiguous positions and vectorise (with [`super::math`]'s `exp`/`ln`).

use rayon::prelude::*;

use super::math::{exp, ln};

/// Positions per block.
const BLOCK: usize = 64;

/// Per block of positions `p0..p0+len` of one image (`x` is `[K, HW]`): the maximum and
/// `Σ exp(x − max)` of each position.
fn max_and_sum(
    x: &[f32],
    k: usize,
    hw: usize,
    p0: usize,
    len: usize,
) -> ([f32; BLOCK], [f32; BLOCK]) {
    let mut max = [f32::NEG_INFINITY; BLOCK];
    for c in 0..k {
        let row = &x[c * hw + p0..c * hw + p0 + len];
        for (m, &v) in max.iter_mut().zip(row) {
            *m = m.max(v);
        }
    }
    let mut sum = [0.0f32; BLOCK];
    for c in 0..k {
        let row = &x[c * hw + p0..c * hw + p0 + len];
        for ((s, &v), &m) in sum.iter_mut().zip(row).zip(&max) {
            *s += exp(v - m);
        }
    }
    (max, sum)
}

/// [`max_and_sum`] and, in the same pass over `exp`, the mean of `x` under the softmax
/// `Σ_c q_c x_c` of each position.
fn max_sum_mean(
    x: &[f32],
    k: usize,
    hw: usize,
    p0: usize,
    len: usize,
) -> ([f32; BLOCK], [f32; BLOCK], [f32; BLOCK]) {
    let mut max = [f32::NEG_INFINITY; BLOCK];
    for c in 0..k {
        let row = &x[c * hw + p0..c * hw + p0 + len];
        for (m, &v) in max.iter_mut().zip(row) {
            *m = m.max(v);
        }
    }
    let (mut sum, mut ex) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
    for c in 0..k {
        let row = &x[c * hw + p0..c * hw + p0 + len];
        for (((s, a), &v), &m) in sum.iter_mut().zip(ex.iter_mut()).zip(row).zip(&max) {
            let e = exp(v - m);
            *s += e;
            *a += e * v;
        }
    }
    for (a, &s) in ex.iter_mut().zip(&sum) {
        *a /= s;
    }
    (max, sum, ex)
}

fn blocks(hw: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..hw)
        .step_by(BLOCK)
        .map(move |p0| (p0, BLOCK.min(hw - p0)))
}

/// `softmax((x + noise) · scale, dim 1)`: with Gumbel noise and scale 1/τ, the
/// Gumbel-softmax sample.
///
/// # Shapes
/// `[N, K, HW]` values (and noise) → the same
pub fn softmax(x: &[f32], noise: Option<&[f32]>, scale: f32, [n, k, hw]: [usize; 3]) -> Vec<f32> {
    assert_eq!(x.len(), n * k * hw, "softmax: values");
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(k * hw)
        .zip(x.par_chunks(k * hw))
        .enumerate()
        .for_each(|(i, (y, x))| {
            match noise {
                Some(g) => {
                    let g = &g[i * k * hw..(i + 1) * k * hw];
                    for ((y, &v), &g) in y.iter_mut().zip(x).zip(g) {
                        *y = (v + g) * scale;
                    }
                }
                None => {
                    for (y, &v) in y.iter_mut().zip(x) {
                        *y = v * scale;
                    }
                }
            }
            for (p0, len) in blocks(hw) {
                let (max, sum) = max_and_sum(y, k, hw, p0, len);
                let inv = sum.map(|s| 1.0 / s);
                for c in 0..k {
                    let yr = &mut y[c * hw + p0..][..len];
                    for ((y, &m), &i) in yr.iter_mut().zip(&max).zip(&inv) {
                        *y = exp(*y - m) * i;
                    }
                }
            }
        });
    y
}

/// The gradient of `x` from the softmax output `y` and its gradient `dy`:
/// `scale · y ⊙ (dy − Σ_c y·dy)`.
pub fn softmax_backward(y: &[f32], dy: &[f32], scale: f32, [n, k, hw]: [usize; 3]) -> Vec<f32> {
    assert!(
        y.len() == n * k * hw && dy.len() == y.len(),
        "softmax_backward: values"
    );
    let mut dx = vec![0.0; y.len()];
    dx.par_chunks_mut(k * hw)
        .zip(y.par_chunks(k * hw).zip(dy.par_chunks(k * hw)))
        .for_each(|(dx, (y, dy))| {
            for (p0, len) in blocks(hw) {
                let mut dot = [0.0f32; BLOCK];
                for c in 0..k {
                    let (yr, gr) = (&y[c * hw + p0..][..len], &dy[c * hw + p0..][..len]);
                    for ((d, &a), &b) in dot.iter_mut().zip(yr).zip(gr) {
                        *d += a * b;
                    }
                }
                for c in 0..k {
                    let i = c * hw + p0;
                    let (yr, gr) = (&y[i..][..len], &dy[i..][..len]);
                    for (((o, &a), &b), &d) in dx[i..][..len].iter_mut().zip(yr).zip(gr).zip(&dot) {
                        *o = scale * a * (b - d);
                    }
                }
            }
        });
    dx
}

/// `KL(softmax(x) ‖ uniform over K)` per cell: `Σ_c q_c x_c − max − ln Σ exp(x − max) + ln K`.
///
/// # Shapes
/// `[N, K, HW]` values → `[N, HW]`
pub fn kl_uniform(x: &[f32], [n, k, hw]: [usize; 3]) -> Vec<f32> {
    assert_eq!(x.len(), n * k * hw, "kl_uniform: values");
    let ln_k = (k as f32).ln();
    let mut kl = vec![0.0; n * hw];
    kl.par_chunks_mut(hw)
        .zip(x.par_chunks(k * hw))
        .for_each(|(kl, x)| {
            for (p0, len) in blocks(hw) {
                let (max, sum, mean) = max_sum_mean(x, k, hw, p0, len);
                for (j, out) in kl[p0..p0 + len].iter_mut().enumerate() {
                    *out = mean[j] - max[j] - ln(sum[j]) + ln_k;
                }
            }
        });
    kl
}

/// The gradient of the logits from the per-cell KL's gradient `dkl` (`[N, HW]`):
/// `dkl · q ⊙ (x − Σ_c q_c x_c)`.
pub fn kl_uniform_backward(x: &[f32], dkl: &[f32], [n, k, hw]: [usize; 3]) -> Vec<f32> {
    assert!(
        x.len() == n * k * hw && dkl.len() == n * hw,
        "kl_uniform_backward: values"
    );
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(k * hw)
        .zip(x.par_chunks(k * hw).zip(dkl.par_chunks(hw)))
        .for_each(|(dx, (x, dkl))| {
            for (p0, len) in blocks(hw) {
                let (max, sum, mean) = max_sum_mean(x, k, hw, p0, len);
                let mut scale = [0.0f32; BLOCK];
                for j in 0..len {
                    scale[j] = dkl[p0 + j] / sum[j];
                }
                for c in 0..k {
                    let i = c * hw + p0;
                    let xr = &x[i..][..len];
                    let out = &mut dx[i..][..len];
                    for ((((o, &v), &m), &mu), &s) in
                        out.iter_mut().zip(xr).zip(&max).zip(&mean).zip(&scale)
                    {
                        *o = s * exp(v - m) * (v - mu);
                    }
                }
            }
        });
    dx
}
