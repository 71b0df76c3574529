//! `dvae train`: the run loop and its progress display (the flags are in `train_flags.rs`).

use anyhow::{Context, Result};
use clap::Parser;
use dvae::artifact::RunDir;
use dvae::kernels::device::DeviceSpec;
use dvae::train::{self, Event, RunData, TrainOptions};
use indicatif::{ProgressBar, ProgressStyle};

use super::train_flags::Flags;

/// Train a tokenizer; every hyperparameter has a flag, and the resolved config is printed
/// and saved as RUN_DIR/config.json.
#[derive(Parser)]
#[command(after_help = format!("{FAULTS}\n\n{}", super::resume_rule::HELP))]
pub struct Args {
    #[command(flatten)]
    flags: Flags,
}

const FAULTS: &str = "\
Faults: checkpoints are written atomically, so a kill at any moment leaves the previous one \
and --resume continues from it, ending with the weights of an uninterrupted run. Ctrl-C \
(SIGINT) writes a checkpoint and exits with status 130, SIGTERM (a batch scheduler's \
preemption) the same with status 143. While a run trains, it holds a lock on RUN_DIR/.lock: \
a second dvae train on the same directory is refused, naming the holder's pid. A step \
whose loss or gradient norm is NaN or infinite is not applied: training goes back to the last checkpoint (or the start) with half \
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

pub fn run(args: Args) -> Result<()> {
    let run = RunDir::new(&args.flags.out);
    let config = if args.flags.resume {
        let mut c = run.read_config()?;
        super::resume_rule::check(&args.flags, &c)?;
        if let Some(steps) = args.flags.steps {
            // Recorded in config.json by the training loop, under the run's lock.
            c.train.steps = steps;
            c.validate()?;
        }
        c
    } else {
        if run.weights().exists() || run.checkpoints().exists() {
            anyhow::bail!(
                "{}: already holds a run; use --resume to continue it or choose another --out",
                args.flags.out.display()
            );
        }
        args.flags.resolve()?
    };
    let (device, devices) = if args.flags.devices.is_empty() {
        (args.flags.device.device()?, Vec::new())
    } else {
        let devices = DeviceSpec::data_parallel(&args.flags.devices)?;
        (devices[0].clone(), devices)
    };
    let mut data = RunData::open(&config, args.flags.strict)
        .with_context(|| format!("loading data {:?}", config.data))?;
    if let Some(w) = args.flags.data_workers {
        data.set_workers(w);
    }
    super::report_skipped_files(&data.skipped());

    // From here on SIGINT and SIGTERM stop the run after a checkpoint rather than kill it
    // (before, there is nothing to save).
    let stop = super::signals::stop_on_signals();
    println!("dvae train → {}", args.flags.out.display());
    println!("{}", serde_json::to_string_pretty(&config)?);

    let bar = ProgressBar::new(config.train.steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    let opts = TrainOptions {
        resume: args.flags.resume,
        stop: Some(stop),
        checkpoint_interval: args
            .flags
            .checkpoint_every_minutes
            .map(|m| std::time::Duration::from_secs_f64(m * 60.0)),
        engine: None,
        devices,
        inject_nan: injected_faults()?,
    };
    let result = train::train(
        &run,
        &config,
        data.as_train(),
        &device,
        &opts,
        |event| match event {
            Event::Start {
                params,
                start_step,
                train_images,
                shards,
                holdout_images,
                ..
            } => {
                bar.set_position(start_step as u64);
                let train = if shards > 0 {
                    format!("{shards} shards streamed")
                } else {
                    format!("{train_images} training images")
                };
                bar.println(format!(
                "{params} parameters; {train} / {holdout_images} held-out images; starting at step {start_step}"
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
                "loss {:.4} recon {:.4} kl {:.3}{} lr {:.2e}{usage} {:.1} img/s, data wait {:.0}%",
                s.loss,
                s.recon,
                s.kl,
                if s.tau.is_nan() {
                    String::new()
                } else {
                    format!(" τ {:.3}", s.tau)
                },
                s.lr,
                s.img_s,
                wait_percent(s)
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
        },
    );
    bar.finish_and_clear();
    let summary = result?;
    let skipped: Vec<_> = summary
        .skipped
        .iter()
        .map(|(n, why)| (n.into(), why.clone()))
        .collect();
    super::report_skipped_files(&skipped);
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
                args.flags.out.display()
            );
        }
    }
    Ok(())
}

/// The share of the step spent waiting for its batch, in percent.
fn wait_percent(s: &train::StepLog) -> f64 {
    100.0 * s.data_wait_s / s.step_s.max(1e-12)
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
