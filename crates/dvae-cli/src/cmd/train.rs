//! `dvae train`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::Parser;
use dvae::artifact::RunDir;
use dvae::config::{
    BetaSchedule, FORMAT_VERSION, Family, ModelConfig, Recipe, ReconLoss, RunConfig, TauSchedule,
    TrainConfig,
};
use dvae::data::{DataSource, ImageSet};
use dvae::train::{self, Event, TrainOptions};
use indicatif::{ProgressBar, ProgressStyle};

/// Train a dVAE; every hyperparameter has a flag, and the resolved config is printed and
/// saved as RUN_DIR/config.json.
#[derive(Parser)]
#[command(after_help = FAULTS)]
pub struct Args {
    /// Architecture preset: tiny, small or dalle.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Training recipe: default (tuned for short CPU runs) or dalle (the paper's, scaled).
    #[arg(long, default_value = "default")]
    recipe: Recipe,
    /// default, a folder of images, mnist:PATH or cifar10:PATH.
    #[arg(long, default_value = "default")]
    data: String,
    /// Total optimisation steps of the run.
    #[arg(long)]
    steps: Option<usize>,
    /// Images per step.
    #[arg(long)]
    batch: Option<usize>,
    /// Seed of every random stream.
    #[arg(long)]
    seed: Option<u64>,
    /// Run directory to write.
    #[arg(long, default_value = "runs/default")]
    out: PathBuf,
    /// Checkpoint, evaluate and write a grid every N steps.
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Continue the run in --out from its last checkpoint (its config.json is used).
    #[arg(long)]
    resume: bool,
    /// Stop at the first unreadable file in a data folder instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// Reconstruction loss: logit-laplace or mse.
    #[arg(long, value_parser = parse_loss)]
    loss: Option<ReconLoss>,
    #[arg(long)]
    image_size: Option<usize>,
    #[arg(long)]
    group_count: Option<usize>,
    #[arg(long)]
    n_hid: Option<usize>,
    #[arg(long)]
    n_blk_per_group: Option<usize>,
    #[arg(long)]
    vocab_size: Option<usize>,
    #[arg(long)]
    n_init: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    lr_end: Option<f64>,
    #[arg(long)]
    warmup_steps: Option<usize>,
    #[arg(long)]
    weight_decay: Option<f64>,
    #[arg(long)]
    tau_start: Option<f64>,
    #[arg(long)]
    tau_end: Option<f64>,
    /// cosine or exponential.
    #[arg(long, value_parser = parse_tau)]
    tau_schedule: Option<TauSchedule>,
    #[arg(long)]
    tau_steps: Option<usize>,
    /// Final KL weight β.
    #[arg(long)]
    kl_weight: Option<f64>,
    /// Weight of the codebook-diversity term (KL of the batch-mean code distribution to uniform).
    #[arg(long)]
    diversity_weight: Option<f64>,
    /// cosine or fixed.
    #[arg(long, value_parser = parse_beta)]
    beta_schedule: Option<BetaSchedule>,
    #[arg(long)]
    beta_steps: Option<usize>,
    /// Straight-through hard Gumbel-softmax (true/false).
    #[arg(long)]
    hard: Option<bool>,
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Scale of the Gumbel noise (1 = Gumbel-softmax, 0 = no noise).
    #[arg(long)]
    gumbel_scale: Option<f64>,
    /// Clip the global gradient norm (0 turns clipping off).
    #[arg(long)]
    grad_clip: Option<f64>,
    #[arg(long)]
    log_every: Option<usize>,
    /// Initial std of the codebook (0 keeps DALL·E's 1/sqrt(vocab_size)).
    #[arg(long)]
    codebook_std: Option<f64>,
    /// Fraction of the data held out for evaluation.
    #[arg(long)]
    holdout: Option<f64>,
    /// Tokenizer family: dvae, vqvae, vae or ae.
    #[arg(long, default_value = "dvae")]
    family: Family,
    /// Latent vector size per cell for vqvae, vae and ae.
    #[arg(long)]
    code_dim: Option<usize>,
    /// VQ-VAE: compare codes by cosine similarity (l2-normalised).
    #[arg(long)]
    vq_cosine: Option<bool>,
    /// VQ-VAE commitment weight β.
    #[arg(long)]
    commitment: Option<f64>,
    /// VQ-VAE: update the codebook by EMA (true) or by the codebook loss (false).
    #[arg(long)]
    vq_ema: Option<bool>,
    /// VQ-VAE EMA decay.
    #[arg(long)]
    vq_decay: Option<f64>,
    /// VQ-VAE: k-means initialisation of the codebook from the first batch.
    #[arg(long)]
    kmeans_init: Option<bool>,
    /// VQ-VAE: re-seed codes unused for N steps (0: never).
    #[arg(long)]
    restart_after: Option<usize>,
    /// VAE: final KL weight β (1 is the ELBO).
    #[arg(long)]
    vae_kl_weight: Option<f64>,
    /// VAE: steps of the linear β warm-up.
    #[arg(long)]
    vae_warmup_steps: Option<usize>,
}

