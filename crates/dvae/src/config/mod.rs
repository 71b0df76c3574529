//! The backbone's and the optimiser's configuration: presets, recipes, validation. A
//! family's own options live with the family (`model::family`); a whole run's are a
//! `RunConfig` (`run_config`).

pub mod check;
pub mod model;
pub mod train;

pub use model::{MAX_PARAMS, MAX_SIDE, ModelConfig, ReconLoss};
pub use train::{Recipe, TrainConfig};
