//! The training loop: one readable function, [`train`], driven by a [`RunConfig`].
//!
//! Every random draw of step `s` (the batch and the family's noise) comes from generators
//! seeded by `(seed, s)`, and every schedule is a function of `s`; with the weights and
//! optimizer state in a checkpoint, a resumed run continues exactly as an uninterrupted one.

pub mod checkpoint;
pub mod data_parallel;
mod evaluate;
mod events;
mod feed;
pub mod params;
pub(crate) mod resume;
mod run_data;
pub mod step;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::prelude::*;

use crate::artifact::RunDir;
use crate::error::{Error, Result};
use crate::kernels::engine::Engine;
use crate::pipeline::EvalReport;
use crate::run_config::RunConfig;
use crate::run_lock::RunLock;
use crate::{metrics, schedule};
use checkpoint::TrainState;
pub use evaluate::{EVAL_IMAGES, GRID_IMAGES};
use evaluate::{evaluate_and_grid, write_eval, write_log};
pub use events::{Event, StepLog};
pub use feed::TrainData;
use feed::{Feed, StepBatch};
use resume::{Trainable, initial, open_log, restore, truncate_log};
pub use run_data::RunData;

/// Options of [`train`] that are not part of the run's configuration.
#[derive(Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run directory's last checkpoint.
    pub resume: bool,
    /// Set from outside (e.g. on Ctrl-C) to stop after writing a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// Also write a checkpoint (the training state only: no evaluation, no log line) after
    /// the first step that ends this long after the last checkpoint; the weights are those
    /// of a run without it (unless a non-finite step rolls the run back to such a one).
    pub checkpoint_interval: Option<Duration>,
    /// The engine the layers run on (`None`: [`Engine::resolve`] for the device).
    pub engine: Option<Engine>,
    /// Data-parallel training: the devices each batch is split over, the device given to
    /// [`train`] first (see [`data_parallel`]); empty or one device trains on that device
    /// alone. The same device may appear more than once (replicas on one device).
    pub devices: Vec<Device>,
    /// Fault injection for tests of [`train`]: the loss of each of these steps (1-based) is
    /// multiplied by NaN the first time the step runs in this call.
    #[doc(hidden)]
    pub inject_nan: Vec<usize>,
}

/// How a finished run ended.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// Steps completed.
    pub steps: usize,
    /// The last held-out evaluation.
    pub eval: Option<EvalReport>,
    /// Samples and shards of a stream that were skipped (name, reason).
    pub skipped: Vec<(String, String)>,
}

