//! PyTorch checkpoint files as `torch.save` writes them, read without Python or libtorch.
//!
//! - **zip** (PyTorch ≥ 1.6): `NAME/data.pkl` is the object pickle; storage `KEY` is the
//!   entry `NAME/data/KEY`; `NAME/byteorder` says `little`.
//! - **legacy** (`_use_new_zipfile_serialization=False`, and PyTorch < 1.6): five pickles in
//!   a row — the magic number, the protocol version (1001), system info, the object, the
//!   sorted storage keys — then each storage as an `i64` element count and its raw bytes.
//!
//! In both, a tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`
//! whose storage is the persistent id `('storage', torch.FloatStorage, key, location,
//! numel[, view])`. Only the globals in [`ALLOWED_GLOBALS`] may appear.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::dalle_names::HostTensor;
use super::pickle::{self, Value};
use super::torch_tensor::{element_size, rebuild, storage_id};
use crate::error::{Error, Result};

/// Every class and function a checkpoint may name: PyTorch's tensor reconstructors and
/// storage types, the modules the dall_e networks are built from, and pure constructors.
/// Anything else (`os.system`, `builtins.eval`, …) makes the file unreadable.
pub const ALLOWED_GLOBALS: &[&str] = &[
    "collections.OrderedDict",
    "builtins.set",
    "__builtin__.set",
    "builtins.frozenset",
    "__builtin__.frozenset",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.FloatStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.DoubleStorage",
    "torch.device",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.activation.ReLU",
    "torch.nn.modules.pooling.MaxPool2d",
    "torch.nn.modules.upsampling.Upsample",
    "torch.nn.modules.linear.Identity",
    "dall_e.encoder.Encoder",
    "dall_e.encoder.EncoderBlock",
    "dall_e.decoder.Decoder",
    "dall_e.decoder.DecoderBlock",
    "dall_e.utils.Conv2d",
];

/// How the file was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The zip archive of PyTorch ≥ 1.6.
    Zip,
    /// The legacy pickle stream.
    Legacy,
}

/// A parsed checkpoint: the object it holds and the bytes of its storages.
pub struct TorchFile {
    /// The file, for messages.
    pub path: PathBuf,
    /// The container format.
    pub format: Format,
    /// The saved object (for OpenAI's files, a whole `torch.nn.Module`).
    pub root: Value,
    storages: HashMap<String, Vec<u8>>,
}

fn allowed(global: &str) -> bool {
    ALLOWED_GLOBALS.contains(&global)
}

/// The storage persistent ids under `v`: key → storage type.
fn storage_types<'a>(v: &'a Value, out: &mut HashMap<&'a str, &'a str>) {
    match v {
        Value::PersId(pid) => {
            if let Some((ty, key, _)) = storage_id(pid) {
                out.insert(key, ty);
            }
        }
        Value::Tuple(items) | Value::List(items) | Value::Call { args: items, .. } => {
            items.iter().for_each(|i| storage_types(i, out))
        }
        Value::Dict(items) => items.iter().for_each(|(_, i)| storage_types(i, out)),
        Value::Object { state: Some(s), .. } => storage_types(s, out),
        _ => {}
    }
}

