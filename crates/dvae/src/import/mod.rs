//! Weights from other implementations.

pub mod dalle_names;
