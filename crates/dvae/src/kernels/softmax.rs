//! Softmax over the code dimension of `[N, K, H, W]` logits and the per-cell KL to the
//! uniform distribution, forward and backward, on host slices: images in parallel, each
//! cell's K values strided by `H·W`, processed in blocks of positions so that the inner
//! loops run over contiguous positions and vectorise (with [`super::math`]'s `exp`/`ln`).

use rayon::prelude::*;

use super::math::{exp, ln};
use super::position_blocks::{BLOCK, block_stats, blocks};

/// `y = (a·x + noise) · scale` over one chunk (`noise` its matching values, if any).
fn add_scaled(y: &mut [f32], x: &[f32], noise: Option<&[f32]>, [a, scale]: [f32; 2]) {
    match noise {
        Some(g) => {
            for ((y, &v), &g) in y.iter_mut().zip(x).zip(g) {
                *y = (a * v + g) * scale;
            }
        }
        None => {
            for (y, &v) in y.iter_mut().zip(x) {
                *y = a * v * scale;
            }
        }
    }
}

/// `softmax((a·x + noise) · scale, dim 1)` for `scales = [a, scale]`: with Gumbel noise and
/// scale 1/τ, the Gumbel-softmax sample of `softmax(a·x)`.
///
/// # Shapes
/// `[N, K, HW]` values (and noise) → the same
pub fn softmax(
    x: &[f32],
    noise: Option<&[f32]>,
    scales: [f32; 2],
    [n, k, hw]: [usize; 3],
) -> Vec<f32> {
    assert_eq!(x.len(), n * k * hw, "softmax: values");
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(k * hw)
        .zip(x.par_chunks(k * hw))
        .enumerate()
        .for_each(|(i, (y, x))| {
            add_scaled(y, x, noise.map(|g| &g[i * k * hw..][..x.len()]), scales);
            for (p0, len) in blocks(hw) {
                let mut max = [f32::NEG_INFINITY; BLOCK];
                for c in 0..k {
                    for (m, &v) in max.iter_mut().zip(&y[c * hw + p0..][..len]) {
                        *m = m.max(v);
                    }
                }
                // exp once, kept in place, then normalised.
                let mut sum = [0.0f32; BLOCK];
                for c in 0..k {
                    let yr = &mut y[c * hw + p0..][..len];
                    for ((y, &m), s) in yr.iter_mut().zip(&max).zip(sum.iter_mut()) {
                        *y = exp(*y - m);
                        *s += *y;
                    }
                }
                let inv = sum.map(|s| 1.0 / s);
                for c in 0..k {
                    for (y, &i) in y[c * hw + p0..][..len].iter_mut().zip(&inv) {
                        *y *= i;
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
            let mut e = vec![0.0f32; k * BLOCK];
            for (p0, len) in blocks(hw) {
                let (max, sum, mean) = block_stats(x, 1.0, k, hw, p0, len, &mut e);
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
            let mut e = vec![0.0f32; k * BLOCK];
            for (p0, len) in blocks(hw) {
                let (_, sum, mean) = block_stats(x, 1.0, k, hw, p0, len, &mut e);
                let mut scale = [0.0f32; BLOCK];
                for j in 0..len {
                    scale[j] = dkl[p0 + j] / sum[j];
                }
                for c in 0..k {
                    let i = c * hw + p0;
                    let xr = &x[i..][..len];
                    let out = &mut dx[i..][..len];
                    let er = &e[c * len..][..len];
                    for ((((o, &v), &t), &mu), &s) in
                        out.iter_mut().zip(xr).zip(er).zip(&mean).zip(&scale)
                    {
                        *o = s * t * (v - mu);
                    }
                }
            }
        });
    dx
}

/// Rows per parallel task of the row-wise (channels-last) functions.
const ROWS: usize = 32;

/// Lanes of the row reductions: independent partial results, so that the loops vectorise.
const LANES: usize = 16;

fn row_max(r: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let chunks = r.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (m, &v) in m.iter_mut().zip(c) {
            *m = m.max(v);
        }
    }
    tail.iter()
        .chain(&m)
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b))
}

/// `Σ f(a_i, b_i)` over two rows, in [`LANES`] partial sums.
fn row_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut s = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (ca, cb) in ca.zip(cb) {
        for ((s, &x), &y) in s.iter_mut().zip(ca).zip(cb) {
            *s += f(x, y);
        }
    }
    s.iter().sum::<f32>() + tail
}

/// [`softmax`] over the last dimension of `[rows, k]` values (channels-last logits).
pub fn softmax_rows(x: &[f32], noise: Option<&[f32]>, scales: [f32; 2], k: usize) -> Vec<f32> {
    assert!(x.len().is_multiple_of(k), "softmax_rows: values");
    if let Some(g) = noise {
        assert_eq!(g.len(), x.len(), "softmax_rows: noise");
    }
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(ROWS * k)
        .zip(x.par_chunks(ROWS * k))
        .enumerate()
        .for_each(|(i, (y, x))| {
            add_scaled(y, x, noise.map(|g| &g[i * ROWS * k..][..x.len()]), scales);
            for row in y.chunks_exact_mut(k) {
                let m = row_max(row);
                for v in row.iter_mut() {
                    *v = exp(*v - m);
                }
                let inv = 1.0 / row_sum(row, row, |a, _| a);
                for v in row.iter_mut() {
                    *v *= inv;
                }
            }
        });
    y
}

