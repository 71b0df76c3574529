//! `exp` and `ln` for f32 that the compiler vectorises (Cephes' `expf`/`logf` polynomials,
//! within 2 ulp of the standard library's on their ranges; tests pin them). The standard
//! functions are scalar library calls, and softmax over K = 512 codes or Gumbel noise
//! spends most of its time in them.

// The coefficients are Cephes' as published.
#![allow(clippy::excessive_precision)]

use rayon::prelude::*;

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and subtracting 1.5·2²³ rounds to the nearest integer without a library call.
const ROUND: f32 = 12_582_912.0;

/// `e^x`, for `x` in [−87.3, 88.7] (outside, the value at the nearest end).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `ln x` for positive normal `x`.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 126;
    // x = m·2^e with m in [0.5, 1); below √½ use 2m and e − 1, so that m − 1 is small.
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    let e = (e - small as i32) as f32;
    let m = if small { m + m } else { m } - 1.0;
    let z = m * m;
    let y = ((((((((7.037_683_6e-2 * m - 1.151_461e-1) * m + 1.167_699_9e-1) * m
        - 1.242_014_1e-1)
        * m
        + 1.424_932_3e-1)
        * m
        - 1.666_805_8e-1)
        * m
        + 2.000_071_5e-1)
        * m
        - 2.499_999_4e-1)
        * m
        + 3.333_333e-1)
        * m
        * z;
    let y = y + e * LN2_LO - 0.5 * z;
    m + y + e * LN2_HI
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    /// Within 2 ulp of the standard library over the softmax range (every 997th f32 from
    /// −87 to 88).
    #[test]
    fn exp_matches_std() {
        let mut x = -87.0f32;
        let mut worst = 0;
        while x < 88.0 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x = f32::from_bits(if x < 0.0 {
                x.to_bits() - 997
            } else {
                x.to_bits() + 997
            });
            if x.abs() < 1e-30 {
                x = 1e-30;
            }
        }
        assert!(worst <= 2, "exp: {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(-87.3));
    }

    /// Within 2 ulp of the standard library from the smallest normal f32 up (every 997th;
    /// near 1, within 1e-10).
    #[test]
    fn ln_matches_std() {
        let mut bits = f32::MIN_POSITIVE.to_bits();
        let mut worst = 0;
        while bits < f32::MAX.to_bits() {
            let x = f32::from_bits(bits);
            let (got, want) = (ln(x), x.ln());
            if want.abs() < 1e-3 {
                // Near x = 1 the value is tiny: an absolute bound instead of ulps.
                assert!((got - want).abs() < 1e-10, "ln({x}) = {got}, want {want}");
            } else {
                worst = worst.max(ulps(got, want));
            }
            bits += 997;
        }
        assert!(worst <= 2, "ln: {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
    }
}

/// `grad` where `x > 0`, zero elsewhere: the gradient through `relu(x)` (values of the
/// same length), on all threads.
pub fn relu_mask(grad: &mut [f32], x: &[f32]) {
    assert_eq!(grad.len(), x.len(), "relu_mask: lengths");
    grad.par_chunks_mut(1 << 14)
        .zip(x.par_chunks(1 << 14))
        .for_each(|(g, x)| {
            for (g, &x) in g.iter_mut().zip(x) {
                *g = if x > 0.0 { *g } else { 0.0 };
            }
        });
}

/// Index of the largest value (the first of equal ones; NaNs are never the largest).
/// Sixteen lanes each keep their own maximum and its first index, so that the loop
/// vectorises (compare and blend); the lanes are merged at the end.
pub fn argmax(row: &[f32]) -> u32 {
    const L: usize = 16;
    let mut max = [f32::NEG_INFINITY; L];
    let mut at = [u32::MAX; L];
    let chunks = row.chunks_exact(L);
    let tail = chunks.remainder();
    for (i, c) in chunks.enumerate() {
        for l in 0..L {
            let better = c[l] > max[l];
            max[l] = if better { c[l] } else { max[l] };
            at[l] = if better { (i * L + l) as u32 } else { at[l] };
        }
    }
    let (mut best, mut best_at) = (f32::NEG_INFINITY, u32::MAX);
    for l in 0..L {
        if max[l] > best || (max[l] == best && at[l] < best_at) {
            (best, best_at) = (max[l], at[l]);
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        if v > best {
            (best, best_at) = (v, (row.len() - tail.len() + j) as u32);
        }
    }
    // All −∞ or NaN: the first index, as a scan from it would give.
    if best_at == u32::MAX { 0 } else { best_at }
}

#[cfg(test)]
mod argmax_tests {
    /// The first index of the largest value, by a plain scan.
    fn scan(row: &[f32]) -> u32 {
        let mut best = 0;
        for (i, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = i;
            }
        }
        best as u32
    }

    /// The lane-wise argmax equals a plain scan on rows of every length up to 70 with many
    /// ties (values from a set of five), on rows of −∞ and on a row led by NaN.
    #[test]
    fn argmax_is_the_first_largest() {
        let mut state = 12345u32;
        for len in 1..70 {
            for _ in 0..20 {
                let row: Vec<f32> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        ((state >> 24) % 5) as f32 - 2.0
                    })
                    .collect();
                assert_eq!(super::argmax(&row), scan(&row), "{row:?}");
            }
            let row = vec![f32::NEG_INFINITY; len];
            assert_eq!(super::argmax(&row), 0);
        }
        let mut row = vec![1.0f32; 40];
        row[0] = f32::NAN;
        row[33] = 3.0;
        assert_eq!(super::argmax(&row), 33);
    }
}
