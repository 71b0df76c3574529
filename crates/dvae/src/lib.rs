//! `dvae`: train, run and evaluate discrete image tokenizers.

pub mod artifact;
pub mod config;
pub mod data;
pub mod error;
pub mod import;
pub mod loss;
pub mod model;
pub mod schedule;

pub use error::{Error, Result};