const FAULTS: &str = "\
Faults: checkpoints are written atomically, so a kill at any moment leaves the previous one \
and --resume continues from it, ending with the weights of an uninterrupted run. Ctrl-C \
writes a checkpoint and exits with status 130. A step whose loss or gradient norm is NaN or \
infinite is not applied: training goes back to the last checkpoint (or the start) with half \
the learning rate, once; a second such step stops the run with status 2, its last checkpoint \
intact.";

/// Test hook: `DVAE_INJECT_NAN=3,7` poisons the loss of steps 3 and 7 (see `TrainOptions`).
fn injected_faults() -> Result<Vec<usize>> {
    let Ok(v) = std::env::var("DVAE_INJECT_NAN") else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .with_context(|| format!("DVAE_INJECT_NAN: expected step numbers, got {v:?}"))
        })
        .collect()
}

fn parse_loss(s: &str) -> Result<ReconLoss, String> {
    match s {
        "logit-laplace" => Ok(ReconLoss::LogitLaplace),
        "mse" => Ok(ReconLoss::Mse),
        _ => Err(format!("expected logit-laplace or mse, got {s:?}")),
    }
}

fn parse_tau(s: &str) -> Result<TauSchedule, String> {
    match s {
        "cosine" => Ok(TauSchedule::Cosine),
        "exponential" => Ok(TauSchedule::Exponential),
        _ => Err(format!("expected cosine or exponential, got {s:?}")),
    }
}

fn parse_beta(s: &str) -> Result<BetaSchedule, String> {
    match s {
        "cosine" => Ok(BetaSchedule::Cosine),
        "fixed" => Ok(BetaSchedule::Fixed),
        _ => Err(format!("expected cosine or fixed, got {s:?}")),
    }
}

impl Args {
    /// The configuration these flags describe: preset and recipe, then every override.
    fn resolve(&self) -> Result<RunConfig> {
        let mut m = ModelConfig::preset(&self.preset)?;
        macro_rules! set {
            ($dst:expr, $($f:ident),*) => { $( if let Some(v) = self.$f { $dst.$f = v; } )* };
        }
        set!(
            m,
            image_size,
            group_count,
            n_hid,
            n_blk_per_group,
            vocab_size,
            n_init
        );
        if let Some(l) = self.loss {
            m.recon_loss = l;
        }
        m.family = self.family;
        set!(m, code_dim, vq_cosine);
        let (default_steps, default_batch) = preset_budget(&self.preset);
        let steps = self.steps.unwrap_or(default_steps);
        let mut t = TrainConfig::recipe(self.recipe, steps);
        t.batch = default_batch;
        set!(
            t,
            batch,
            seed,
            checkpoint_every,
            lr,
            lr_end,
            warmup_steps,
            weight_decay,
            tau_start,
            tau_end
        );
        set!(
            t,
            tau_schedule,
            tau_steps,
            kl_weight,
            beta_schedule,
            beta_steps,
            hard,
            ema_decay,
            log_every,
            holdout,
            gumbel_scale,
            diversity_weight
        );
        if let Some(v) = self.commitment {
            t.vq.commitment = v;
        }
        if let Some(v) = self.vq_ema {
            t.vq.ema = v;
        }
        if let Some(v) = self.vq_decay {
            t.vq.decay = v;
        }
        if let Some(v) = self.kmeans_init {
            t.vq.kmeans_init = v;
        }
        if let Some(v) = self.restart_after {
            t.vq.restart_after = (v > 0).then_some(v);
        }
        if let Some(v) = self.vae_kl_weight {
            t.vae.kl_weight = v;
        }
        if let Some(v) = self.vae_warmup_steps {
            t.vae.warmup_steps = v;
        }
        if let Some(c) = self.grad_clip {
            t.grad_clip = (c > 0.0).then_some(c);
        }
        if let Some(c) = self.codebook_std {
            t.codebook_std = (c > 0.0).then_some(c);
        }
        t.checkpoint_every = t.checkpoint_every.min(steps.max(1));
        let config = RunConfig {
            format_version: FORMAT_VERSION,
            preset: self.preset.clone(),
            model: m,
            train: t,
            data: self.data.clone(),
        };
        config.validate()?;
        Ok(config)
    }
}