/// Trains the tokenizer of `config` on `data`, writing into `run`.
///
/// Holds the run directory's lock ([`RunLock`]) while it runs: a run another process is
/// training is refused. Writes `config.json` first (or, with `resume`, requires it to exist
/// and match, except for `steps`, which a resumed run may extend), then checkpoints,
/// `model.safetensors`, `log.jsonl` and `recon.png` every `checkpoint_every` steps and at
/// the end.
pub fn train<'a>(
    run: &RunDir,
    config: &RunConfig,
    data: impl Into<TrainData<'a>>,
    device: &Device,
    opts: &TrainOptions,
    mut observer: impl FnMut(Event),
) -> Result<TrainSummary> {
    let data = data.into();
    config.validate()?;
    let engine = opts.engine.unwrap_or_else(|| Engine::resolve(device));
    let ad = device.clone().autodiff();
    if opts.devices.first().is_some_and(|d| d != device) {
        return Err(Error::config(
            "devices",
            "the first data-parallel device must be the device training runs on",
        ));
    }
    let replicas: Vec<Device> = opts.devices.iter().map(|d| d.clone().autodiff()).collect();
    // The data is checked before the run directory is touched.
    let mut feed = Feed::open(data, config)?;
    let _lock = RunLock::acquire(&run.root)?;
    let (mut t, mut state) = open_run(run, config, &ad, engine, opts.resume)?;
    feed.seek(&state);
    let start = state.step;
    let (train_images, holdout_images) = feed.counts();
    observer(Event::Start {
        config,
        params: t.0.num_params(),
        start_step: start,
        train_images,
        shards: match data {
            TrainData::Memory(_) | TrainData::MemoryEval(..) => 0,
            TrainData::Sharded(s) => s.shards.len(),
        },
        holdout_images,
    });
    let c = &config.train;
    let mut log = open_log(run)?;
    let mut last_eval = None;
    let mut inject = opts.inject_nan.clone();
    let mut step = start;
    let mut last_checkpoint = Instant::now();
    while step < c.steps {
        if opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            state.step = step;
            state.stream = feed.pos();
            checkpoint::save(run, &state, &t.0, &t.1, &t.2)?;
            observer(Event::Checkpoint { step });
            return Err(Error::Interrupted { step });
        }
        let done = step + 1;
        let poison = inject
            .iter()
            .position(|&s| s == done)
            .map(|i| inject.swap_remove(i));
        let log_now = done % c.log_every == 0 || done == c.steps || done == start + 1;
        let flags = StepFlags {
            lr_scale: state.lr_scale,
            poison: poison.is_some(),
            log_now,
        };
        let batch = feed.next(step, config, &ad)?;
        let outcome;
        (t, outcome) = run_step(t, config, batch, step, flags, &replicas);
        match outcome {
            Outcome::Applied(Some(entry)) => {
                write_log(&mut log, run, "step", &entry)?;
                observer(Event::Step(&entry));
            }
            Outcome::Applied(None) => {}
            // A non-finite step is not applied: the run goes back to its last good state, once.
            Outcome::NonFinite(what) => {
                if let Some(rolled_back_to) = state.rolled_back_to {
                    return Err(Error::NonFiniteAgain {
                        what: what.into(),
                        step: done,
                        rolled_back_to,
                    });
                }
                let (restored, mut back) = restore(run, config, &ad, engine)?;
                t = restored;
                back.lr_scale = state.lr_scale * 0.5;
                back.rolled_back_to = Some(back.step);
                state = back;
                feed.seek(&state);
                truncate_log(run, state.step)?;
                log = open_log(run)?;
                observer(Event::Rollback {
                    step: done,
                    what,
                    to_step: state.step,
                    lr_scale: state.lr_scale,
                });
                step = state.step;
                continue;
            }
        }
        if done % c.checkpoint_every == 0 || done == c.steps {
            let (eval_set, eval_split) = feed.eval();
            let report = evaluate_and_grid(run, config, eval_set, eval_split, &t.1, device, done)?;
            write_eval(&mut log, run, done, &report)?;
            observer(Event::Eval {
                step: done,
                report: &report,
            });
            last_eval = Some(report);
            crate::weights::save_weights(&t.1, &run.weights())?;
            state.step = done;
            state.stream = feed.pos();
            checkpoint::save(run, &state, &t.0, &t.1, &t.2)?;
            crate::report::write_curves_png(run)?;
            observer(Event::Checkpoint { step: done });
            last_checkpoint = Instant::now();
        } else if opts
            .checkpoint_interval
            .is_some_and(|i| last_checkpoint.elapsed() >= i)
        {
            state.step = done;
            state.stream = feed.pos();
            checkpoint::save(run, &state, &t.0, &t.1, &t.2)?;
            observer(Event::Checkpoint { step: done });
            last_checkpoint = Instant::now();
        }
        step = done;
    }
    Ok(TrainSummary {
        steps: c.steps,
        eval: last_eval,
        skipped: feed.skipped(),
    })
}

/// The state training starts from: a new run (its `config.json` written) or, with
/// `resume`, the run directory's last checkpoint (its config must match).
fn open_run(
    run: &RunDir,
    config: &RunConfig,
    ad: &Device,
    engine: Engine,
    resume: bool,
) -> Result<(Trainable, TrainState)> {
    std::fs::create_dir_all(&run.root).map_err(|e| Error::io(&run.root, e))?;
    if !resume {
        run.write_config(config)?;
        let _ = std::fs::remove_file(run.log());
        return Ok((initial(config, ad, engine), TrainState::at(0)));
    }
    let mut saved = run.read_config()?;
    saved.train.steps = config.train.steps;
    if &saved != config {
        return Err(Error::run(
            run.config(),
            "config.json differs from the configuration to resume with",
        ));
    }
    // The run's steps as extended, in the current format (a format-1 run is rewritten).
    run.write_config(config)?;
    // Leftovers of writes a kill interrupted (never a complete file: those are renamed).
    for dir in [run.root.clone(), run.checkpoints(), run.root.join("grids")] {
        crate::atomic::remove_temporaries(&dir);
    }
    let restored = restore(run, config, ad, engine)?;
    truncate_log(run, restored.1.step)?;
    Ok(restored)
}

