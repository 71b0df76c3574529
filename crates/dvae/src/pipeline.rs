//! [`Dvae`]: a trained tokenizer loaded from a run directory, for images ↔ tokens.

use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::artifact::RunDir;
use crate::config::RunConfig;
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::import::dalle_names::check_apply;
use crate::metrics;
use crate::model::{self, DvaeModel};
use crate::tokens::TokenGrids;

/// A trained dVAE ready for inference.
pub struct Dvae {
    /// The run's configuration.
    pub config: RunConfig,
    /// The network (EMA weights), on the plain (non-autodiff) device.
    pub model: DvaeModel,
    device: Device,
}

/// One image after encoding and decoding.
#[derive(Clone, Debug)]
pub struct Reconstruction {
    /// HWC RGB bytes.
    pub pixels: Vec<u8>,
    /// PSNR against the original (dB, data range 1.0).
    pub psnr: f64,
}

/// Held-out reconstruction and codebook metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Mean squared error per pixel channel, pixels in [0, 1].
    pub mse: f64,
    /// PSNR (dB, data range 1.0), per image then averaged.
    pub psnr: f64,
    /// Fraction of codes used at least once, in [0, 1].
    pub usage: f64,
    /// `exp(entropy)` of the token distribution.
    pub perplexity: f64,
    /// Codes never used.
    pub dead_codes: usize,
}

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
        let model = load_weights(DvaeModel::new(&config.model, 0, device), &weights)?;
        Ok(Self {
            config,
            model,
            device: device.clone(),
        })
    }

    /// Wraps an in-memory model.
    pub fn from_model(config: RunConfig, model: DvaeModel, device: &Device) -> Self {
        Self {
            config,
            model,
            device: device.clone(),
        }
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn check_images(&self, images: &Tensor<4>) -> Result<()> {
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
        self.check_images(&images)?;
        Ok(self.model.encode_tokens(model::map_pixels(images)))
    }

    /// Images from tokens.
    ///
    /// # Shapes
    /// tokens `[B, h, w]` → pixels in [0, 1] `[B, C, S, S]`
    pub fn decode(&self, tokens: Tensor<3, Int>) -> Result<Tensor<4>> {
        let [_, h, w] = tokens.dims();
        let g = self.config.model.grid_size();
        if (h, w) != (g, g) {
            return Err(Error::Shape(format!(
                "tokens are {h}x{w} but model decodes {g}x{g} grids"
            )));
        }
        let out = self.model.decode_tokens(tokens);
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
    /// (HWC bytes) with its PSNR, and the metrics.
    pub fn evaluate(
        &self,
        set: &ImageSet,
        indices: &[usize],
        batch: usize,
    ) -> Result<(Vec<Reconstruction>, EvalReport)> {
        let s = self.config.model.image_size;
        let mut recons = Vec::with_capacity(indices.len());
        let mut psnr_sum = 0.0;
        let mut mse_sum = 0.0;
        let mut hist = vec![0u64; self.config.model.vocab_size];
        for chunk in indices.chunks(batch.max(1)) {
            let x = set.batch(chunk, &self.device);
            let tokens = self.encode(x.clone())?;
            let recon = self.decode(tokens.clone())?;
            for t in int_values(tokens) {
                hist[t as usize] += 1;
            }
            let (xs, rs) = (float_values(x), float_values(recon));
            for (a, b) in xs.chunks(3 * s * s).zip(rs.chunks(3 * s * s)) {
                // Score the 8-bit image a user gets, not the float.
                let r8 = crate::grid::chw_to_hwc(b, s);
                let r: Vec<f32> = to_chw_f32(&r8, s);
                let m = metrics::mse(a, &r);
                let psnr = metrics::psnr(m);
                mse_sum += m;
                psnr_sum += psnr;
                recons.push(Reconstruction { pixels: r8, psnr });
            }
        }
        let n = indices.len().max(1) as f64;
        let stats = metrics::code_stats(&hist);
        let report = EvalReport {
            images: indices.len(),
            mse: mse_sum / n,
            psnr: psnr_sum / n,
            usage: stats.usage,
            perplexity: stats.perplexity,
            dead_codes: stats.dead_codes,
        };
        Ok((recons, report))
    }
}

fn to_chw_f32(hwc: &[u8], s: usize) -> Vec<f32> {
    let mut out = vec![0f32; 3 * s * s];
    crate::data::hwc_to_chw(hwc, &mut out);
    out
}

/// Loads safetensors weights into `model`, refusing missing, extra or mis-shaped tensors.
pub fn load_weights(mut model: DvaeModel, path: &Path) -> Result<DvaeModel> {
    let mut store = SafetensorsStore::from_file(path);
    let result = model
        .load_from(&mut store)
        .map_err(|e| Error::run(path, format!("cannot read weights: {e}")))?;
    check_apply(&result, &path.display().to_string())?;
    Ok(model)
}

/// Writes `model`'s weights as safetensors at `path`, atomically.
pub fn save_weights(model: &DvaeModel, path: &Path) -> Result<()> {
    crate::artifact::write_atomic(path, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp).overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| Error::run(tmp, format!("cannot write weights: {e}")))
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
