//! The families' own flags of `dvae train`, each registered with the family it belongs to
//! and its `config.json` key; one given for another family is refused.

use anyhow::{Result, bail};
use clap::Args;
use dvae::model::family::dvae::CodeLogits;
use dvae::model::family::entropy_penalty::FAMILIES as PENALTY;
use dvae::model::family::{FamilyConfig, owns};
use dvae::schedule::{BetaSchedule, TauSchedule};
use serde_json::{Value, json};

/// The families' own flags.
#[derive(Args)]
pub struct FamilyFlags {
    /// dvae: initial Gumbel-softmax temperature τ.
    #[arg(long)]
    tau_start: Option<f64>,
    /// dvae: final temperature τ.
    #[arg(long)]
    tau_end: Option<f64>,
    /// dvae: shape of the τ annealing, cosine or exponential.
    #[arg(long)]
    tau_schedule: Option<TauSchedule>,
    /// dvae: steps over which τ is annealed (then held).
    #[arg(long)]
    tau_steps: Option<usize>,
    /// dvae: final KL weight β.
    #[arg(long)]
    kl_weight: Option<f64>,
    /// dvae: shape of the β warm-up, cosine or fixed.
    #[arg(long)]
    beta_schedule: Option<BetaSchedule>,
    /// dvae: steps of the β warm-up.
    #[arg(long)]
    beta_steps: Option<usize>,
    /// dvae: weight of the codebook-diversity term (KL of the batch-mean code distribution to uniform).
    #[arg(long)]
    diversity_weight: Option<f64>,
    /// dvae: weight of the mean per-cell entropy of q(z|x) (pushes each cell to be confident).
    #[arg(long)]
    cell_entropy_weight: Option<f64>,
    /// dvae: straight-through hard Gumbel-softmax (true/false).
    #[arg(long)]
    hard: Option<bool>,
    /// dvae: scale of the Gumbel noise (1 = Gumbel-softmax, 0 = no noise).
    #[arg(long)]
    gumbel_scale: Option<f64>,
    /// dvae: initial std of the codebook (0 keeps DALL·E's 1/sqrt(vocab_size)).
    #[arg(long)]
    codebook_std: Option<f64>,
    /// dvae: factor on the logits at the end of the τ schedule, from 1 (sampler and
    /// regularisers see softmax(a·logits)).
    #[arg(long)]
    logit_scale_end: Option<f64>,
    /// dvae: with --hard, the codebook's gradient is the soft sample's, so every code
    /// learns, not only the one drawn (IBQ's full-softmax update; true/false).
    #[arg(long)]
    soft_codebook_grad: Option<bool>,
    /// dvae: where the logits come from: head (the encoder's K channels, DALL·E's), dot
    /// (IBQ's z·c/√D against a codebook the decoder shares) or distance (−‖z−c‖²/√D).
    #[arg(long)]
    logits: Option<CodeLogits>,
    /// vqvae: compare codes by cosine similarity (l2-normalised).
    #[arg(long)]
    vq_cosine: Option<bool>,
    /// vqvae: commitment weight β.
    #[arg(long)]
    commitment: Option<f64>,
    /// vqvae: update the codebook by EMA (true) or by the codebook loss (false).
    #[arg(long)]
    vq_ema: Option<bool>,
    /// vqvae: EMA decay.
    #[arg(long)]
    vq_decay: Option<f64>,
    /// vqvae: k-means initialisation of the codebook from the first batch.
    #[arg(long)]
    kmeans_init: Option<bool>,
    /// vqvae: re-seed codes unused for N steps (0: never).
    #[arg(long)]
    restart_after: Option<usize>,
    /// vqvae: l2-normalised code lookup in this many dimensions (ViT-VQGAN's factorised codes).
    #[arg(long)]
    lookup_dim: Option<usize>,
    /// vqvae: the rotation trick for the gradient through the quantizer (true/false).
    #[arg(long)]
    rotation_trick: Option<bool>,
    /// vqvae: SimVQ, a frozen random codebook through one learned linear map (true/false;
    /// unless given, --vq-ema, --kmeans-init and --restart-after are then turned off).
    #[arg(long)]
    simvq: Option<bool>,
    /// fsq: levels of each latent dimension, e.g. 8,8,8 (512 codes; sets --vocab-size).
    #[arg(long, value_delimiter = ',')]
    levels: Option<Vec<usize>>,
    /// lfq, vqvae, fsq: weight of the entropy penalty (MAGVIT-v2's: per-cell entropy −
    /// γ × the batch's code entropy; lfq 0.5, off elsewhere).
    #[arg(long)]
    entropy_weight: Option<f64>,
    /// lfq, vqvae, fsq: weight γ of the batch's code entropy against the per-cell entropy.
    #[arg(long)]
    diversity_gamma: Option<f64>,
    /// lfq: commitment weight.
    #[arg(long)]
    lfq_commitment: Option<f64>,
    /// lfq, vqvae, fsq: inverse temperature of the code distribution the entropies are
    /// taken of (lfq 100 on ±1 codes; vqvae 10 on −‖z−e‖²; fsq 1 on −‖b−c‖², levels 1 apart).
    #[arg(long)]
    inv_temperature: Option<f64>,
    /// lfq: BSQ, latents and codes on the unit sphere (true/false).
    #[arg(long)]
    spherical: Option<bool>,
    /// vae: final KL weight β (1 is the ELBO).
    #[arg(long)]
    vae_kl_weight: Option<f64>,
    /// vae: steps of the linear β warm-up.
    #[arg(long)]
    vae_warmup_steps: Option<usize>,
}

