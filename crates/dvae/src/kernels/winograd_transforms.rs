//! The transforms of Winograd's F(4, 3) and F(4, 2) (Lavin & Gray, 2016): the Toom-Cook
//! matrices at the points 0, ±1, ±2, ∞ (and 0, ±1, 2, ∞), and the same transforms written
//! out as the few adds and multiplies they amount to, pinned to the matrices by tests.

/// Output tile side m.
pub(super) const M: usize = 4;
/// Input tile side α = m + 2.
pub(super) const A: usize = M + 2;

/// Bᵀ of F(4, 3) (points 0, ±1, ±2, ∞); [`bt6`] writes it out, pinned to it by a test.
#[cfg(test)]
pub(super) const BT: [[f32; A]; A] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// G of F(4, 3).
pub(super) const G: [[f32; 3]; A] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Aᵀ of F(4, 3); [`at6`] writes it out.
#[cfg(test)]
pub(super) const AT: [[f32; A]; M] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// G of F(4, 2) (points 0, ±1, 2, ∞), for 2×2 kernels; [`bt5`] and [`at5`] are its Bᵀ and
/// Aᵀ, written out.
pub(super) const G2: [[f32; 2]; 5] = [
    [1.0 / 2.0, 0.0],
    [-1.0 / 2.0, -1.0 / 2.0],
    [-1.0 / 6.0, 1.0 / 6.0],
    [1.0 / 6.0, 1.0 / 3.0],
    [0.0, 1.0],
];

/// α of F(4×4, r×r).
pub(super) fn alpha(r: usize) -> usize {
    M + r - 1
}

/// G[i][k] of F(4, r).
pub(super) fn g_at(r: usize, i: usize, k: usize) -> f32 {
    if r == 3 { G[i][k] } else { G2[i][k] }
}

/// Bᵀ of F(4, r) along α channel vectors (see [`bt6`]).
#[inline(always)]
pub(super) fn bt(r: usize, src: &[f32], ss: usize, dst: &mut [f32], ds: usize, c: usize) {
    if r == 3 {
        bt6(src, ss, dst, ds, c)
    } else {
        bt5(src, ss, dst, ds, c)
    }
}

/// Aᵀ of F(4, r) along α channel vectors (see [`at6`]).
#[inline(always)]
pub(super) fn at(r: usize, src: &[f32], ss: usize, dst: &mut [f32], ds: usize, c: usize) {
    if r == 3 {
        at6(src, ss, dst, ds, c)
    } else {
        at5(src, ss, dst, ds, c)
    }
}

/// Six channel vectors `src[k·ss ..][..c]` (k < 6) → `dst[i·ds ..][..c] = Σ_k Bᵀ[i][k] src_k`,
/// with F(4, 3)'s Bᵀ written out (12 additions and 8 multiplications per channel).
#[inline(always)]
pub(super) fn bt6(src: &[f32], ss: usize, dst: &mut [f32], ds: usize, c: usize) {
    let s: [&[f32]; 6] = std::array::from_fn(|k| &src[k * ss..k * ss + c]);
    for x in 0..c {
        let [d0, d1, d2, d3, d4, d5] = [s[0][x], s[1][x], s[2][x], s[3][x], s[4][x], s[5][x]];
        let (a, b) = (d4 - 4.0 * d2, d3 - 4.0 * d1);
        let (e, f) = (d4 - d2, 2.0 * (d3 - d1));
        let out = [
            4.0 * d0 - 5.0 * d2 + d4,
            a + b,
            a - b,
            e + f,
            e - f,
            4.0 * d1 - 5.0 * d3 + d5,
        ];
        for (i, v) in out.into_iter().enumerate() {
            dst[i * ds + x] = v;
        }
    }
}

