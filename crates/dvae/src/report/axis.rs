//! Axis ranges, tick positions and tick labels, shared by the SVG charts and `curves.png`.

/// A y (or x) axis: the drawn range (in log10 units for a log axis) and its ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Lower end of the drawn range.
    pub lo: f64,
    /// Upper end of the drawn range.
    pub hi: f64,
    /// Logarithmic: `lo`, `hi` and tick positions are log10 of the values.
    pub log: bool,
    /// Tick positions (in drawn units) with their labels.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// An axis covering `values` (non-positive ones are ignored on a log axis), with about
    /// `n` ticks at round numbers.
    pub fn fit(values: impl IntoIterator<Item = f64>, log: bool, n: usize) -> Self {
        let vals: Vec<f64> = values
            .into_iter()
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .map(|v| if log { v.log10() } else { v })
            .collect();
        let (mut lo, mut hi) = vals
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            // A flat series: a decade around it, or ±10% (±1 around zero).
            let pad = match (log, lo == 0.0) {
                (true, _) => 0.5,
                (false, true) => 1.0,
                (false, false) => lo.abs() * 0.1,
            };
            (lo, hi) = (lo - pad, hi + pad);
        }
        let ticks = if log {
            let (a, b) = (lo.floor() as i32, hi.ceil() as i32);
            let step = ((b - a) as usize).div_ceil(n.max(1)).max(1);
            (a..=b)
                .step_by(step)
                .map(|k| {
                    let text = if (0..=4).contains(&k) {
                        10u32.pow(k as u32).to_string()
                    } else {
                        format!("1e{k}")
                    };
                    (k as f64, text)
                })
                .collect::<Vec<_>>()
        } else {
            let step = nice_step((hi - lo) / n.max(1) as f64);
            let first = (lo / step).floor() as i64;
            let last = (hi / step).ceil() as i64;
            (first..=last)
                .map(|k| (k as f64 * step, label(k as f64 * step, step)))
                .collect()
        };
        // Extend the range to the outer ticks so lines never leave the frame.
        let lo = ticks.first().map_or(lo, |t| t.0.min(lo));
        let hi = ticks.last().map_or(hi, |t| t.0.max(hi));
        Self { lo, hi, log, ticks }
    }

    /// Position of `v` in [0, 1] along the axis (before clamping).
    pub fn frac(&self, v: f64) -> f64 {
        let v = if self.log { v.max(1e-300).log10() } else { v };
        (v - self.lo) / (self.hi - self.lo)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1e-300).log10().floor());
    let m = raw / p;
    p * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// A tick label with as many decimals as `step` needs; scientific outside [1e-3, 1e5).
fn label(v: f64, step: f64) -> String {
    if v == 0.0 || v.abs() < step * 1e-6 {
        return "0".into();
    }
    if v.abs() >= 1e5 || step < 1e-3 {
        return format!("{v:.1e}");
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// A number in a few characters, for legends and captions.
pub fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e5 || v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        let a = Axis::fit([0.13, 0.87], false, 4);
        assert_eq!(a.ticks.first().unwrap().1, "0");
        assert_eq!(a.ticks.last().unwrap().1, "1.0");
        assert!(a.frac(0.13) >= 0.0 && a.frac(0.87) <= 1.0);
        let l = Axis::fit([1e-5, 3e-3], true, 4);
        assert_eq!(l.ticks.first().unwrap().1, "1e-5");
        assert!((l.frac(1e-5) - 0.0).abs() < 1e-12);
        let flat = Axis::fit([2.0, 2.0], false, 4);
        assert!(flat.hi > flat.lo);
        let zero = Axis::fit([0.0, 0.0], false, 4);
        assert_eq!((zero.lo, zero.hi), (-1.0, 1.0));
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(1e-4), "1.00e-4");
    }
}