/// A value for JSON, `null` where a "0 means none" flag says none.
fn some_or_null<T: PartialOrd + Default + Into<Value>>(v: T) -> Value {
    if v > T::default() {
        v.into()
    } else {
        Value::Null
    }
}

/// A given flag's value as JSON.
fn j<T: Into<Value>>(v: Option<T>) -> Option<Value> {
    v.map(Into::into)
}

impl FamilyFlags {
    /// (family, flag, config key, value) of every flag given.
    pub(super) fn given(&self) -> Vec<(&'static str, &'static str, &'static str, Value)> {
        let f = |family, flag, key, v: Option<Value>| v.map(|v| (family, flag, key, v));
        [
            f("dvae", "tau-start", "tau_start", j(self.tau_start)),
            f("dvae", "tau-end", "tau_end", j(self.tau_end)),
            f(
                "dvae",
                "tau-schedule",
                "tau_schedule",
                self.tau_schedule.map(|s| json!(s.name())),
            ),
            f("dvae", "tau-steps", "tau_steps", j(self.tau_steps)),
            f("dvae", "kl-weight", "kl_weight", j(self.kl_weight)),
            f(
                "dvae",
                "beta-schedule",
                "beta_schedule",
                self.beta_schedule.map(|s| json!(s.name())),
            ),
            f("dvae", "beta-steps", "beta_steps", j(self.beta_steps)),
            f(
                "dvae",
                "diversity-weight",
                "diversity_weight",
                j(self.diversity_weight),
            ),
            f(
                "dvae",
                "cell-entropy-weight",
                "cell_entropy_weight",
                j(self.cell_entropy_weight),
            ),
            f("dvae", "hard", "hard", j(self.hard)),
            f("dvae", "gumbel-scale", "gumbel_scale", j(self.gumbel_scale)),
            f(
                "dvae",
                "codebook-std",
                "codebook_std",
                self.codebook_std.map(some_or_null),
            ),
            f(
                "dvae",
                "logit-scale-end",
                "logit_scale_end",
                j(self.logit_scale_end),
            ),
            f(
                "dvae",
                "soft-codebook-grad",
                "soft_codebook_grad",
                j(self.soft_codebook_grad),
            ),
            f(
                "dvae",
                "logits",
                "logits",
                self.logits.map(|s| json!(s.name())),
            ),
            f("vqvae", "vq-cosine", "cosine", j(self.vq_cosine)),
            f("vqvae", "commitment", "commitment", j(self.commitment)),
            f("vqvae", "vq-ema", "ema", j(self.vq_ema)),
            f("vqvae", "vq-decay", "decay", j(self.vq_decay)),
            f("vqvae", "kmeans-init", "kmeans_init", j(self.kmeans_init)),
            f(
                "vqvae",
                "restart-after",
                "restart_after",
                self.restart_after.map(some_or_null),
            ),
            f(
                "vqvae",
                "lookup-dim",
                "lookup_dim",
                self.lookup_dim.map(some_or_null),
            ),
            f(
                "vqvae",
                "rotation-trick",
                "rotation_trick",
                j(self.rotation_trick),
            ),
            f("vqvae", "simvq", "simvq", j(self.simvq)),
            f(
                "fsq",
                "levels",
                "levels",
                self.levels.clone().map(|l| json!(l)),
            ),
            f(
                PENALTY,
                "entropy-weight",
                "entropy_weight",
                j(self.entropy_weight),
            ),
            f(
                PENALTY,
                "diversity-gamma",
                "diversity_gamma",
                j(self.diversity_gamma),
            ),
            f(
                "lfq",
                "lfq-commitment",
                "commitment",
                j(self.lfq_commitment),
            ),
            f(
                PENALTY,
                "inv-temperature",
                "inv_temperature",
                j(self.inv_temperature),
            ),
            f("lfq", "spherical", "spherical", j(self.spherical)),
            f("vae", "vae-kl-weight", "kl_weight", j(self.vae_kl_weight)),
            f(
                "vae",
                "vae-warmup-steps",
                "warmup_steps",
                j(self.vae_warmup_steps),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `family` with these flags applied; a flag of another family is an error.
    pub(super) fn apply(&self, family: FamilyConfig) -> Result<FamilyConfig> {
        let name = family.name();
        let mut v = serde_json::to_value(&family)?;
        if self.simvq == Some(true) {
            // SimVQ's codebook is a frozen basis seen through a learned map: nothing for
            // an EMA, k-means or a restart to move, unless asked for (then refused).
            v["ema"] = json!(false);
            v["kmeans_init"] = json!(false);
            v["restart_after"] = Value::Null;
        }
        for (owner, flag, key, value) in self.given() {
            if !owns(owner, name) {
                bail!("--{flag} is an option of --family {owner}, not of {name}");
            }
            v[key] = value;
        }
        Ok(serde_json::from_value(v)?)
    }
}
