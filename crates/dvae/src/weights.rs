//! Weights as safetensors files: written atomically (the same bytes for the same
//! weights, [`crate::reproducible`]), read back with every tensor checked
//! (missing, extra or mis-shaped ones named), and run directories of format 1 read by their
//! old tensor names.

use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::error::{Error, Result};

/// Format 1's name of the VQ-VAE codebook's tensors (`vq.*`) and format 2's.
const V1_NAMES: (&str, &str) = (r"^vq\.", "bottleneck.Codebook.");

/// A store reading `path`, format 1's tensor names mapped to the current ones.
pub fn reader(path: &Path) -> SafetensorsStore {
    SafetensorsStore::from_file(path)
        .validate(false)
        .with_key_remapping(V1_NAMES.0, V1_NAMES.1)
}

/// Loads safetensors weights into `model`, refusing missing, extra or mis-shaped tensors.
pub fn load_weights<M: Module>(mut model: M, path: &Path) -> Result<M> {
    let mut store = reader(path);
    let result = model
        .load_from(&mut store)
        .map_err(|e| Error::run(path, format!("cannot read weights: {e}")))?;
    check_apply(&result, &path.display().to_string())?;
    Ok(model)
}

/// Writes `model`'s weights as safetensors at `path`, atomically.
pub fn save_weights<M: Module>(model: &M, path: &Path) -> Result<()> {
    crate::atomic::write_atomic(path, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp).overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| Error::run(path, format!("cannot write weights: {e}")))?;
        crate::reproducible::sort_safetensors_metadata(tmp)
    })
}

/// Which halves of a model a weights file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Halves {
    /// Encoder and decoder.
    Both,
    /// The encoder only (`encoder.*` tensors): can encode, cannot decode.
    Encoder,
    /// The decoder only (`decoder.*` tensors): can decode, cannot encode.
    Decoder,
}

/// Like [`check_apply`], except that a whole missing half (every `encoder.*` or every
/// `decoder.*` parameter, as an encoder- or decoder-only import writes) is allowed; says
/// which halves were loaded.
pub fn check_halves(result: &burn::store::ApplyResult, source: &str) -> Result<Halves> {
    let loaded = |p: &str| result.applied.iter().any(|a| a.starts_with(p));
    let (halves, absent) = match (loaded("encoder."), loaded("decoder.")) {
        (true, true) => (Halves::Both, None),
        (true, false) => (Halves::Encoder, Some("decoder.")),
        (false, true) => (Halves::Decoder, Some("encoder.")),
        (false, false) => {
            return Err(Error::run(
                source,
                "holds neither encoder nor decoder weights",
            ));
        }
    };
    let mut rest = result.clone();
    rest.missing
        .retain(|(name, _)| absent.is_none_or(|p| !name.starts_with(p)));
    check_apply(&rest, source)?;
    Ok(halves)
}

fn describe_apply_error(e: &burn::store::ApplyError) -> String {
    match e {
        burn::store::ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        } => format!(
            "{path} is {:?} in the file, {:?} by the config",
            found.as_slice(),
            expected.as_slice()
        ),
        other => format!("{other:?}"),
    }
}

/// Turns an incomplete or inconsistent load into an error naming the tensors.
pub fn check_apply(result: &burn::store::ApplyResult, source: &str) -> Result<()> {
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        let first = |v: Vec<String>| v.into_iter().take(3).collect::<Vec<_>>().join(", ");
        return Err(Error::run(
            source,
            format!(
                "weights do not match the config: {} errors ({}), {} missing ({}), {} unexpected ({})",
                result.errors.len(),
                first(result.errors.iter().map(describe_apply_error).collect()),
                result.missing.len(),
                first(result.missing.iter().map(|m| m.0.clone()).collect()),
                result.unused.len(),
                first(result.unused.clone()),
            ),
        ));
    }
    Ok(())
}
