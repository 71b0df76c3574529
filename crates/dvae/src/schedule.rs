//! τ, β and learning-rate schedules: pure functions of the step.

use crate::config::{BetaSchedule, TauSchedule, TrainConfig};

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

/// Gumbel-softmax temperature at `step`.
pub fn tau(c: &TrainConfig, step: usize) -> f64 {
    let t = fraction(step, c.tau_steps).min(1.0);
    match c.tau_schedule {
        TauSchedule::Cosine => cosine(c.tau_start, c.tau_end, t),
        TauSchedule::Exponential => c.tau_start * (c.tau_end / c.tau_start).powf(t),
    }
}

/// KL weight β at `step`.
pub fn beta(c: &TrainConfig, step: usize) -> f64 {
    match c.beta_schedule {
        BetaSchedule::Fixed => c.kl_weight,
        BetaSchedule::Cosine => cosine(0.0, c.kl_weight, fraction(step, c.beta_steps)),
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
        let mut c = TrainConfig::recipe(Recipe::Dalle, 1000);
        assert!(close(tau(&c, 0), 1.0));
        assert!(close(tau(&c, 500), (1.0 + 1.0 / 16.0) / 2.0));
        assert!(close(tau(&c, 1000), 1.0 / 16.0));
        assert!(close(tau(&c, 5000), 1.0 / 16.0));
        c.tau_schedule = TauSchedule::Exponential;
        assert!(close(tau(&c, 500), 0.25)); // geometric mean of 1 and 1/16
        assert!(close(tau(&c, 250), 0.5));
    }

    #[test]
    fn beta_warms_up_over_ten_percent() {
        let c = TrainConfig::recipe(Recipe::Dalle, 1000);
        assert_eq!(beta(&c, 0), 0.0);
        assert!(close(beta(&c, 50), 3.3));
        assert!(close(beta(&c, 100), 6.6));
        assert!(close(beta(&c, 999), 6.6));
        let mut f = c.clone();
        f.beta_schedule = BetaSchedule::Fixed;
        assert!(close(beta(&f, 0), 6.6));
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
