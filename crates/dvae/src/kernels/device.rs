//! Which device a command runs on (`--device cpu|wgpu[:N|:cpu]|cuda[:N]`, or the
//! `DVAE_DEVICE` environment variable): the CPU runs this crate's kernels, every other
//! device Burn's generic operations ([`super::engine::Engine::resolve`] decides from the
//! device this gives).

use std::str::FromStr;

use burn::prelude::*;

use crate::error::{Error, Result};

/// A device as written on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The CPU (Burn's flex backend with this crate's kernels).
    #[default]
    Cpu,
    /// A wgpu adapter: the default one, the N-th discrete GPU, or the CPU adapter (Mesa's
    /// lavapipe, which runs Vulkan on the CPU).
    Wgpu(WgpuAdapter),
    /// The N-th CUDA GPU.
    Cuda(usize),
}

/// Which wgpu adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WgpuAdapter {
    /// wgpu's choice (a high-power GPU first; `CUBECL_WGPU_DEFAULT_DEVICE` overrides it).
    Default,
    /// The N-th discrete GPU.
    Discrete(usize),
    /// A CPU adapter (lavapipe).
    Cpu,
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::config(
                "device",
                format!("{s:?}: expected cpu, wgpu, wgpu:N, wgpu:cpu, cuda or cuda:N"),
            )
        };
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (s, None),
        };
        let number = |i: &str| i.parse::<usize>().map_err(|_| bad());
        Ok(match (kind, index) {
            ("cpu", None) => DeviceSpec::Cpu,
            ("wgpu", None) => DeviceSpec::Wgpu(WgpuAdapter::Default),
            ("wgpu", Some("cpu")) => DeviceSpec::Wgpu(WgpuAdapter::Cpu),
            ("wgpu", Some(i)) => DeviceSpec::Wgpu(WgpuAdapter::Discrete(number(i)?)),
            ("cuda", None) => DeviceSpec::Cuda(0),
            ("cuda", Some(i)) => DeviceSpec::Cuda(number(i)?),
            _ => return Err(bad()),
        })
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Wgpu(WgpuAdapter::Default) => write!(f, "wgpu"),
            DeviceSpec::Wgpu(WgpuAdapter::Cpu) => write!(f, "wgpu:cpu"),
            DeviceSpec::Wgpu(WgpuAdapter::Discrete(i)) => write!(f, "wgpu:{i}"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    /// `flag` when given, else `DVAE_DEVICE` when set, else the CPU.
    pub fn resolve(flag: Option<DeviceSpec>) -> Result<Self> {
        match flag {
            Some(d) => Ok(d),
            None => match std::env::var("DVAE_DEVICE") {
                Ok(v) if !v.is_empty() => v.parse(),
                _ => Ok(DeviceSpec::Cpu),
            },
        }
    }

    /// The devices of data-parallel training (`--devices`): at least one, all of one kind
    /// (the engine is chosen once, for the first), each a device of this build.
    pub fn data_parallel(specs: &[DeviceSpec]) -> Result<Vec<Device>> {
        let Some(first) = specs.first() else {
            return Err(Error::config("devices", "no device given"));
        };
        let kind = std::mem::discriminant(first);
        if let Some(other) = specs.iter().find(|d| std::mem::discriminant(*d) != kind) {
            return Err(Error::config(
                "devices",
                format!("{first} and {other}: data-parallel devices must be of one kind"),
            ));
        }
        specs.iter().map(|d| d.device()).collect()
    }

    /// The Burn device; a backend this build was compiled without is an error saying how
    /// to build it.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::flex()),
            DeviceSpec::Wgpu(adapter) => wgpu_device(adapter),
            DeviceSpec::Cuda(i) => cuda_device(i),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device(adapter: WgpuAdapter) -> Result<Device> {
    use burn::tensor::DeviceKind;
    Ok(Device::wgpu(match adapter {
        WgpuAdapter::Default => DeviceKind::DefaultDevice,
        WgpuAdapter::Discrete(i) => DeviceKind::DiscreteGpu(i),
        WgpuAdapter::Cpu => DeviceKind::Cpu,
    }))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(_: WgpuAdapter) -> Result<Device> {
    Err(missing("wgpu"))
}

#[cfg(feature = "cuda")]
fn cuda_device(i: usize) -> Result<Device> {
    Ok(Device::cuda(i))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_: usize) -> Result<Device> {
    Err(missing("cuda"))
}

#[cfg(any(not(feature = "wgpu"), not(feature = "cuda")))]
fn missing(backend: &str) -> Error {
    Error::config(
        "device",
        format!(
            "{backend}: this build has no {backend} backend; build it with \
             `cargo build --release -p dvae-cli --features {backend}`"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for s in ["cpu", "wgpu", "wgpu:cpu", "wgpu:1", "cuda:0", "cuda:3"] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap().to_string(), s);
        }
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        for bad in ["gpu", "cpu:1", "wgpu:x", "cuda:-1", ""] {
            let e = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains("expected cpu"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_cpu_is_the_flex_device() {
        assert_eq!(DeviceSpec::Cpu.device().unwrap(), Device::flex());
        #[cfg(not(feature = "cuda"))]
        {
            let e = DeviceSpec::Cuda(0).device().unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }

    #[test]
    fn data_parallel_devices_are_of_one_kind() {
        let cpu2 = DeviceSpec::data_parallel(&[DeviceSpec::Cpu, DeviceSpec::Cpu]).unwrap();
        assert_eq!(cpu2, vec![Device::flex(), Device::flex()]);
        let mixed = [DeviceSpec::Cpu, DeviceSpec::Wgpu(WgpuAdapter::Discrete(0))];
        let e = DeviceSpec::data_parallel(&mixed).unwrap_err().to_string();
        assert!(
            e.contains("cpu and wgpu:0") && e.contains("one kind"),
            "{e}"
        );
        let e = DeviceSpec::data_parallel(&[]).unwrap_err().to_string();
        assert!(e.contains("no device"), "{e}");
    }
}
