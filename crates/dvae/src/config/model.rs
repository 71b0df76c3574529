//! The backbone's architecture: DALL·E's encoder and decoder sizes, presets, validation.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest side of an image or a model input, in pixels (as the image loader's).
pub const MAX_SIDE: u32 = 16384;

/// Largest model a configuration may describe (parameters, about 4 GB of f32 weights).
pub const MAX_PARAMS: f64 = 1e9;

/// What the decoder predicts and how reconstruction is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReconLoss {
    /// DALL·E's logit-Laplace likelihood: the decoder outputs μ and ln b per channel (6 channels).
    LogitLaplace,
    /// Mean squared error in pixel space: the decoder outputs 3 channels (a logit per pixel).
    Mse,
}

crate::names::kebab_from_str!(ReconLoss, "recon_loss", [LogitLaplace => "logit-laplace", Mse => "mse"]);

/// Architecture of encoder and decoder, with DALL·E's field names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Side of the square input image in pixels.
    pub image_size: usize,
    /// Channels of the input image (3 for RGB).
    pub input_channels: usize,
    /// Number of resolution groups; the token grid is `image_size / 2^(group_count-1)`.
    pub group_count: usize,
    /// Width of the first group; group g has width `n_hid * 2^g`.
    pub n_hid: usize,
    /// Bottleneck residual blocks per group.
    pub n_blk_per_group: usize,
    /// Number of codebook entries K.
    pub vocab_size: usize,
    /// Dimension of a codebook vector (the decoder's 1×1 input convolution).
    pub n_init: usize,
    /// Reconstruction likelihood; decides the decoder's output channels.
    pub recon_loss: ReconLoss,
    /// Latent vector size per cell for the families whose latent is a vector, and of the
    /// dVAE's codebook when its logits are computed against one (with its encoder's head,
    /// the dVAE's latent is `vocab_size` one-hot channels).
    #[serde(default = "default_code_dim")]
    pub code_dim: usize,
}

fn default_code_dim() -> usize {
    64
}

impl ModelConfig {
    /// A named preset: `tiny`, `small` or `dalle`.
    pub fn preset(name: &str) -> Result<Self> {
        let base = |image_size, group_count, n_hid, n_blk_per_group, vocab_size, n_init| Self {
            image_size,
            input_channels: 3,
            group_count,
            n_hid,
            n_blk_per_group,
            vocab_size,
            n_init,
            recon_loss: ReconLoss::LogitLaplace,
            code_dim: default_code_dim(),
        };
        match name {
            "tiny" => Ok(base(64, 4, 32, 1, 512, 64)),
            "small" => Ok(base(64, 3, 32, 1, 1024, 128)),
            "dalle" => Ok(base(256, 4, 256, 2, 8192, 128)),
            other => Err(Error::config(
                "preset",
                format!("expected one of tiny, small, dalle; got {other:?}"),
            )),
        }
    }

    /// Side of the token grid.
    pub fn grid_size(&self) -> usize {
        self.image_size >> (self.group_count - 1)
    }

    /// Width of group `g` (0-based).
    pub fn group_width(&self, g: usize) -> usize {
        self.n_hid << g
    }

    /// Channels the decoder outputs.
    pub fn output_channels(&self) -> usize {
        match self.recon_loss {
            ReconLoss::LogitLaplace => 2 * self.input_channels,
            ReconLoss::Mse => self.input_channels,
        }
    }

    /// An upper estimate of the parameter count, in floating point so that no field value
    /// can overflow it: per block at most 4.5·w² weights (a 3×3 from w to w/4, two 3×3 at
    /// w/4, a 1×1 back to w, an identity path), in the encoder and the decoder, plus the
    /// input, codebook and output convolutions.
    fn approx_params(&self) -> f64 {
        let f = |v: usize| v as f64;
        let blocks: f64 = (0..self.group_count.min(64))
            .map(|g| {
                let w = f(self.n_hid) * 2f64.powi(g as i32);
                f(self.n_blk_per_group) * 4.5 * w * w
            })
            .sum();
        let top = f(self.n_hid) * 2f64.powi(self.group_count.min(64) as i32);
        let latent = f(self.vocab_size).max(2.0 * f(self.code_dim));
        2.0 * blocks
            + f(self.input_channels) * f(self.n_hid) * 49.0
            + top * latent
            + latent * f(self.n_init) * 2.0
            + f(self.n_init) * f(self.n_hid) * 9.0
            + f(self.input_channels) * 2.0 * f(self.n_hid)
    }

