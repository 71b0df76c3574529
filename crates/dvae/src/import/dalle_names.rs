//! openai/DALL-E parameter names ↔ this crate's.
//!
//! `blocks.input.w` → `input.weight`, `blocks.group_2.block_1.res_path.conv_3.b` →
//! `groups.1.0.conv_3.bias`, `blocks.group_4.block_1.id_path.w` → `groups.3.0.id_path.weight`,
//! `blocks.output.conv.w` → `output.weight`, under `encoder.`/`decoder.` prefixes.

use std::collections::HashMap;

use burn::store::{ModuleSnapshot, SafetensorsStore};
use safetensors::{Dtype, View};

use crate::error::{Error, Result};
use crate::model::Network;
use crate::weights::{Halves, check_halves};

/// This crate's name for a DALL·E parameter `key` (with or without an `encoder.`/`decoder.`
/// prefix), or `None` if it is not a DALL·E parameter name.
pub fn from_dalle(key: &str) -> Option<String> {
    let (prefix, rest) = match key.split_once("blocks.") {
        Some((p, r)) => (p, r),
        None => return None,
    };
    let (body, suffix) = rest.rsplit_once('.')?;
    let suffix = match suffix {
        "w" => "weight",
        "b" => "bias",
        _ => return None,
    };
    let body = match body {
        "input" => "input".to_string(),
        "output.conv" => "output".to_string(),
        _ => {
            let mut parts = body.split('.');
            let g: usize = parts.next()?.strip_prefix("group_")?.parse().ok()?;
            let b: usize = parts.next()?.strip_prefix("block_")?.parse().ok()?;
            let conv = match (parts.next()?, parts.next()) {
                ("id_path", None) => "id_path".to_string(),
                ("res_path", Some(c)) if c.starts_with("conv_") => c.to_string(),
                _ => return None,
            };
            if parts.next().is_some() || g == 0 || b == 0 {
                return None;
            }
            format!("groups.{}.{}.{conv}", g - 1, b - 1)
        }
    };
    Some(format!("{prefix}{body}.{suffix}"))
}

/// A float32 tensor held in memory, for [`load_tensors`].
pub struct HostTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

struct F32View<'a>(&'a HostTensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        self.0
            .data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into()
    }
    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

/// Loads `tensors` (this crate's names) into `model`; every parameter of the model must be
/// present with the right shape, and no tensor may be left over.
pub fn load_tensors(
    model: &mut Network,
    tensors: &HashMap<String, HostTensor>,
    source: &str,
) -> Result<()> {
    load_tensors_halves(model, tensors, Halves::Both, source)
}

/// [`load_tensors`] for the parameters of `halves` only; the other half keeps its values.
pub fn load_tensors_halves(
    model: &mut Network,
    tensors: &HashMap<String, HostTensor>,
    halves: Halves,
    source: &str,
) -> Result<()> {
    let views: Vec<(String, F32View)> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), F32View(v)))
        .collect();
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| Error::run(source, format!("cannot serialise weights: {e}")))?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes)).allow_partial(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| Error::run(source, format!("weights do not fit the model: {e}")))?;
    let found = check_halves(&result, source)?;
    if found != halves {
        return Err(Error::run(
            source,
            format!("expected weights for {halves:?}, found {found:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::from_dalle;

    #[test]
    fn names_map_both_ways_of_a_block() {
        assert_eq!(
            from_dalle("encoder.blocks.input.w").unwrap(),
            "encoder.input.weight"
        );
        assert_eq!(
            from_dalle("decoder.blocks.group_2.block_1.res_path.conv_3.b").unwrap(),
            "decoder.groups.1.0.conv_3.bias"
        );
        assert_eq!(
            from_dalle("blocks.group_4.block_2.id_path.w").unwrap(),
            "groups.3.1.id_path.weight"
        );
        assert_eq!(from_dalle("blocks.output.conv.w").unwrap(), "output.weight");
        assert!(from_dalle("blocks.group_0.block_1.id_path.w").is_none());
        assert!(from_dalle("something.else").is_none());
    }
}
