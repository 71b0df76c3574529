//! Range checks whose errors name the field, the range and the value: one wording for every
//! configuration (the backbone's, the optimiser's, each family's).

use crate::error::{Error, Result};

/// An integer of at least 1.
pub fn at_least_one(field: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::config(field, "must be at least 1, got 0"));
    }
    Ok(())
}

/// A finite number above 0.
pub fn positive(field: &str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        return Ok(());
    }
    Err(Error::config(
        field,
        format!("must be a finite number > 0, got {v}"),
    ))
}

/// A finite number of at least 0.
pub fn non_negative(field: &str, v: f64) -> Result<()> {
    if v >= 0.0 && v.is_finite() {
        return Ok(());
    }
    Err(Error::config(field, format!("must be >= 0, got {v}")))
}

/// A number in [0, 1).
pub fn unit(field: &str, v: f64) -> Result<()> {
    if (0.0..1.0).contains(&v) {
        return Ok(());
    }
    Err(Error::config(field, format!("must be in [0, 1), got {v}")))
}