/// [`softmax_backward`] for [`softmax_rows`].
pub fn softmax_backward_rows(y: &[f32], dy: &[f32], scale: f32, k: usize) -> Vec<f32> {
    assert!(
        y.len().is_multiple_of(k) && dy.len() == y.len(),
        "softmax_backward_rows: values"
    );
    let mut dx = vec![0.0; y.len()];
    dx.par_chunks_mut(ROWS * k)
        .zip(y.par_chunks(ROWS * k).zip(dy.par_chunks(ROWS * k)))
        .for_each(|(dx, (y, dy))| {
            for ((dx, y), dy) in dx
                .chunks_exact_mut(k)
                .zip(y.chunks_exact(k))
                .zip(dy.chunks_exact(k))
            {
                let dot = row_sum(y, dy, |a, b| a * b);
                for ((o, &a), &b) in dx.iter_mut().zip(y).zip(dy) {
                    *o = scale * a * (b - dot);
                }
            }
        });
    dx
}

/// A row's maximum, `Σ exp(x − max)` and `Σ_c q_c x_c`, with `e` taking `exp(x − max)`.
fn row_stats(x: &[f32], e: &mut [f32]) -> (f32, f32, f32) {
    let m = row_max(x);
    for (e, &v) in e.iter_mut().zip(x) {
        *e = exp(v - m);
    }
    let sum = row_sum(e, e, |a, _| a);
    let mean = row_sum(e, x, |a, b| a * b) / sum;
    (m, sum, mean)
}

/// [`kl_uniform`] over the last dimension of `[rows, k]` values: one KL per row.
pub fn kl_uniform_rows(x: &[f32], k: usize) -> Vec<f32> {
    assert!(x.len().is_multiple_of(k), "kl_uniform_rows: values");
    let ln_k = (k as f32).ln();
    let mut kl = vec![0.0; x.len() / k];
    kl.par_chunks_mut(ROWS)
        .zip(x.par_chunks(ROWS * k))
        .for_each(|(kl, x)| {
            let mut e = vec![0.0; k];
            for (out, row) in kl.iter_mut().zip(x.chunks_exact(k)) {
                let (m, sum, mean) = row_stats(row, &mut e);
                *out = mean - m - ln(sum) + ln_k;
            }
        });
    kl
}

/// [`kl_uniform_backward`] for [`kl_uniform_rows`]: `dkl` has one value per row.
pub fn kl_uniform_backward_rows(x: &[f32], dkl: &[f32], k: usize) -> Vec<f32> {
    assert!(
        x.len().is_multiple_of(k) && dkl.len() == x.len() / k,
        "kl_uniform_backward_rows: values"
    );
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(ROWS * k)
        .zip(x.par_chunks(ROWS * k).zip(dkl.par_chunks(ROWS)))
        .for_each(|(dx, (x, dkl))| {
            for ((dx, row), &g) in dx.chunks_exact_mut(k).zip(x.chunks_exact(k)).zip(dkl) {
                let (_, sum, mean) = row_stats(row, dx);
                let s = g / sum;
                for (o, &v) in dx.iter_mut().zip(row) {
                    *o = s * *o * (v - mean);
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[n, k, hw]` values as `[n·hw, k]` rows.
    fn rows_of(v: &[f32], [n, k, hw]: [usize; 3]) -> Vec<f32> {
        let mut out = vec![0.0; v.len()];
        for i in 0..n {
            for c in 0..k {
                for p in 0..hw {
                    out[(i * hw + p) * k + c] = v[(i * k + c) * hw + p];
                }
            }
        }
        out
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
            .fold(0.0, f32::max);
        assert!(worst < tol, "worst relative difference {worst}");
    }

    /// The row-wise (channels-last) functions equal the strided ones on the same values,
    /// with K not a multiple of the lanes and more rows than one task takes.
    #[test]
    fn rows_match_the_strided_layout() {
        let dims @ [n, k, hw] = [3, 37, 29];
        let val = |i: usize, s: f32| (i as f32 * s).sin() * 4.0;
        let x: Vec<f32> = (0..n * k * hw).map(|i| val(i, 0.37)).collect();
        let g: Vec<f32> = (0..n * k * hw).map(|i| val(i, 1.13)).collect();
        let dy: Vec<f32> = (0..n * k * hw).map(|i| val(i, 0.71)).collect();
        let dkl: Vec<f32> = (0..n * hw).map(|i| val(i, 0.53)).collect();
        let (xr, gr, dyr) = (rows_of(&x, dims), rows_of(&g, dims), rows_of(&dy, dims));

        let y = softmax(&x, Some(&g), [1.3, 0.5], dims);
        let yr = softmax_rows(&xr, Some(&gr), [1.3, 0.5], k);
        close(&yr, &rows_of(&y, dims), 1e-6);
        for row in yr.chunks_exact(k) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let dx = softmax_backward(&y, &dy, 0.5, dims);
        close(
            &softmax_backward_rows(&yr, &dyr, 0.5, k),
            &rows_of(&dx, dims),
            1e-6,
        );
        close(
            &kl_uniform_rows(&xr, k),
            &rows_of(&kl_uniform(&x, dims), [n, 1, hw]),
            1e-5,
        );
        let dkx = kl_uniform_backward(&x, &dkl, dims);
        close(
            &kl_uniform_backward_rows(&xr, &rows_of(&dkl, [n, 1, hw]), k),
            &rows_of(&dkx, dims),
            1e-5,
        );
    }
}
