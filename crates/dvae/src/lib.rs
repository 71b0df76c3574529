//! `dvae`: train, run and evaluate discrete image tokenizers — the dVAE of DALL·E.
//!
//! An encoder maps an image to K logits per grid cell; training samples codes with the
//! Gumbel-softmax relaxation at an annealed temperature τ, mixes codebook vectors with the
//! sampled probabilities and decodes them; the loss is a reconstruction likelihood plus
//! β·KL(q(z|x) ‖ uniform). At inference the argmax per cell is the image's token, and
//! decoding one-hot tokens gives the image back.
//!
//! ```
//! use burn::prelude::*;
//! use dvae::config::{FORMAT_VERSION, ModelConfig, Recipe, RunConfig, TrainConfig};
//! use dvae::data::ImageSet;
//! use dvae::model::DvaeModel;
//! use dvae::Dvae;
//!
//! let device = Device::flex();
//! let model = ModelConfig::preset("tiny")?;
//! let config = RunConfig {
//!     format_version: FORMAT_VERSION,
//!     preset: "tiny".into(),
//!     train: TrainConfig::recipe(Recipe::Default, 100),
//!     data: "default".into(),
//!     model: model.clone(),
//! };
//! // An untrained model; `Dvae::load("runs/default")` loads a trained run instead.
//! let dvae = Dvae::from_model(config, DvaeModel::new(&model, 0, &device), &device);
//! let images = ImageSet::procedural(2, model.image_size);
//! let tokens = dvae.encode_set(&images, &[0, 1], 2)?;
//! assert_eq!((tokens.n, tokens.h, tokens.w), (2, 8, 8));
//! let pixels = dvae.decode_grids(&tokens, 2)?;
//! assert_eq!(pixels[0].len(), 64 * 64 * 3);
//! # Ok::<(), dvae::Error>(())
//! ```
//!
//! Modules: [`config`] (presets, recipes), [`model`] (encoder, decoder, quantizer),
//! [`loss`], [`schedule`], [`data`], [`train`], [`pipeline`] ([`Dvae`]), [`metrics`],
//! [`tokens`] (`.npy` token files), [`artifact`] (run directories), [`import`], [`prior`]
//! (transformer and PixelCNN priors over tokens, sampling new images), [`infer`] (the
//! channels-last CPU kernels that encoding, decoding and training run on), [`bench`](mod@bench).

pub mod alloc;
pub mod artifact;
pub mod bench;
pub mod compare;
pub mod config;
pub mod data;
pub mod error;
pub mod fuzz;
pub mod grid;
pub mod gumbel_study;
pub mod import;
pub mod infer;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod prior;
pub mod report;
pub mod schedule;
pub mod scoring;
pub mod tokens;
pub mod train;

pub use error::{Error, Result};
pub use pipeline::Dvae;