/// Steps and batch of a run when --steps/--batch are not given: `small` (the README's
/// default run) takes about ten minutes on two CPU cores.
fn preset_budget(preset: &str) -> (usize, usize) {
    match preset {
        "small" => (700, 16),
        "tiny" => (2000, 32),
        _ => (1000, 32),
    }
}

pub fn run(args: Args) -> Result<()> {
    let run = RunDir::new(&args.out);
    let config = if args.resume {
        let mut c = run.read_config()?;
        if let Some(steps) = args.steps {
            c.train.steps = steps;
            c.validate()?;
            run.write_config(&c)?;
        }
        c
    } else {
        if run.weights().exists() || run.checkpoints().exists() {
            anyhow::bail!(
                "{}: already holds a run; use --resume to continue it or choose another --out",
                args.out.display()
            );
        }
        args.resolve()?
    };
    let device = Device::flex();
    let source = DataSource::parse(&config.data);
    let data = ImageSet::load(&source, config.model.image_size, args.strict)
        .with_context(|| format!("loading data {:?}", config.data))?;
    super::report_skipped(&data);

    println!("dvae train → {}", args.out.display());
    println!("{}", serde_json::to_string_pretty(&config)?);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc_handler(move || stop.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    let bar = ProgressBar::new(config.train.steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    let opts = TrainOptions {
        resume: args.resume,
        stop: Some(stop),
        inject_nan: injected_faults()?,
    };
    let result = train::train(&run, &config, &data, &device, &opts, |event| match event {
        Event::Start {
            params,
            start_step,
            train_images,
            holdout_images,
            ..
        } => {
            bar.set_position(start_step as u64);
            bar.println(format!(
                "{params} parameters; {train_images} training / {holdout_images} held-out images; starting at step {start_step}"
            ));
        }
        Event::Step(s) => {
            bar.set_position(s.step as u64);
            let usage = if s.usage.is_nan() {
                String::new()
            } else {
                format!(" usage {:.0}%", 100.0 * s.usage)
            };
            bar.set_message(format!(
                "loss {:.4} recon {:.4} kl {:.3} τ {:.3} lr {:.2e}{usage} {:.1} img/s",
                s.loss, s.recon, s.kl, s.tau, s.lr, s.img_s
            ));
        }
        Event::Eval { step, report } => bar.println(format!(
            "step {step}: held-out PSNR {:.2} dB, MSE {:.5}{}",
            report.psnr,
            report.mse,
            codes(report)
        )),
        Event::Rollback {
            step,
            what,
            to_step,
            lr_scale,
        } => bar.suspend(|| {
            eprintln!(
                "warning: step {step}: non-finite {what}; the step was not applied, training \
                 rolled back to step {to_step} with the learning rate ×{lr_scale}"
            )
        }),
        Event::Checkpoint { .. } => {}
    });
    bar.finish_and_clear();
    let summary = result?;
    match summary.eval {
        None => println!(
            "nothing to train: the run's last checkpoint is already at or past its {} steps",
            summary.steps
        ),
        Some(r) => {
            println!(
                "done: {} steps; held-out PSNR {:.2} dB{}; run in {} (recon.png)",
                summary.steps,
                r.psnr,
                codes(&r),
                args.out.display()
            );
        }
    }
    Ok(())
}

/// ", usage U%, perplexity P" for a model with tokens, nothing for a continuous one.
fn codes(r: &dvae::pipeline::EvalReport) -> String {
    if r.usage.is_nan() {
        String::new()
    } else {
        format!(
            ", usage {:.1}%, perplexity {:.1}",
            100.0 * r.usage,
            r.perplexity
        )
    }
}

/// Installs a SIGINT handler that calls `f` once; training then stops after a checkpoint.
fn ctrlc_handler(f: impl Fn() + Send + 'static) -> std::io::Result<()> {
    ctrlc::set_handler(f).map_err(std::io::Error::other)
}
