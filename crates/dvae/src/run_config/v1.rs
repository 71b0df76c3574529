//! Format 1 of `config.json`: the families' options sat in the model's and the training
//! configuration. Read and converted to the current format; never written.

use serde::Deserialize;

use super::{FORMAT_VERSION, RunConfig};
use crate::config::{ModelConfig, Recipe, ReconLoss, TrainConfig};
use crate::model::family::FamilyConfig;
use crate::model::family::ae::AeOptions;
use crate::model::family::dvae::DvaeOptions;
use crate::model::family::vae::VaeOptions;
use crate::model::family::vqvae::VqOptions;
use crate::schedule::{BetaSchedule, TauSchedule};

/// A format-1 `config.json`.
#[derive(Deserialize)]
pub struct RunConfigV1 {
    preset: String,
    model: ModelV1,
    train: TrainV1,
    data: String,
}

#[derive(Deserialize)]
struct ModelV1 {
    image_size: usize,
    input_channels: usize,
    group_count: usize,
    n_hid: usize,
    n_blk_per_group: usize,
    vocab_size: usize,
    n_init: usize,
    recon_loss: ReconLoss,
    #[serde(default)]
    family: FamilyV1,
    #[serde(default = "code_dim")]
    code_dim: usize,
    #[serde(default)]
    vq_cosine: bool,
}

/// The families format 1 knew.
#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FamilyV1 {
    #[default]
    Dvae,
    Vqvae,
    Vae,
    Ae,
}

fn code_dim() -> usize {
    64
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
struct TrainV1 {
    recipe: Recipe,
    steps: usize,
    batch: usize,
    seed: u64,
    lr: f64,
    lr_end: f64,
    warmup_steps: usize,
    adam_beta1: f64,
    adam_beta2: f64,
    adam_eps: f64,
    weight_decay: f64,
    tau_start: f64,
    tau_end: f64,
    tau_schedule: TauSchedule,
    tau_steps: usize,
    kl_weight: f64,
    beta_schedule: BetaSchedule,
    beta_steps: usize,
    #[serde(default)]
    diversity_weight: f64,
    hard: bool,
    #[serde(default = "one")]
    gumbel_scale: f64,
    ema_decay: f64,
    grad_clip: Option<f64>,
    codebook_std: Option<f64>,
    checkpoint_every: usize,
    log_every: usize,
    holdout: f64,
    #[serde(default)]
    vq: VqV1,
    #[serde(default)]
    vae: VaeOptions,
}

#[derive(Deserialize)]
#[serde(default)]
struct VqV1 {
    commitment: f64,
    ema: bool,
    decay: f64,
    epsilon: f64,
    kmeans_init: bool,
    restart_after: Option<usize>,
}

impl Default for VqV1 {
    fn default() -> Self {
        let d = VqOptions::default();
        Self {
            commitment: d.commitment,
            ema: d.ema,
            decay: d.decay,
            epsilon: d.epsilon,
            kmeans_init: d.kmeans_init,
            restart_after: d.restart_after,
        }
    }
}

impl RunConfigV1 {
    /// The same run in the current format.
    pub fn upgrade(self) -> RunConfig {
        let (m, t) = (self.model, self.train);
        let bottleneck = match m.family {
            FamilyV1::Vqvae => FamilyConfig::Vqvae(VqOptions {
                commitment: t.vq.commitment,
                ema: t.vq.ema,
                decay: t.vq.decay,
                epsilon: t.vq.epsilon,
                kmeans_init: t.vq.kmeans_init,
                restart_after: t.vq.restart_after,
                cosine: m.vq_cosine,
                ..VqOptions::default()
            }),
            FamilyV1::Vae => FamilyConfig::Vae(t.vae),
            FamilyV1::Ae => FamilyConfig::Ae(AeOptions::default()),
            FamilyV1::Dvae => FamilyConfig::Dvae(DvaeOptions {
                tau_start: t.tau_start,
                tau_end: t.tau_end,
                tau_schedule: t.tau_schedule,
                tau_steps: t.tau_steps,
                kl_weight: t.kl_weight,
                beta_schedule: t.beta_schedule,
                beta_steps: t.beta_steps,
                diversity_weight: t.diversity_weight,
                hard: t.hard,
                gumbel_scale: t.gumbel_scale,
                codebook_std: t.codebook_std,
                cell_entropy_weight: 0.0,
                logit_scale_end: 1.0,
                soft_codebook_grad: false,
                logits: crate::model::family::dvae::CodeLogits::Head,
            }),
        };
        RunConfig {
            format_version: FORMAT_VERSION,
            preset: self.preset,
            model: ModelConfig {
                image_size: m.image_size,
                input_channels: m.input_channels,
                group_count: m.group_count,
                n_hid: m.n_hid,
                n_blk_per_group: m.n_blk_per_group,
                vocab_size: m.vocab_size,
                n_init: m.n_init,
                recon_loss: m.recon_loss,
                code_dim: m.code_dim,
            },
            bottleneck,
            train: TrainConfig {
                recipe: t.recipe,
                steps: t.steps,
                batch: t.batch,
                seed: t.seed,
                lr: t.lr,
                lr_end: t.lr_end,
                warmup_steps: t.warmup_steps,
                adam_beta1: t.adam_beta1,
                adam_beta2: t.adam_beta2,
                adam_eps: t.adam_eps,
                weight_decay: t.weight_decay,
                ema_decay: t.ema_decay,
                grad_clip: t.grad_clip,
                checkpoint_every: t.checkpoint_every,
                log_every: t.log_every,
                holdout: t.holdout,
                augment: Default::default(),
                shuffle_buffer: crate::config::train::DEFAULT_SHUFFLE_BUFFER,
                stream: false,
                eval_data: None,
            },
            data: self.data,
        }
    }
}

/// The network as format 1 named its parameters (the VQ-VAE's codebook as `vq.*`).
#[derive(burn::module::Module, Debug)]
struct NetworkV1 {
    encoder: crate::model::encoder::Encoder,
    decoder: crate::model::decoder::Decoder,
    vq: Option<crate::model::family::codebook::VectorQuantizer>,
}

/// Loads a burnpack record (a checkpoint's training weights, with their parameter ids)
/// into `net`, written by this format or by format 1.
pub fn load_record(
    net: crate::model::Network,
    path: &std::path::Path,
) -> Result<crate::model::Network, burn::store::RecordError> {
    use crate::model::family::api::FamilyParams;
    use burn::module::Module;
    let current = net.clone().try_load_file(path);
    if current.is_ok() || net.bottleneck.is_none() {
        return current;
    }
    let crate::model::Network {
        encoder,
        decoder,
        bottleneck,
        config,
        family,
        engine,
    } = net;
    let vq = bottleneck.map(|FamilyParams::Codebook(vq)| vq);
    let old = NetworkV1 {
        encoder,
        decoder,
        vq,
    }
    .try_load_file(path)
    .map_err(|_| match current {
        Err(e) => e,
        Ok(_) => unreachable!(),
    })?;
    Ok(crate::model::Network {
        encoder: old.encoder,
        decoder: old.decoder,
        bottleneck: old.vq.map(FamilyParams::Codebook),
        config,
        family,
        engine,
    })
}
