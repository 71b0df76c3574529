//! The same run writes the same bytes. Three things in Burn's writers vary from one
//! process to the next although the tensors do not: parameter ids are drawn at random
//! (burnpack files store them, and the optimizer state is keyed by them), the optimizer
//! state is written in hash-map order, and a safetensors file's `__metadata__` is written
//! in hash-map order. Here each is made a function of the model alone.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;

use crate::error::{Error, Result};

/// Gives `module`'s parameters the ids 1, 2, 3, … in the order Burn visits them (which is
/// their order in the module), replacing the random ids they were created with. Ids only
/// need to be unique within a module: the optimizer state and the weight EMA are matched
/// by them, and a checkpoint stores them.
pub fn number_params<M: Module>(module: M) -> M {
    module.map(&mut Numbering(0))
}

struct Numbering(u64);

impl Numbering {
    fn next(&mut self) -> ParamId {
        self.0 += 1;
        ParamId::from(self.0)
    }
}

impl ModuleMapper for Numbering {
    fn map_float<const D: usize>(&mut self, mut p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        p.id = self.next();
        p
    }
    fn map_int<const D: usize>(&mut self, mut p: Param<Tensor<D, Int>>) -> Param<Tensor<D, Int>> {
        p.id = self.next();
        p
    }
    fn map_bool<const D: usize>(
        &mut self,
        mut p: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        p.id = self.next();
        p
    }
}

/// Writes `optim`'s state to `path` (burnpack) with its tensors in name order. Burn writes
/// them in the order of a hash map; reading a burnpack file gives them sorted by name, so
/// the state goes through a scratch file beside `path` (tensors stream from it: the state
/// is never held in memory whole) and is written again from there.
pub fn save_optimizer(optim: &ModuleOptimizer, path: &Path) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("optim");
    let scratch = path.with_file_name(format!(".{name}.unsorted.bpk"));
    let fail = |e: &dyn std::fmt::Display| {
        Error::run(path, format!("cannot write the optimizer state: {e}"))
    };
    let result = optim
        .save(&scratch)
        .map_err(|e| fail(&e))
        .and_then(|()| OptimizerRecord::load(&scratch).map_err(|e| fail(&e)))
        .and_then(|record| record.save(path).map_err(|e| fail(&e)));
    let _ = std::fs::remove_file(&scratch);
    result
}

/// The opening of a safetensors header whose metadata the writer put first.
const METADATA: &[u8] = b"{\"__metadata__\":";

/// Rewrites the `__metadata__` of the safetensors file at `path` in key order, in place.
/// The entries and so the header's length stay the same; the tensors, which the
/// safetensors writer already orders by dtype and name, are not touched. A file without
/// metadata is left as it is.
pub fn sort_safetensors_metadata(path: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let bad = |what: &str| {
        Error::run(
            path,
            format!("cannot reorder the safetensors header: {what}"),
        )
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(io)?;
    let len = u64::from_le_bytes(len);
    let file_len = f.metadata().map_err(io)?.len();
    if len > file_len.saturating_sub(8) {
        return Err(bad("header longer than the file"));
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header).map_err(io)?;
    let Some(rest) = header.strip_prefix(METADATA) else {
        return Ok(());
    };
    // The metadata object ends where the first value of the stream ends.
    let mut stream =
        serde_json::Deserializer::from_slice(rest).into_iter::<BTreeMap<String, String>>();
    let sorted = match stream.next() {
        Some(Ok(map)) => map,
        _ => return Err(bad("__metadata__ is not an object of strings")),
    };
    let end = stream.byte_offset();
    let text = serde_json::to_vec(&sorted).expect("strings serialise");
    if text.len() != end {
        return Err(bad("the sorted metadata would change the header's length"));
    }
    if text[..] != rest[..end] {
        f.seek(SeekFrom::Start(8 + METADATA.len() as u64))
            .map_err(io)?;
        f.write_all(&text).map_err(io)?;
    }
    Ok(())
}
