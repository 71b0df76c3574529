//! [`Dvae`]: a trained tokenizer loaded from a run directory, for images ↔ tokens.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::artifact::RunDir;
use crate::config::RunConfig;
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::import::dalle_names::{Halves, check_apply, check_halves};
use crate::infer::{self, DalleNet};
use crate::metrics;
use crate::model::{self, DvaeModel};
use crate::tokens::TokenGrids;

/// A trained dVAE ready for inference.
pub struct Dvae {
    /// The run's configuration.
    pub config: RunConfig,
    /// The network (EMA weights), on the plain (non-autodiff) device.
    pub model: DvaeModel,
    /// `model` laid out for the channels-last CPU path, made on first use (see
    /// [`Dvae::cpu_path`]); `None` inside when the path does not cover the model.
    fast: OnceLock<Option<DalleNet>>,
    device: Device,
    /// Which halves hold weights (an OpenAI import may bring one only), and from where.
    halves: Halves,
    root: Option<PathBuf>,
}

/// One image after encoding and decoding.
#[derive(Clone, Debug)]
pub struct Reconstruction {
    /// HWC RGB bytes.
    pub pixels: Vec<u8>,
    /// PSNR against the original (dB, data range 1.0).
    pub psnr: f64,
}

pub use crate::metrics::EvalReport;

impl Dvae {
    /// Loads `run_dir` (its `config.json` and `model.safetensors`) on the CPU.
    pub fn load(run_dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_on(run_dir, &Device::flex())
    }

    /// Loads `run_dir` on `device`.
    pub fn load_on(run_dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let run = RunDir::new(run_dir.as_ref());
        let config = run.read_config()?;
        let weights = run.weights();
        if !weights.is_file() {
            return Err(Error::run(
                &weights,
                "model.safetensors is missing (has the run written a checkpoint yet?)",
            ));
        }
        let mut model = DvaeModel::new(&config.model, 0, device);
        // Without validation a mis-shaped tensor is reported in the result (check_halves
        // names the first few) instead of failing with every tensor listed.
        let mut store = SafetensorsStore::from_file(&weights)
            .allow_partial(true)
            .validate(false);
        let result = model
            .load_from(&mut store)
            .map_err(|e| Error::run(&weights, format!("cannot read weights: {e}")))?;
        let halves = check_halves(&result, &weights.display().to_string())?;
        Ok(Self {
            config,
            model,
            fast: OnceLock::new(),
            device: device.clone(),
            halves,
            root: Some(run.root),
        })
    }

    /// Which halves of the network this run holds weights for.
    pub fn halves(&self) -> Halves {
        self.halves
    }

    /// An error unless the run holds the `need`ed half (`Encoder` or `Decoder`).
    fn require(&self, need: Halves, to: &str) -> Result<()> {
        if self.halves == Halves::Both || self.halves == need {
            return Ok(());
        }
        let (has, lacks) = match self.halves {
            Halves::Encoder => ("encoder", "decoder"),
            _ => ("decoder", "encoder"),
        };
        Err(Error::run(
            self.root.clone().unwrap_or_default(),
            format!(
                "holds only the {has}'s weights (an import of {has}.pkl alone), so it cannot \
                 {to}: import the {lacks} as well"
            ),
        ))
    }

    /// An error for the continuous families, which have no tokens.
    fn require_tokens(&self) -> Result<()> {
        let family = self.config.model.family;
        if family.is_discrete() {
            return Ok(());
        }
        Err(Error::run(
            self.root.clone().unwrap_or_default(),
            format!(
                "is a {family} model: its latent is continuous, so it has no tokens to encode \
                 or decode (reconstruct and eval work)"
            ),
        ))
    }

    /// Wraps an in-memory model.
    pub fn from_model(config: RunConfig, model: DvaeModel, device: &Device) -> Self {
        Self {
            config,
            model,
            fast: OnceLock::new(),
            device: device.clone(),
            halves: Halves::Both,
            root: None,
        }
    }

    /// The channels-last CPU path ([`crate::infer`]) for this model: on the flex device,
    /// for the dVAE family, unless `DVAE_GENERIC=1` asks for Burn's generic operations.
    /// Made from `model`'s weights on first use; after changing `model`, call
    /// [`Dvae::model_changed`].
    pub fn cpu_path(&self) -> Option<&DalleNet> {
        self.fast
            .get_or_init(|| {
                infer::runs_on(&self.device)
                    .then(|| DalleNet::new(&self.model))
                    .flatten()
            })
            .as_ref()
    }

