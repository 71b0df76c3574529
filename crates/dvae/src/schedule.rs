//! τ, β and learning-rate schedules: pure functions of the step.

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;

/// How τ is annealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TauSchedule {
    /// Half-cosine from the start to the end value over the annealing steps.
    Cosine,
    /// Geometric decay from the start to the end value over the annealing steps.
    Exponential,
}

/// How a loss weight β is brought in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BetaSchedule {
    /// Half-cosine from 0 to the weight over the warm-up steps, then constant.
    Cosine,
    /// The weight from the first step.
    Fixed,
}

crate::names::kebab_from_str!(TauSchedule, "tau_schedule", [Cosine => "cosine", Exponential => "exponential"]);
crate::names::kebab_from_str!(BetaSchedule, "beta_schedule", [Cosine => "cosine", Fixed => "fixed"]);

/// Half-cosine interpolation from `a` (at `t = 0`) to `b` (at `t >= 1`).
fn cosine(a: f64, b: f64, t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    b + (a - b) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

fn fraction(step: usize, over: usize) -> f64 {
    if over == 0 {
        1.0
    } else {
        step as f64 / over as f64
    }
}

/// A temperature annealed from `start` to `end` over `steps`, then held, at `step`.
pub fn tau(schedule: TauSchedule, [start, end]: [f64; 2], steps: usize, step: usize) -> f64 {
    let t = fraction(step, steps).min(1.0);
    match schedule {
        TauSchedule::Cosine => cosine(start, end, t),
        TauSchedule::Exponential => start * (end / start).powf(t),
    }
}

/// A loss weight brought in to `weight` over `steps`, at `step`.
pub fn beta(schedule: BetaSchedule, weight: f64, steps: usize, step: usize) -> f64 {
    match schedule {
        BetaSchedule::Fixed => weight,
        BetaSchedule::Cosine => cosine(0.0, weight, fraction(step, steps)),
    }
}

/// Learning rate at `step`: linear warm-up to `lr` over `warmup_steps`, then a half-cosine
/// decay to `lr_end` at the last step.
pub fn lr(c: &TrainConfig, step: usize) -> f64 {
    warmup_cosine(c.lr, c.lr_end, c.warmup_steps, c.steps, step)
}

/// Linear warm-up to `peak` over `warmup` steps, then a half-cosine decay to `end` at step
/// `steps`.
pub fn warmup_cosine(peak: f64, end: f64, warmup: usize, steps: usize, step: usize) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let decay = steps.saturating_sub(warmup).max(1);
    cosine(peak, end, fraction(step - warmup, decay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Recipe, TrainConfig};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12 * (1.0 + b.abs())
    }

    #[test]
    fn tau_cosine_and_exponential_at_known_steps() {
        let t = |s, step| tau(s, [1.0, 1.0 / 16.0], 1000, step);
        assert!(close(t(TauSchedule::Cosine, 0), 1.0));
        assert!(close(t(TauSchedule::Cosine, 500), (1.0 + 1.0 / 16.0) / 2.0));
        assert!(close(t(TauSchedule::Cosine, 1000), 1.0 / 16.0));
        assert!(close(t(TauSchedule::Cosine, 5000), 1.0 / 16.0));
        assert!(close(t(TauSchedule::Exponential, 500), 0.25)); // geometric mean of 1 and 1/16
        assert!(close(t(TauSchedule::Exponential, 250), 0.5));
    }

    #[test]
    fn beta_warms_up() {
        let b = |step| beta(BetaSchedule::Cosine, 6.6, 100, step);
        assert_eq!(b(0), 0.0);
        assert!(close(b(50), 3.3));
        assert!(close(b(100), 6.6));
        assert!(close(b(999), 6.6));
        assert!(close(beta(BetaSchedule::Fixed, 6.6, 100, 0), 6.6));
    }

    #[test]
    fn lr_warmup_then_cosine() {
        let c = TrainConfig::recipe(Recipe::Dalle, 1000);
        assert_eq!(c.warmup_steps, 50);
        assert!(close(lr(&c, 0), 1e-4 / 50.0));
        assert!(close(lr(&c, 49), 1e-4));
        assert!(close(lr(&c, 50), 1e-4));
        assert!(close(lr(&c, 525), (1e-4 + 1.25e-6) / 2.0));
        assert!(close(lr(&c, 1000), 1.25e-6));
    }
}