    /// Checks every field; the error names the field, the expected range and the value.
    pub fn validate(&self) -> Result<()> {
        let min = |field: &str, v: usize, lo: usize| {
            if v < lo {
                Err(Error::config(
                    field,
                    format!("must be at least {lo}, got {v}"),
                ))
            } else {
                Ok(())
            }
        };
        min("group_count", self.group_count, 2)?;
        min("n_hid", self.n_hid, 4)?;
        min("n_blk_per_group", self.n_blk_per_group, 1)?;
        min("vocab_size", self.vocab_size, 2)?;
        min("n_init", self.n_init, 1)?;
        min("code_dim", self.code_dim, 1)?;
        min("input_channels", self.input_channels, 1)?;
        if !self.n_hid.is_multiple_of(4) {
            return Err(Error::config(
                "n_hid",
                format!(
                    "must be a multiple of 4 (blocks use n_out/4 hidden channels), got {}",
                    self.n_hid
                ),
            ));
        }
        if self.group_count > 12 {
            return Err(Error::config(
                "group_count",
                format!("at most 12, got {}", self.group_count),
            ));
        }
        let factor = 1usize << (self.group_count - 1);
        if self.image_size > MAX_SIDE as usize {
            return Err(Error::config(
                "image_size",
                format!("at most {}, got {}", MAX_SIDE, self.image_size),
            ));
        }
        if self.image_size == 0 || !self.image_size.is_multiple_of(factor) {
            return Err(Error::config(
                "image_size",
                format!(
                    "must be a positive multiple of 2^(group_count-1) = {factor}, got {}",
                    self.image_size
                ),
            ));
        }
        // A config.json is user input: a model too large to allocate is refused here,
        // before any tensor is built, rather than aborting the process later.
        let params = self.approx_params();
        if params > MAX_PARAMS {
            return Err(Error::config(
                "model",
                format!(
                    "about {params:.3e} parameters (n_hid {}, group_count {}, n_blk_per_group {}, \
                     vocab_size {}, n_init {}, code_dim {}), more than the limit of {MAX_PARAMS:.0e}",
                    self.n_hid,
                    self.group_count,
                    self.n_blk_per_group,
                    self.vocab_size,
                    self.n_init,
                    self.code_dim
                ),
            ));
        }
        if self.vocab_size > u16::MAX as usize + 1 {
            return Err(Error::config(
                "vocab_size",
                format!(
                    "at most 65536 (tokens are stored as u16), got {}",
                    self.vocab_size
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_grids_match() {
        for (name, grid) in [("tiny", 8), ("small", 16), ("dalle", 32)] {
            let m = ModelConfig::preset(name).unwrap();
            m.validate().unwrap();
            assert_eq!(m.grid_size(), grid, "{name}");
        }
        assert!(ModelConfig::preset("huge").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut m = ModelConfig::preset("tiny").unwrap();
        m.image_size = 60;
        let msg = m.validate().unwrap_err().to_string();
        assert!(msg.contains("image_size") && msg.contains("60"), "{msg}");
    }

    #[test]
    fn absurd_sizes_are_refused_before_allocation() {
        let dalle = ModelConfig::preset("dalle").unwrap();
        assert!(dalle.approx_params() > 9.0e7 && dalle.approx_params() < MAX_PARAMS);
        type Edit = fn(&mut ModelConfig);
        let edits: [(&str, Edit); 4] = [
            ("parameters", |m| m.n_hid = 1 << 60),
            ("parameters", |m| m.n_blk_per_group = usize::MAX),
            ("parameters", |m| m.n_init = usize::MAX),
            ("image_size", |m| m.image_size = 1 << 40),
        ];
        for (field, set) in edits {
            let mut m = dalle.clone();
            set(&mut m);
            let msg = m.validate().unwrap_err().to_string();
            assert!(msg.contains(field), "{msg}");
        }
    }
}
