//! `dvae`: train, run and evaluate discrete image tokenizers.

pub mod artifact;
pub mod config;
pub mod data;
pub mod error;
pub mod grid;
pub mod import;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod schedule;
pub mod tokens;
pub mod train;

pub use error::{Error, Result};
pub use pipeline::Dvae;