    /// Drops the CPU path's copy of the weights, so the next call remakes it from `model`.
    pub fn model_changed(&mut self) {
        self.fast = OnceLock::new();
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    pub(crate) fn check_images(&self, images: &Tensor<4>) -> Result<()> {
        let [_, c, h, w] = images.dims();
        let m = &self.config.model;
        if c != m.input_channels {
            return Err(Error::Shape(format!(
                "input has {c} channels but model built for {}",
                m.input_channels
            )));
        }
        if h != m.image_size || w != m.image_size {
            return Err(Error::Shape(format!(
                "input is {h}x{w} but model built for {0}x{0}",
                m.image_size
            )));
        }
        Ok(())
    }

    /// Image tokens: the most likely code per cell.
    ///
    /// # Shapes
    /// pixels in [0, 1] `[B, C, S, S]` → tokens `[B, h, w]`
    pub fn encode(&self, images: Tensor<4>) -> Result<Tensor<3, Int>> {
        self.require(Halves::Encoder, "encode images")?;
        self.require_tokens()?;
        self.check_images(&images)?;
        let x = model::map_pixels(images);
        Ok(match self.cpu_path() {
            Some(net) => net.encode_tokens(x),
            None => self.model.encode_tokens(x),
        })
    }

    /// Images from tokens.
    ///
    /// # Shapes
    /// tokens `[B, h, w]` → pixels in [0, 1] `[B, C, S, S]`
    pub fn decode(&self, tokens: Tensor<3, Int>) -> Result<Tensor<4>> {
        self.require(Halves::Decoder, "decode tokens")?;
        self.require_tokens()?;
        let [_, h, w] = tokens.dims();
        let g = self.config.model.grid_size();
        if (h, w) != (g, g) {
            return Err(Error::Shape(format!(
                "tokens are {h}x{w} but model decodes {g}x{g} grids"
            )));
        }
        let out = match self.cpu_path() {
            Some(net) => net.decode_tokens(tokens),
            None => self.model.decode_tokens(tokens),
        };
        Ok(model::output_to_pixels(
            out,
            self.config.model.input_channels,
        ))
    }

    /// Token grids of images `indices` of `set`, encoded `batch` at a time.
    pub fn encode_set(
        &self,
        set: &ImageSet,
        indices: &[usize],
        batch: usize,
    ) -> Result<TokenGrids> {
        let g = self.config.model.grid_size();
        let mut ids = Vec::with_capacity(indices.len() * g * g);
        for chunk in indices.chunks(batch.max(1)) {
            let t = self.encode(set.batch(chunk, &self.device))?;
            ids.extend(int_values(t));
        }
        Ok(TokenGrids {
            n: indices.len(),
            h: g,
            w: g,
            ids,
        })
    }

    /// Decodes token grids to HWC RGB bytes, one `Vec` per image.
    pub fn decode_grids(&self, grids: &TokenGrids, batch: usize) -> Result<Vec<Vec<u8>>> {
        let per = grids.h * grids.w;
        let s = self.config.model.image_size;
        let mut out = Vec::with_capacity(grids.n);
        for chunk in grids.ids.chunks(per * batch.max(1)) {
            let n = chunk.len() / per;
            let ints: Vec<i32> = chunk.iter().map(|&t| t as i32).collect();
            let t = Tensor::<1, Int>::from_ints(ints.as_slice(), &self.device)
                .reshape([n, grids.h, grids.w]);
            let px = float_values(self.decode(t)?);
            for img in px.chunks(3 * s * s) {
                out.push(crate::grid::chw_to_hwc(img, s));
            }
        }
        Ok(out)
    }

    /// Reconstructs images `indices` of `set` through tokens; returns each reconstruction
    /// (HWC bytes) with its PSNR, and the metrics (see [`Dvae::score_batch`]).
    pub fn evaluate(
        &self,
        set: &ImageSet,
        indices: &[usize],
        batch: usize,
    ) -> Result<(Vec<Reconstruction>, EvalReport)> {
        self.require(Halves::Encoder, "reconstruct images")?;
        self.require(Halves::Decoder, "reconstruct images")?;
        let mut acc = metrics::EvalAccumulator::new(self.config.model.vocab_size);
        let mut recons = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(batch.max(1)) {
            recons.extend(self.score_batch(set.batch(chunk, &self.device), &mut acc)?);
        }
        Ok((recons, acc.report()))
    }
}

/// Loads safetensors weights into `model`, refusing missing, extra or mis-shaped tensors.
pub fn load_weights<M: Module>(mut model: M, path: &Path) -> Result<M> {
    let mut store = SafetensorsStore::from_file(path).validate(false);
    let result = model
        .load_from(&mut store)
        .map_err(|e| Error::run(path, format!("cannot read weights: {e}")))?;
    check_apply(&result, &path.display().to_string())?;
    Ok(model)
}

/// Writes `model`'s weights as safetensors at `path`, atomically.
pub fn save_weights<M: Module>(model: &M, path: &Path) -> Result<()> {
    crate::artifact::write_atomic(path, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp).overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| Error::run(path, format!("cannot write weights: {e}")))
    })
}

/// Values of a float tensor on the host.
pub fn float_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Values of an int tensor on the host, as u32 (token ids).
pub fn int_values<const D: usize>(t: Tensor<D, Int>) -> Vec<u32> {
    t.into_data().iter::<i64>().map(|v| v as u32).collect()
}
