//! Blocks of positions over one image's `[K, HW]` values, the code dimension strided by
//! `H·W`: the inner loops of the softmax, KL and regulariser kernels run over a block's
//! contiguous positions, so that they vectorise.

use super::math::exp;

/// Positions per block.
pub const BLOCK: usize = 64;

/// The statistics of one block of positions `p0..p0+len` of one image's `[K, HW]` values
/// under `u = a·x`: each position's maximum of `u`, `Σ exp(u − max)`, and `Σ_c q_c u_c`.
/// `e` (`[K, len]`, row `c` at `c·len`) receives `exp(u − max)`.
#[allow(clippy::too_many_arguments)]
pub fn block_stats(
    x: &[f32],
    a: f32,
    k: usize,
    hw: usize,
    p0: usize,
    len: usize,
    e: &mut [f32],
) -> ([f32; BLOCK], [f32; BLOCK], [f32; BLOCK]) {
    let mut max = [f32::NEG_INFINITY; BLOCK];
    for c in 0..k {
        for (m, &v) in max.iter_mut().zip(&x[c * hw + p0..][..len]) {
            *m = m.max(v * a);
        }
    }
    let (mut sum, mut mean) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
    for c in 0..k {
        let row = &x[c * hw + p0..][..len];
        let er = &mut e[c * len..][..len];
        for ((((o, &v), &m), s), mu) in er
            .iter_mut()
            .zip(row)
            .zip(&max)
            .zip(sum.iter_mut())
            .zip(mean.iter_mut())
        {
            let u = v * a;
            let t = exp(u - m);
            *o = t;
            *s += t;
            *mu += t * u;
        }
    }
    for (mu, &s) in mean.iter_mut().zip(&sum) {
        *mu /= s;
    }
    (max, sum, mean)
}

pub fn blocks(hw: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..hw)
        .step_by(BLOCK)
        .map(move |p0| (p0, BLOCK.min(hw - p0)))
}
