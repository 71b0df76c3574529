//! `exp` and `ln` for f32 that the compiler vectorises (Cephes' `expf`/`logf` polynomials,
//! within 2 ulp of the standard library's on their ranges; tests pin them). The standard
//! functions are scalar library calls, and softmax over K = 512 codes or Gumbel noise
//! spends most of its time in them.

// The coefficients are Cephes' as published.
#![allow(clippy::excessive_precision)]

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