/// Six channel vectors → four: `dst[i·ds ..][..c] = Σ_k Aᵀ[i][k] src_k` for F(4, 3).
#[inline(always)]
pub(super) fn at6(src: &[f32], ss: usize, dst: &mut [f32], ds: usize, c: usize) {
    let s: [&[f32]; 6] = std::array::from_fn(|k| &src[k * ss..k * ss + c]);
    for x in 0..c {
        let [m0, m1, m2, m3, m4, m5] = [s[0][x], s[1][x], s[2][x], s[3][x], s[4][x], s[5][x]];
        let (p12, q12, p34, q34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        let out = [
            m0 + p12 + p34,
            q12 + 2.0 * q34,
            p12 + 4.0 * p34,
            q12 + 8.0 * q34 + m5,
        ];
        for (i, v) in out.into_iter().enumerate() {
            dst[i * ds + x] = v;
        }
    }
}

/// Five channel vectors → five: Bᵀ of F(4, 2) (points 0, ±1, 2, ∞), written out.
#[inline(always)]
pub(super) fn bt5(src: &[f32], ss: usize, dst: &mut [f32], ds: usize, c: usize) {
    let s: [&[f32]; 5] = std::array::from_fn(|k| &src[k * ss..k * ss + c]);
    for x in 0..c {
        let [d0, d1, d2, d3, d4] = [s[0][x], s[1][x], s[2][x], s[3][x], s[4][x]];
        let out = [
            2.0 * (d0 - d2) - d1 + d3,
            d3 - d2 - 2.0 * d1,
            2.0 * d1 - 3.0 * d2 + d3,
            d3 - d1,
            2.0 * (d1 - d3) - d2 + d4,
        ];
        for (i, v) in out.into_iter().enumerate() {
            dst[i * ds + x] = v;
        }
    }
}

/// Five channel vectors → four: Aᵀ of F(4, 2), written out.
#[inline(always)]
pub(super) fn at5(src: &[f32], ss: usize, dst: &mut [f32], ds: usize, c: usize) {
    let s: [&[f32]; 5] = std::array::from_fn(|k| &src[k * ss..k * ss + c]);
    for x in 0..c {
        let [m0, m1, m2, m3, m4] = [s[0][x], s[1][x], s[2][x], s[3][x], s[4][x]];
        let (p, q) = (m1 + m2, m1 - m2);
        let out = [m0 + p + m3, q + 2.0 * m3, p + 4.0 * m3, q + 8.0 * m3 + m4];
        for (i, v) in out.into_iter().enumerate() {
            dst[i * ds + x] = v;
        }
    }
}

/// Four channel vectors → six: `dst[k·ds ..][..c] = Σ_i Aᵀ[i][k] src_i` (A times them), the
/// adjoint of [`at6`].
#[inline(always)]
pub(super) fn a6(src: &[f32], ss: usize, dst: &mut [f32], ds: usize, c: usize) {
    let s: [&[f32]; 4] = std::array::from_fn(|k| &src[k * ss..k * ss + c]);
    for x in 0..c {
        let [s0, s1, s2, s3] = [s[0][x], s[1][x], s[2][x], s[3][x]];
        let (e, o) = (s0 + s2, s1 + s3);
        let (e4, o2) = (s0 + 4.0 * s2, 2.0 * s1 + 8.0 * s3);
        let out = [s0, e + o, e - o, e4 + o2, e4 - o2, s3];
        for (k, v) in out.into_iter().enumerate() {
            dst[k * ds + x] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bᵀ and Aᵀ of F(4, 2), from the Toom-Cook construction at 0, ±1, 2, ∞.
    const BT2: [[f32; 5]; 5] = [
        [2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 1.0, 0.0],
        [0.0, 2.0, -3.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0],
    ];
    const AT2: [[f32; 5]; M] = [
        [1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, 1.0],
    ];

    /// F(4, 2)'s written-out transforms are the matrices, and the matrices make the
    /// algorithm: `Aᵀ[(G g) ⊙ (Bᵀ d)]` is the correlation of d with g for every unit d, g.
    #[test]
    fn f4_2_transforms_and_identity() {
        for k in 0..5 {
            let mut src = vec![0.0f32; 5 * 3];
            src[k * 3] = 1.0;
            let (mut b, mut a) = (vec![0.0f32; 5], vec![0.0f32; M]);
            bt5(&src, 3, &mut b, 1, 1);
            at5(&src, 3, &mut a, 1, 1);
            for i in 0..5 {
                assert_eq!(b[i], BT2[i][k], "Bᵀ[{i}][{k}]");
            }
            for i in 0..M {
                assert_eq!(a[i], AT2[i][k], "Aᵀ[{i}][{k}]");
            }
        }
        for (dl, gk) in (0..5).flat_map(|d| (0..2).map(move |g| (d, g))) {
            for (i, at) in AT2.iter().enumerate() {
                let y: f32 = (0..5).map(|j| at[j] * G2[j][gk] * BT2[j][dl]).sum();
                let want = if dl == i + gk { 1.0 } else { 0.0 };
                assert!((y - want).abs() < 1e-6, "y[{i}] for d{dl}, g{gk}: {y}");
            }
        }
    }

    /// The written-out transforms are the matrices: unit vectors in, matrix columns out,
    /// over 3 channels with strides.
    #[test]
    fn written_out_transforms_are_the_matrices() {
        for k in 0..A {
            let mut src = vec![0.0f32; A * 5];
            for ch in 0..3 {
                src[k * 5 + ch] = 1.0 + ch as f32;
            }
            let mut b = vec![0.0f32; A * 4];
            bt6(&src, 5, &mut b, 4, 3);
            let mut a = vec![0.0f32; M * 4];
            at6(&src, 5, &mut a, 4, 3);
            if k < M {
                // a6 takes unit vector k of 4 to row k of Aᵀ.
                let mut t = vec![0.0f32; A * 4];
                a6(&src, 5, &mut t, 4, 3);
                for ch in 0..3 {
                    for i in 0..A {
                        assert_eq!(t[i * 4 + ch], AT[k][i] * (1.0 + ch as f32), "A[{i}][{k}]");
                    }
                }
            }
            for ch in 0..3 {
                let s = 1.0 + ch as f32;
                for i in 0..A {
                    assert_eq!(b[i * 4 + ch], BT[i][k] * s, "Bᵀ[{i}][{k}]");
                }
                for i in 0..M {
                    assert_eq!(a[i * 4 + ch], AT[i][k] * s, "Aᵀ[{i}][{k}]");
                }
            }
        }
    }
}
