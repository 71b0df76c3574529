//! The numerics: this crate's channels-last (NHWC) CPU kernels and the switch that says
//! whether they run.
//!
//! Convolutions are tiled im2col + GEMM on the `gemm` crate (Winograd's algorithm for 3×3
//! and 4×4 stride-2 kernels), with the bias, ReLU and residual additions fused into each
//! tile, and the encoder's last layer fused with the argmax so the logits never exist as a
//! whole tensor. Inference runs them on host maps ([`maps`]); training runs the same kernels
//! as Burn operations ([`ops`]). The [`engine`] says which: ours on the flex device, Burn's
//! generic operations elsewhere. Every kernel is pinned to Burn's by tests (1e-4). Nothing
//! here knows a model: the layers are Burn's `Conv2d` and `ConvTranspose2d`.

pub mod conv;
mod conv_grad;
pub mod conv_transpose;
pub mod device;
pub mod engine;
pub mod gemm;
pub mod host;
pub mod maps;
pub mod math;
pub mod ops;
mod pool;
mod position_blocks;
pub mod regularisers;
pub mod softmax;
pub mod winograd;
mod winograd_transforms;
