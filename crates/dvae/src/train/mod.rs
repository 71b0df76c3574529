//! The training loop: one readable function, [`train`], driven by a [`RunConfig`].
//!
//! Every random draw of step `s` (the batch and the Gumbel noise) comes from generators
//! seeded by `(seed, s)`, and every schedule is a function of `s`; with the weights and
//! optimizer state in a checkpoint, a resumed run continues exactly as an uninterrupted one.

pub mod checkpoint;
pub mod family;
pub mod params;
mod resume;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::artifact::RunDir;
use crate::config::{Family, ReconLoss, RunConfig};
use crate::data::{ImageSet, Split, batch_indices};
use crate::error::{Error, Result};
use crate::model::{self, DvaeModel};
use crate::pipeline::{Dvae, EvalReport, int_values};
use crate::{grid, loss, metrics, schedule};
use checkpoint::TrainState;
use resume::{initial, open_log, restore, truncate_log};

/// Held-out images scored at each evaluation (the first ones of the split).
pub const EVAL_IMAGES: usize = 256;
/// Images shown in a reconstruction grid.
pub const GRID_IMAGES: usize = 16;

/// One logged training step.
#[derive(Clone, Debug, Serialize)]
pub struct StepLog {
    /// Steps completed.
    pub step: usize,
    /// Total loss (per pixel dimension).
    pub loss: f64,
    /// Reconstruction term (logit-Laplace NLL or MSE per dimension).
    pub recon: f64,
    /// The family's latent loss, unweighted: dVAE mean KL to the uniform prior per cell
    /// (nats), VQ-VAE codebook + β·commitment loss, VAE KL to N(0, 1) per image (nats), AE 0.
    pub kl: f64,
    /// Temperature.
    pub tau: f64,
    /// KL weight.
    pub beta: f64,
    /// Learning rate.
    pub lr: f64,
    /// Fraction of codes used by the batch's tokens (NaN, logged as null, for continuous
    /// families).
    pub usage: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Norm of the encoder's gradients before clipping.
    pub enc_grad_norm: f64,
    /// Norm of the decoder's gradients before clipping.
    pub dec_grad_norm: f64,
    /// Training throughput over this step.
    pub img_s: f64,
}

/// What the loop reports while it runs.
pub enum Event<'a> {
    /// Training starts (or resumes) at `start_step`.
    Start {
        /// The run's configuration.
        config: &'a RunConfig,
        /// Trainable parameters.
        params: usize,
        /// First step to run.
        start_step: usize,
        /// Training images.
        train_images: usize,
        /// Held-out images.
        holdout_images: usize,
    },
    /// A step finished (every step; `log` is written every `log_every`).
    Step(&'a StepLog),
    /// A held-out evaluation finished.
    Eval {
        /// Steps completed.
        step: usize,
        /// Its metrics.
        report: &'a EvalReport,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Steps completed.
        step: usize,
    },
    /// A step gave a non-finite loss or gradient norm: nothing of it was applied, and the
    /// run went back to its last checkpoint (or to its start) with half the learning rate.
    Rollback {
        /// The faulty step (1-based, as logged).
        step: usize,
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// Steps completed at the state training continues from.
        to_step: usize,
        /// The factor on the scheduled learning rate from now on.
        lr_scale: f64,
    },
}

/// Options of [`train`] that are not part of the run's configuration.
#[derive(Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run directory's last checkpoint.
    pub resume: bool,
    /// Set from outside (e.g. on Ctrl-C) to stop after writing a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
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
}

/// Seed of step `step`'s random draws.
fn step_seed(seed: u64, step: usize) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (step as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)
        ^ 0x5851_f42d
}