impl TorchFile {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }

    /// Parses a checkpoint held in memory; `path` is used in messages.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let err = |why: String| Error::data(path, why);
        if bytes.starts_with(b"PK\x03\x04") {
            Self::zip(path, bytes).map_err(err)
        } else if bytes.first() == Some(&0x80) {
            Self::legacy(path, bytes).map_err(err)
        } else if bytes.len() > 262 && &bytes[257..262] == b"ustar" {
            Err(err(
                "a tar-format checkpoint (PyTorch < 0.1.10) is not supported".into(),
            ))
        } else {
            Err(err(
                "not a PyTorch checkpoint (neither a zip archive nor a legacy pickle stream)"
                    .into(),
            ))
        }
    }

    fn zip(path: &Path, bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| format!("not a readable zip archive: {e}"))?;
        let pkl = zip
            .file_names()
            .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .ok_or("zip archive without a data.pkl: not a torch.save checkpoint")?
            .to_string();
        let prefix = &pkl[..pkl.len() - "data.pkl".len()];
        let mut read = |name: &str| -> std::result::Result<Vec<u8>, String> {
            let mut entry = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
            let mut out = Vec::with_capacity(entry.size().min(bytes.len() as u64) as usize);
            entry
                .read_to_end(&mut out)
                .map_err(|e| format!("{name}: {e}"))?;
            Ok(out)
        };
        if let Ok(order) = read(&format!("{prefix}byteorder"))
            && order != b"little"
        {
            return Err("big-endian checkpoints are not supported".into());
        }
        let data = read(&pkl)?;
        let root = pickle::load(&mut data.as_slice(), &allowed).map_err(|e| e.to_string())?;
        let mut types = HashMap::new();
        storage_types(&root, &mut types);
        let mut storages = HashMap::new();
        for key in types.keys() {
            storages.insert(key.to_string(), read(&format!("{prefix}data/{key}"))?);
        }
        Ok(Self {
            path: path.to_path_buf(),
            format: Format::Zip,
            root,
            storages,
        })
    }

    fn legacy(path: &Path, bytes: &[u8]) -> std::result::Result<Self, String> {
        const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
        let mut input = bytes;
        let none = |_: &str| false;
        let mut header =
            |what: &str| pickle::load(&mut input, &none).map_err(|e| format!("legacy {what}: {e}"));
        if header("magic number")? != Value::BigInt(MAGIC.to_vec()) {
            return Err("wrong magic number: not a legacy torch.save file".into());
        }
        match header("protocol version")? {
            Value::Int(1001) => {}
            other => return Err(format!("legacy protocol version {other:?}, expected 1001")),
        }
        let info = header("system info")?;
        if info.get("little_endian") != Some(&Value::Bool(true)) {
            return Err("big-endian checkpoints are not supported".into());
        }
        let root = pickle::load(&mut input, &allowed).map_err(|e| e.to_string())?;
        let keys = match pickle::load(&mut input, &none) {
            Ok(Value::List(keys)) => keys,
            Ok(_) => return Err("the storage key list is not a list".into()),
            Err(e) => return Err(format!("storage key list: {e}")),
        };
        let mut types = HashMap::new();
        storage_types(&root, &mut types);
        let mut storages = HashMap::new();
        for key in keys {
            let Value::Str(key) = key else {
                return Err("a storage key is not a string".into());
            };
            let ty = types
                .get(key.as_str())
                .ok_or(format!("storage {key} is listed but no tensor uses it"))?;
            let size = element_size(ty).ok_or(format!("storage type {ty} is not supported"))?;
            let truncated = || format!("truncated: storage {key} is cut short");
            let count = input.get(..8).ok_or_else(truncated)?;
            let count = i64::from_le_bytes(count.try_into().expect("8 bytes"));
            let len = usize::try_from(count)
                .ok()
                .and_then(|c| c.checked_mul(size))
                .ok_or_else(|| format!("storage {key} has a bad size {count}"))?;
            let data = input.get(8..8 + len).ok_or_else(truncated)?;
            storages.insert(key, data.to_vec());
            input = &input[8 + len..];
        }
        Ok(Self {
            path: path.to_path_buf(),
            format: Format::Legacy,
            root,
            storages,
        })
    }

    /// The float32 values of the tensor a pickled value rebuilds (a parameter or tensor),
    /// contiguous row-major whatever its strides and storage offset; `name` is for messages.
    pub fn tensor(&self, v: &Value, name: &str) -> Result<HostTensor> {
        rebuild(&self.storages, v)
            .map_err(|why| Error::data(&self.path, format!("tensor {name}: {why}")))
    }
}
