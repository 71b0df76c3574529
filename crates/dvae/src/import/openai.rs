//! OpenAI's published dVAE (`encoder.pkl`, `decoder.pkl`: whole `dall_e` modules saved with
//! `torch.save`) → a run directory that `Tokenizer::load` reads.
//!
//! The architecture comes from the pickled attributes (`n_hid`, `n_blk_per_group`,
//! `input_channels`, `vocab_size`; the decoder's `n_init`, `output_channels`); dall_e keeps
//! `group_count` as a class constant, so it is counted from `blocks.group_*`. Either file
//! alone gives a run holding that half only: `model.safetensors` then has only `encoder.*`
//! or `decoder.*` tensors, which is how `Tokenizer::load` knows (see [`Halves`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::Serialize;

use super::dalle_names::{self, HostTensor};
use super::torch_file::{Format, TorchFile};
use super::torch_module::PickledModule;
use crate::artifact::RunDir;
use crate::atomic::{write_atomic, write_bytes_atomic};
use crate::config::{ModelConfig, Recipe, ReconLoss, TrainConfig};
use crate::error::{Error, Result};
use crate::kernels::engine::Engine;
use crate::model::Network;
use crate::model::family::FamilyConfig;
use crate::run_config::{FORMAT_VERSION, RunConfig};
use crate::weights::Halves;

/// DALL·E's codebook dimension, used for an encoder-only import (no decoder to read it from).
const DEFAULT_N_INIT: usize = 128;

/// Where one half came from, for `import.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    /// The pickle file.
    pub file: PathBuf,
    /// Its container format.
    pub format: Format,
    /// The pickled class (`dall_e.encoder.Encoder`).
    pub class: String,
    /// The integer attributes read from it.
    pub fields: BTreeMap<String, usize>,
    /// Tensors read.
    pub tensors: usize,
}

/// An imported model, ready to run or to write as a run directory.
pub struct Imported {
    /// The run configuration (architecture from the pickles).
    pub config: RunConfig,
    /// The network; a half that was not imported keeps its random initialisation.
    pub model: Network,
    /// Which halves hold imported weights.
    pub halves: Halves,
    /// The encoder's source, if imported.
    pub encoder: Option<Source>,
    /// The decoder's source, if imported.
    pub decoder: Option<Source>,
}

struct Half {
    source: Source,
    group_count: usize,
    tensors: HashMap<String, HostTensor>,
}

/// Which of OpenAI's two pickles a file is meant to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `encoder.pkl`: a `dall_e.encoder.Encoder`.
    Encoder,
    /// `decoder.pkl`: a `dall_e.decoder.Decoder`.
    Decoder,
}

impl Part {
    /// The pickled class, our tensor-name prefix and the architecture fields it must hold.
    fn layout(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            Part::Encoder => (
                "dall_e.encoder.Encoder",
                "encoder",
                &["n_hid", "n_blk_per_group", "input_channels", "vocab_size"],
            ),
            Part::Decoder => (
                "dall_e.decoder.Decoder",
                "decoder",
                &[
                    "n_init",
                    "n_hid",
                    "n_blk_per_group",
                    "output_channels",
                    "vocab_size",
                ],
            ),
        }
    }
}

/// Reads one of OpenAI's pickles held in memory as the import does (container, module tree,
/// architecture fields, every tensor), without building a model; `path` is for messages.
pub fn read_part(path: &Path, bytes: &[u8], part: Part) -> Result<Source> {
    Ok(read_half(path, bytes, part)?.source)
}

fn read_half(path: &Path, bytes: &[u8], part: Part) -> Result<Half> {
    let (class, prefix, fields) = part.layout();
    let file = TorchFile::from_bytes(path, bytes)?;
    let err = |why: String| Error::data(path, why);
    let module = PickledModule::from_value(&file.root).map_err(err)?;
    if module.class != class {
        return Err(err(format!(
            "holds a {}, expected a {class} (are --encoder and --decoder swapped?)",
            module.class
        )));
    }
    let mut values = BTreeMap::new();
    for &f in fields {
        values.insert(f.to_string(), module.int_field(f).map_err(err)?);
    }
    let groups = module
        .child("blocks")
        .ok_or_else(|| err(format!("{class} has no `blocks` module")))?;
    let group_count = groups
        .children
        .iter()
        .filter(|(k, _)| k.starts_with("group_"))
        .count();
    let blocks_in_first = module.child("blocks.group_1").map_or(0, |g| {
        g.children
            .iter()
            .filter(|(k, _)| k.starts_with("block_"))
            .count()
    });
    if blocks_in_first != values["n_blk_per_group"] {
        return Err(err(format!(
            "n_blk_per_group is {} but blocks.group_1 has {blocks_in_first} blocks",
            values["n_blk_per_group"]
        )));
    }
    let mut tensors = HashMap::new();
    for (name, v) in module.state_dict() {
        let ours = dalle_names::from_dalle(&format!("{prefix}.{name}"))
            .ok_or_else(|| err(format!("unexpected tensor {name} in a {class}")))?;
        tensors.insert(ours, file.tensor(v, &name)?);
    }
    Ok(Half {
        source: Source {
            file: path.to_path_buf(),
            format: file.format,
            class: module.class,
            fields: values,
            tensors: tensors.len(),
        },
        group_count,
        tensors,
    })
}

