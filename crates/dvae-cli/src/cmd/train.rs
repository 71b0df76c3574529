//! `dvae train`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use burn::prelude::Device;
use clap::Parser;
use dvae::artifact::RunDir;
use dvae::config::{
    BetaSchedule, FORMAT_VERSION, ModelConfig, Recipe, ReconLoss, RunConfig, TauSchedule,
    TrainConfig,
};
use dvae::data::{DataSource, ImageSet};
use dvae::train::{self, Event, TrainOptions};
use indicatif::{ProgressBar, ProgressStyle};

/// Train a dVAE; every hyperparameter has a flag, and the resolved config is printed and
/// saved as RUN_DIR/config.json.
#[derive(Parser)]
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
            gumbel_scale
        );
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
            bar.set_message(format!(
                "loss {:.4} recon {:.4} kl {:.3} τ {:.3} lr {:.2e} usage {:.0}% {:.1} img/s",
                s.loss,
                s.recon,
                s.kl,
                s.tau,
                s.lr,
                100.0 * s.usage,
                s.img_s
            ));
        }
        Event::Eval { step, report } => bar.println(format!(
            "step {step}: held-out PSNR {:.2} dB, MSE {:.5}, usage {:.1}%, perplexity {:.1}",
            report.psnr,
            report.mse,
            100.0 * report.usage,
            report.perplexity
        )),
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
                "done: {} steps; held-out PSNR {:.2} dB, usage {:.1}%, perplexity {:.1}; run in {} (recon.png)",
                summary.steps,
                r.psnr,
                100.0 * r.usage,
                r.perplexity,
                args.out.display()
            );
        }
    }
    Ok(())
}

/// Installs a SIGINT handler that calls `f` once; training then stops after a checkpoint.
fn ctrlc_handler(f: impl Fn() + Send + 'static) -> std::io::Result<()> {
    ctrlc::set_handler(f).map_err(std::io::Error::other)
}
