//! [`Tokenizer`]: a trained tokenizer loaded from a run directory, for images ↔ tokens.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::ModuleSnapshot;

use crate::artifact::RunDir;
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::kernels::engine::Engine;
use crate::kernels::host::{float_values, int_values};
use crate::metrics;
use crate::model::Network;
use crate::model::family::api::Encoded;
use crate::model::host_ops::HostOps;
use crate::model::latent::DecoderInput;
use crate::model::pixels::map_pixels;
use crate::run_config::RunConfig;
use crate::tokens::TokenGrids;
use crate::weights::{self, Halves, check_halves};

/// `$body` with `$ops` the layers of the model's engine: the one place inference asks it.
macro_rules! on_engine {
    ($self:ident, $ops:ident => $body:expr) => {
        match $self.model.engine {
            Engine::Kernels => {
                let $ops = &$self.host;
                $body
            }
            Engine::Generic => {
                let $ops = &$self.model.tensor_ops();
                $body
            }
        }
    };
}

/// A trained tokenizer ready for inference.
pub struct Tokenizer {
    /// The run's configuration.
    pub config: RunConfig,
    /// The network (EMA weights), on the plain (non-autodiff) device; its engine says
    /// whether the kernels run.
    pub model: Network,
    /// The kernels' layers, with `model`'s weights packed for them on first use.
    host: HostOps,
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

impl Tokenizer {
    /// Loads `run_dir` (its `config.json` and `model.safetensors`) on the CPU.
    pub fn load(run_dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_on(run_dir, &Device::flex())
    }

    /// Loads `run_dir` on `device`, on the engine [`Engine::resolve`] picks for it.
    pub fn load_on(run_dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::load_with(run_dir, device, Engine::resolve(device))
    }

    /// Loads `run_dir` on `device` to run on `engine`.
    pub fn load_with(run_dir: impl AsRef<Path>, device: &Device, engine: Engine) -> Result<Self> {
        let run = RunDir::new(run_dir.as_ref());
        let config = run.read_config()?;
        let path = run.weights();
        if !path.is_file() {
            return Err(Error::run(
                &path,
                "model.safetensors is missing (has the run written a checkpoint yet?)",
            ));
        }
        let mut model = Network::new(&config.model, &config.bottleneck, 0, device, engine);
        // Without validation a mis-shaped tensor is reported in the result (check_halves
        // names the first few) instead of failing with every tensor listed.
        let mut store = weights::reader(&path).allow_partial(true);
        let result = model
            .load_from(&mut store)
            .map_err(|e| Error::run(&path, format!("cannot read weights: {e}")))?;
        let halves = check_halves(&result, &path.display().to_string())?;
        Ok(Self {
            config,
            model,
            host: HostOps::new(device),
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
        if self.model.family().vocab(&self.config.model).is_some() {
            return Ok(());
        }
        Err(Error::run(
            self.root.clone().unwrap_or_default(),
            format!(
                "is a {} model: its latent is continuous, so it has no tokens to encode \
                 or decode (reconstruct and eval work)",
                self.model.family
            ),
        ))
    }

    /// Wraps an in-memory model (it runs on its own engine).
    pub fn from_model(config: RunConfig, model: Network, device: &Device) -> Self {
        Self {
            config,
            model,
            host: HostOps::new(device),
            device: device.clone(),
            halves: Halves::Both,
            root: None,
        }
    }

    /// Forgets the kernels' packed copy of the weights, so that the next call packs
    /// `model`'s again (call it after changing `model`).
    pub fn model_changed(&mut self) {
        self.host.clear();
    }

    /// The engine the model runs on.
    pub fn engine(&self) -> Engine {
        self.model.engine
    }

    /// Parameters of the layers the kernels have packed so far (0 on the generic engine):
    /// after an encode and a decode, every parameter of the encoder and decoder.
    pub fn packed_params(&self) -> usize {
        self.host.packed_params()
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
        let x = map_pixels(images);
        let tokens = on_engine!(self, ops => self.model.tokens_with(ops, x));
        Ok(tokens.expect("require_tokens: the family has tokens"))
    }

    /// The logits of q(z|x) over the codes, for a family whose encoder outputs them (the
    /// dVAE's); their argmax over the codes is [`Tokenizer::encode`]'s tokens.
    ///
    /// # Shapes
    /// pixels in [0, 1] `[B, C, S, S]` → logits `[B, K, h, w]`
    pub fn logits(&self, images: Tensor<4>) -> Result<Tensor<4>> {
        self.require(Halves::Encoder, "compute logits")?;
        self.check_images(&images)?;
        let x = map_pixels(images);
        on_engine!(self, ops => self.model.logits_with(ops, x)).ok_or_else(|| {
            Error::run(
                self.root.clone().unwrap_or_default(),
                format!(
                    "is a {} model: its encoder's output is not logits over codes, so it \
                     has no logits",
                    self.model.family
                ),
            )
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
        let input = self.model.token_input(tokens);
        let c = self.config.model.input_channels;
        Ok(on_engine!(self, ops => self.model.decode_pixels_with(ops, input, c)))
    }

    /// Tokens, entropy and decoder input of mapped pixels, on the model's engine.
    pub(crate) fn encode_mapped(&self, x: Tensor<4>) -> Encoded {
        on_engine!(self, ops => self.model.encode_with(ops, x))
    }

    /// The decoder's output for `input`, on the model's engine.
    ///
    /// # Shapes
    /// → `[B, out_channels, S, S]`
    pub fn decode_input(&self, input: DecoderInput) -> Tensor<4> {
        on_engine!(self, ops => self.model.decode_with(ops, input))
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
    /// (HWC bytes) with its PSNR, and the metrics (see [`Tokenizer::score_batch`]).
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