/// The same architecture field read from both files must agree.
fn agree(field: &str, enc: usize, dec: usize) -> Result<()> {
    if enc != dec {
        return Err(Error::config(
            field,
            format!("the encoder file has {enc} but the decoder file has {dec}"),
        ));
    }
    Ok(())
}

/// Reads OpenAI's `encoder.pkl` and/or `decoder.pkl` (at least one) into a model for
/// `image_size`×`image_size` images (DALL·E: 256).
pub fn import_openai(
    encoder: Option<&Path>,
    decoder: Option<&Path>,
    image_size: usize,
    device: &Device,
) -> Result<Imported> {
    let read = |p: &Path, part| {
        let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
        read_half(p, &bytes, part)
    };
    let mut enc = encoder.map(|p| read(p, Part::Encoder)).transpose()?;
    let mut dec = decoder.map(|p| read(p, Part::Decoder)).transpose()?;
    let (first, halves) = match (&enc, &dec) {
        (Some(e), Some(_)) => (e, Halves::Both),
        (Some(e), None) => (e, Halves::Encoder),
        (None, Some(d)) => (d, Halves::Decoder),
        (None, None) => {
            return Err(Error::config("import", "give --encoder, --decoder or both"));
        }
    };
    let f = &first.source.fields;
    let channels = |h: &Half| {
        h.source
            .fields
            .get("input_channels")
            .or(h.source.fields.get("output_channels"))
            .copied()
            .unwrap_or(3)
    };
    if let (Some(e), Some(d)) = (&enc, &dec) {
        for k in ["n_hid", "n_blk_per_group", "vocab_size"] {
            agree(k, e.source.fields[k], d.source.fields[k])?;
        }
        agree("group_count", e.group_count, d.group_count)?;
        agree(
            "channels (input_channels / output_channels)",
            channels(e),
            channels(d),
        )?;
    }
    // The update fills whatever else a config holds (other tokenizer families' fields) with
    // DALL·E's values, so it is not needless even where every field is named here.
    #[allow(clippy::needless_update)]
    let model = ModelConfig {
        image_size,
        input_channels: channels(first),
        group_count: first.group_count,
        n_hid: f["n_hid"],
        n_blk_per_group: f["n_blk_per_group"],
        vocab_size: f["vocab_size"],
        n_init: dec
            .as_ref()
            .map_or(DEFAULT_N_INIT, |d| d.source.fields["n_init"]),
        recon_loss: ReconLoss::LogitLaplace,
        ..ModelConfig::preset("dalle")?
    };
    model.validate()?;
    let preset = if ModelConfig::preset("dalle").ok() == Some(model.clone()) {
        "dalle"
    } else {
        "openai-import"
    };
    let config = RunConfig {
        format_version: FORMAT_VERSION,
        preset: preset.into(),
        model,
        // Not trained here; the DALL·E recipe is recorded for a run that fine-tunes it.
        bottleneck: FamilyConfig::of("dvae", Recipe::Dalle, 1)?,
        train: TrainConfig::recipe(Recipe::Dalle, 1),
        data: "openai-import".into(),
    };
    let mut net = Network::new(
        &config.model,
        &config.bottleneck,
        0,
        device,
        Engine::resolve(device),
    );
    let mut tensors = HashMap::new();
    for half in [&mut enc, &mut dec].into_iter().flatten() {
        tensors.extend(std::mem::take(&mut half.tensors));
    }
    let source = [encoder, decoder]
        .iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ");
    dalle_names::load_tensors_halves(&mut net, &tensors, halves, &source)?;
    Ok(Imported {
        config,
        model: net,
        halves,
        encoder: enc.map(|h| h.source),
        decoder: dec.map(|h| h.source),
    })
}

#[derive(Serialize)]
struct ImportRecord<'a> {
    halves: Halves,
    encoder: &'a Option<Source>,
    decoder: &'a Option<Source>,
}

impl Imported {
    /// Writes `out/config.json`, `out/model.safetensors` (the imported halves only) and
    /// `out/import.json` (where the weights came from), each atomically.
    pub fn write_run(&self, out: &Path) -> Result<()> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let run = RunDir::new(out);
        let weights = run.weights();
        write_atomic(&weights, |tmp| {
            let mut store = SafetensorsStore::from_file(tmp).overwrite(true);
            store = match self.halves {
                Halves::Both => store,
                Halves::Encoder => store.with_regex(r"^encoder\."),
                Halves::Decoder => store.with_regex(r"^decoder\."),
            };
            self.model
                .save_into(&mut store)
                .map_err(|e| Error::run(tmp, format!("cannot write weights: {e}")))?;
            crate::reproducible::sort_safetensors_metadata(tmp)
        })?;
        let record = ImportRecord {
            halves: self.halves,
            encoder: &self.encoder,
            decoder: &self.decoder,
        };
        let text = serde_json::to_string_pretty(&record).expect("import record serialises");
        write_bytes_atomic(&out.join("import.json"), text.as_bytes())?;
        // The config last: a folder without it is not taken for a finished run.
        run.write_config(&self.config)
    }
}
