//! How the maps a model passes between its layers lie in memory.

use burn::backend::Dispatch;
use burn::prelude::*;

use super::backend::CpuConvBackend;

/// Burn's NCHW or channels-last NHWC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[N, C, H, W]`, Burn's convention (its generic operations take this).
    Nchw,
    /// `[N, H, W, C]`: the CPU kernels' own layout, no transposes around them (only on
    /// the kernels' device).
    Nhwc,
}

impl Layout {
    /// The channel dimension.
    pub fn channel_dim(self) -> usize {
        match self {
            Self::Nchw => 1,
            Self::Nhwc => 3,
        }
    }

    /// Whether this is the channels-last layout (the kernels' `cl` flag).
    pub fn is_channels_last(self) -> bool {
        self == Self::Nhwc
    }

    /// An NCHW tensor in this layout (for NHWC a contiguous copy by the kernels' blocked,
    /// parallel transpose, differentiable).
    pub fn from_nchw(self, t: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Nchw => t,
            Self::Nhwc => relayout(t, true),
        }
    }

    /// A tensor of this layout in NCHW (as [`from_nchw`](Self::from_nchw)).
    pub fn to_nchw(self, t: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Nchw => t,
            Self::Nhwc => relayout(t, false),
        }
    }
}

/// NCHW → NHWC (`to_cl`) or back, differentiable.
fn relayout(t: Tensor<4>, to_cl: bool) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::cl_relayout(t.into_dispatch(), to_cl))
}
