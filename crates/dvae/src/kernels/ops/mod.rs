//! The kernels as Burn operations (a backend extension on flex and autodiff, with
//! hand-written backward passes): what a model's layers call to train on them. Every
//! function takes the [`Engine`](super::engine::Engine) and falls back to Burn's generic
//! operations on the generic one.

pub mod backend;
pub mod conv;
pub mod conv1x1;
mod conv_backward;
mod conv_flex;
mod flex_values;
pub mod layout;
pub mod regularisers;
pub mod softmax;
pub mod straight_through;