/// What a step came to.
enum Outcome {
    /// Applied; the log entry on logged steps.
    Applied(Option<StepLog>),
    /// Not applied: the loss or the gradient norm was not finite.
    NonFinite(&'static str),
}

/// How step `step` runs besides its configuration.
struct StepFlags {
    /// Factor on the scheduled learning rate.
    lr_scale: f64,
    /// Multiply the loss by NaN (fault injection).
    poison: bool,
    /// Log this step.
    log_now: bool,
}

/// Step `step` (0-based): forward, backward, update, the family's work and the weight
/// EMA, on the batch's autodiff device or, with two or more `devices`, data-parallel over
/// them.
fn run_step(
    (model, ema, mut optim): Trainable,
    config: &RunConfig,
    batch: StepBatch,
    step: usize,
    flags: StepFlags,
    devices: &[Device],
) -> (Trainable, Outcome) {
    let c = &config.train;
    let t0 = Instant::now();
    let (tau, beta) = config.bottleneck.family().schedule(step);
    let lr = schedule::lr(c, step) * flags.lr_scale;
    let StepBatch { x, n, wait_s } = batch;
    let mut rng = step::step_rng(c.seed, step);
    let (model, mut f, parallel_grads) = if devices.len() > 1 {
        let (model, f, grads) =
            data_parallel::forward_backward(model, config, x, step, &mut rng, devices);
        (model, f, Some(grads))
    } else {
        let (model, f) = step::forward(model, config, x, step, &mut rng);
        (model, f, None)
    };
    if flags.poison {
        f.total = f.total * f64::NAN;
    }
    let loss_value = f.total.clone().into_scalar::<f32>() as f64;
    if !loss_value.is_finite() {
        return ((model, ema, optim), Outcome::NonFinite("loss"));
    }
    let (grads, grad_norm) = match parallel_grads {
        Some(grads) => {
            let norm = params::grad_norm(&model, &grads);
            (grads, norm)
        }
        None => step::gradients(&model, f.total.clone()),
    };
    if !grad_norm.is_finite() {
        return ((model, ema, optim), Outcome::NonFinite("gradient norm"));
    }
    // The encoder's and decoder's norms are only logged: read back on logged steps.
    let part_norms = flags.log_now.then(|| {
        (
            params::grad_norm(&model.encoder, &grads),
            params::grad_norm(&model.decoder, &grads),
        )
    });
    let (recon, latent) = (f.recon.clone(), f.latent.clone());
    let model = step::update(model, &mut optim, lr, grads, grad_norm, c.grad_clip);
    let (model, ids) = step::after_update(model, config, step, f, flags.log_now, &mut rng);
    let ema = params::ema_update(ema, &model.valid(), params::ema_decay_at(c.ema_decay, step));
    let step_s = t0.elapsed().as_secs_f64() + wait_s;
    let entry = part_norms.map(|(enc_grad_norm, dec_grad_norm)| {
        let vocab = config.model.vocab_size;
        let usage = ids.map_or(f64::NAN, |ids| {
            metrics::code_stats(&metrics::histogram(&ids, vocab)).usage
        });
        StepLog {
            step: step + 1,
            loss: loss_value,
            recon: recon.into_scalar::<f32>() as f64,
            kl: latent.into_scalar::<f32>() as f64,
            tau,
            beta,
            lr,
            usage,
            grad_norm,
            enc_grad_norm,
            dec_grad_norm,
            img_s: n as f64 / step_s,
            step_s,
            data_wait_s: wait_s,
        }
    });
    ((model, ema, optim), Outcome::Applied(entry))
}