/// Trains the dVAE of `config` on `data`, writing into `run`.
///
/// Writes `config.json` first (or, with `resume`, requires it to exist and match), then
/// checkpoints, `model.safetensors`, `log.jsonl` and `recon.png` every `checkpoint_every`
/// steps and at the end.
pub fn train(
    run: &RunDir,
    config: &RunConfig,
    data: &ImageSet,
    device: &Device,
    opts: &TrainOptions,
    mut observer: impl FnMut(Event),
) -> Result<TrainSummary> {
    config.validate()?;
    let c = &config.train;
    let m = &config.model;
    if data.size() != m.image_size {
        return Err(Error::config(
            "data",
            format!(
                "images are {0}x{0}, model wants {1}x{1}",
                data.size(),
                m.image_size
            ),
        ));
    }
    let split = Split::new(data.len(), c.holdout);
    if split.train.is_empty() {
        return Err(Error::config("data", "no training images"));
    }
    let ad = device.clone().autodiff();
    std::fs::create_dir_all(&run.root).map_err(|e| Error::io(&run.root, e))?;
    let ((mut model, mut ema, mut optim), mut state) = if opts.resume {
        let saved = run.read_config()?;
        if &saved != config {
            return Err(Error::run(
                run.config(),
                "config.json differs from the configuration to resume with",
            ));
        }
        // Leftovers of writes a kill interrupted (never a complete file: those are renamed).
        for dir in [run.root.clone(), run.checkpoints(), run.root.join("grids")] {
            crate::artifact::remove_temporaries(&dir);
        }
        let restored = restore(run, config, &ad)?;
        truncate_log(run, restored.1.step)?;
        restored
    } else {
        run.write_config(config)?;
        let _ = std::fs::remove_file(run.log());
        (initial(config, &ad), TrainState::at(0))
    };
    let start = state.step;

    observer(Event::Start {
        config,
        params: model.num_params(),
        start_step: start,
        train_images: split.train.len(),
        holdout_images: split.holdout.len(),
    });

    let mut log = open_log(run)?;
    let mut last_eval = None;
    let mut inject = opts.inject_nan.clone();

    let mut step = start;
    while step < c.steps {
        if opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            state.step = step;
            checkpoint::save(run, &state, &model, &ema, &optim)?;
            observer(Event::Checkpoint { step });
            return Err(Error::Interrupted { step });
        }
        let t0 = Instant::now();
        let (tau, beta, lr) = (
            schedule::tau(c, step),
            schedule::beta(c, step),
            schedule::lr(c, step) * state.lr_scale,
        );
        let idx = batch_indices(&split.train, c.seed, step, c.batch);
        let x = data.batch(&idx, &ad);
        let xm = model::map_pixels(x.clone());
        let mut rng = ChaCha8Rng::seed_from_u64(step_seed(c.seed, step));
        if step == 0 && m.family == Family::Vqvae && c.vq.kmeans_init {
            model = family::kmeans_init(model, xm.clone(), &mut rng);
        }
        let noise = family::noise(m, c, idx.len(), &mut rng, &ad);
        let args = model::QuantizerArgs {
            tau,
            hard: c.hard,
            vq: &c.vq,
        };
        let (z_e, q, out) = model.forward_with(xm.clone(), &model.quantizer(&args, noise));
        let recon = match m.recon_loss {
            ReconLoss::LogitLaplace => loss::logit_laplace_nll(out, xm),
            ReconLoss::Mse => loss::mse_from_logits(out, x),
        };
        let latent = q.latent_loss.clone();
        let mut total = match family::latent_term(m, c, step, &z_e, &q) {
            Some(t) => recon.clone() + t,
            None => recon.clone(),
        };
        let done = step + 1;
        if let Some(i) = inject.iter().position(|&s| s == done) {
            inject.swap_remove(i);
            total = total * f64::NAN;
        }
        let loss_value = total.clone().into_scalar::<f32>() as f64;
        let grads = loss_value
            .is_finite()
            .then(|| GradientsParams::from_grads(total.backward(), &model));
        let grad_norm = grads
            .as_ref()
            .map_or(f64::NAN, |g| params::grad_norm(&model, g));
        // A non-finite step is not applied: the run goes back to its last good state, once.
        let mut grads = match grads {
            Some(g) if grad_norm.is_finite() => g,
            g => {
                let what = if g.is_none() { "loss" } else { "gradient norm" };
                if let Some(rolled_back_to) = state.rolled_back_to {
                    return Err(Error::NonFiniteAgain {
                        what: what.into(),
                        step: done,
                        rolled_back_to,
                    });
                }
                let (restored, mut back) = restore(run, config, &ad)?;
                (model, ema, optim) = restored;
                back.lr_scale = state.lr_scale * 0.5;
                back.rolled_back_to = Some(back.step);
                state = back;
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
        };
        let log_now = done % c.log_every == 0 || done == c.steps || done == start + 1;
        // The encoder's and decoder's norms are only logged: read back on logged steps.
        let part_norms = log_now.then(|| {
            (
                params::grad_norm(&model.encoder, &grads),
                params::grad_norm(&model.decoder, &grads),
            )
        });
        if let Some(max) = c.grad_clip
            && grad_norm > max
        {
            params::scale_grads(&model, &mut grads, max / grad_norm);
        }
        model = optim.step(lr, model, grads);
        // Tokens on the host: the VQ-VAE's codebook updates need them every step, the log
        // only on logged steps.
        let ids = q
            .indices
            .filter(|_| log_now || m.family == Family::Vqvae)
            .map(|t| int_values(t.inner()));
        model = family::after_step(model, c, step, z_e.inner(), ids.as_deref(), &mut rng);
        ema = params::ema_update(ema, &model.valid(), params::ema_decay_at(c.ema_decay, step));

        if let Some((enc_grad_norm, dec_grad_norm)) = part_norms {
            let usage = ids.map_or(f64::NAN, |ids| {
                metrics::code_stats(&metrics::histogram(&ids, m.vocab_size)).usage
            });
            let entry = StepLog {
                step: done,
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
                img_s: idx.len() as f64 / t0.elapsed().as_secs_f64(),
            };
            write_log(&mut log, run, "step", &entry)?;
            observer(Event::Step(&entry));
        }

        if done % c.checkpoint_every == 0 || done == c.steps {
            let report = evaluate_and_grid(run, config, data, &split, &ema, device, done)?;
            write_log(
                &mut log,
                run,
                "eval",
                &EvalLine {
                    step: done,
                    report: &report,
                },
            )?;
            observer(Event::Eval {
                step: done,
                report: &report,
            });
            last_eval = Some(report);
            crate::pipeline::save_weights(&ema, &run.weights())?;
            state.step = done;
            checkpoint::save(run, &state, &model, &ema, &optim)?;
            crate::report::write_curves_png(run)?;
            observer(Event::Checkpoint { step: done });
        }
        step = done;
    }
    Ok(TrainSummary {
        steps: c.steps,
        eval: last_eval,
    })
}

