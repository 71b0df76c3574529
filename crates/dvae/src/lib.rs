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
//! use dvae::config::{ModelConfig, Recipe, TrainConfig};
//! use dvae::data::ImageSet;
//! use dvae::kernels::engine::Engine;
//! use dvae::model::Network;
//! use dvae::model::family::FamilyConfig;
//! use dvae::run_config::{FORMAT_VERSION, RunConfig};
//! use dvae::Tokenizer;
//!
//! let device = Device::flex();
//! let model = ModelConfig::preset("tiny")?;
//! let config = RunConfig {
//!     format_version: FORMAT_VERSION,
//!     preset: "tiny".into(),
//!     bottleneck: FamilyConfig::of("dvae", Recipe::Default, 100)?,
//!     train: TrainConfig::recipe(Recipe::Default, 100),
//!     data: "default".into(),
//!     model: model.clone(),
//! };
//! // An untrained network; `Tokenizer::load("runs/default")` loads a trained run instead.
//! let net = Network::new(&model, &config.bottleneck, 0, &device, Engine::resolve(&device));
//! let tokenizer = Tokenizer::from_model(config, net, &device);
//! let images = ImageSet::procedural(2, model.image_size);
//! let tokens = tokenizer.encode_set(&images, &[0, 1], 2)?;
//! assert_eq!((tokens.n, tokens.h, tokens.w), (2, 8, 8));
//! let pixels = tokenizer.decode_grids(&tokens, 2)?;
//! assert_eq!(pixels[0].len(), 64 * 64 * 3);
//! # Ok::<(), dvae::Error>(())
//! ```
//!
//! Layers, from the bottom: [`kernels`] (the numerics, and the [`Engine`](kernels::engine)
//! switch), [`config`] (the backbone's and the optimiser's settings), [`model`] (the
//! network, defined once, and the [families](model::family), one file each),
//! [`run_config`] (a whole run's settings, `config.json`), then what uses them: [`train`],
//! [`pipeline`] ([`Tokenizer`]), [`scoring`], [`compare`], [`prior`] (transformer and
//! PixelCNN priors over tokens), [`bench`](mod@bench), [`report`]; beside them [`data`],
//! [`metrics`], [`loss`], [`schedule`], [`tokens`] (`.npy` token files), [`artifact`] (run
//! directories), [`weights`], [`atomic`], [`import`] (OpenAI's weights). See
//! `ARCHITECTURE.md` for where to change what.

pub mod alloc;
pub mod artifact;
pub mod atomic;
pub mod bench;
pub mod compare;
pub mod config;
pub mod data;
pub mod error;
pub mod fuzz;
pub mod grid;
pub mod gumbel_study;
pub mod import;
pub mod kernels;
pub mod loss;
pub mod metrics;
pub mod model;
mod names;
pub mod pipeline;
pub mod prior;
pub mod report;
pub mod reproducible;
pub mod run_config;
pub mod run_lock;
pub mod schedule;
pub mod scoring;
pub mod token_shards;
pub mod tokens;
pub mod train;
pub mod weights;

pub use error::{Error, Result};
pub use pipeline::Tokenizer;
