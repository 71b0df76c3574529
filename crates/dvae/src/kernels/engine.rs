//! The one switch: which engine runs a model's layers.
//!
//! [`Engine::resolve`] decides once, from the device and (read once per process) the
//! environment; the model carries the value and every layer asks it, nothing else looks at
//! the device or the environment again.

use std::sync::OnceLock;

use burn::prelude::*;

use super::ops::layout::Layout;

/// Our channels-last CPU kernels, or Burn's generic operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// This crate's kernels (flex device only): NHWC maps, Winograd convolutions, fused
    /// epilogues, hand-written backward passes.
    #[default]
    Kernels,
    /// Burn's own operations in NCHW, on any device.
    Generic,
}

impl Engine {
    /// The kernels on the flex device (plain or autodiff) unless the environment sets
    /// `DVAE_GENERIC=1`; Burn's operations on every other device.
    pub fn resolve(device: &Device) -> Self {
        if !generic_from_env() && device.clone().inner() == Device::flex() {
            Self::Kernels
        } else {
            Self::Generic
        }
    }

    /// How maps lie between this engine's layers.
    pub fn layout(self) -> Layout {
        match self {
            Self::Kernels => Layout::Nhwc,
            Self::Generic => Layout::Nchw,
        }
    }

    /// Whether this crate's kernels run.
    pub fn is_kernels(self) -> bool {
        self == Self::Kernels
    }
}

crate::names::kebab_from_str!(Engine, "engine", [Kernels => "kernels", Generic => "generic"]);

/// `DVAE_GENERIC=1`, read on first use and remembered.
fn generic_from_env() -> bool {
    static GENERIC: OnceLock<bool> = OnceLock::new();
    *GENERIC.get_or_init(|| std::env::var("DVAE_GENERIC").is_ok_and(|v| v == "1"))
}