#[derive(Serialize)]
struct EvalLine<'a> {
    step: usize,
    #[serde(flatten)]
    report: &'a EvalReport,
}

fn write_log(
    file: &mut std::fs::File,
    run: &RunDir,
    kind: &str,
    entry: &impl Serialize,
) -> Result<()> {
    let mut v = serde_json::to_value(entry).expect("log entry serialises");
    v["kind"] = kind.into();
    writeln!(file, "{v}").map_err(|e| Error::io(run.log(), e))
}

/// Scores the EMA model on the held-out images and writes `recon.png` (originals above
/// reconstructions) and a copy of it in `grids/` for this step.
fn evaluate_and_grid(
    run: &RunDir,
    config: &RunConfig,
    data: &ImageSet,
    split: &Split,
    ema: &DvaeModel,
    device: &Device,
    step: usize,
) -> Result<EvalReport> {
    let eval_idx: Vec<usize> = if split.holdout.is_empty() {
        split.train.clone()
    } else {
        split.holdout.clone()
    };
    let eval_idx = &eval_idx[..eval_idx.len().min(EVAL_IMAGES)];
    let dvae = Dvae::from_model(config.clone(), ema.clone(), device);
    let (recons, report) = dvae.evaluate(data, eval_idx, config.train.batch)?;
    let n = eval_idx.len().min(GRID_IMAGES);
    let s = config.model.image_size;
    let mut tiles: Vec<Vec<u8>> = eval_idx[..n].iter().map(|&i| data.image(i)).collect();
    tiles.extend(recons.into_iter().take(n).map(|r| r.pixels));
    let (w, h, px) = grid::tile(&tiles, s, n.max(1));
    let grids = run.root.join("grids");
    std::fs::create_dir_all(&grids).map_err(|e| Error::io(&grids, e))?;
    crate::data::image_io::save_png(
        &grids.join(format!("recon-step-{step:08}.png")),
        w,
        h,
        px.clone(),
    )?;
    crate::data::image_io::save_png(&run.root.join("recon.png"), w, h, px)?;
    Ok(report)
}
