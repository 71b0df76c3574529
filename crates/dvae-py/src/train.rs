//! `dvae.train`: `dvae train` from Python. The loop runs on a thread of its own with the
//! GIL released; the calling thread waits for its steps, hands each logged one to
//! `on_step`, and checks for Ctrl-C meanwhile. Ctrl-C (or an exception from `on_step`)
//! sets the loop's stop flag: it writes a checkpoint and returns, and the exception is
//! raised then, with the run resumable.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use burn::prelude::Device;
use dvae::artifact::RunDir;
use dvae::train::{Event, RunData, StepLog, TrainOptions};
use pyo3::exceptions::{PyKeyboardInterrupt, PyUserWarning};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{DvaeError, guard, internal, to_py, to_py_with, value_error};
use crate::json;
use crate::train_config::Given;

/// How often the waiting thread looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(100);

/// What the loop's thread tells the waiting one.
enum Msg {
    /// A logged step.
    Step(StepLog),
    /// A warning line (a rolled-back step).
    Warning(String),
}

/// Trains a tokenizer into the run directory ``out``, as ``dvae train --out OUT`` does.
///
/// out: run directory to write (config.json, model.safetensors, checkpoints, log.jsonl,
///     recon.png, curves.png).
/// resume: continue the run in ``out`` from its last checkpoint (its config.json is used;
///     only ``steps`` may be given, to extend it, and ``checkpoint_every_minutes``).
/// strict: stop at the first unreadable file of a data folder instead of skipping it.
/// on_step: called with a dict of each logged step (every ``log_every`` steps, the first
///     and the last): step, loss, recon, kl, tau, beta, lr, usage, grad_norm,
///     enc_grad_norm, dec_grad_norm, img_s, step_s, data_wait_s. An exception it raises
///     stops the run after a checkpoint and is raised here.
/// **config: the flags of ``dvae train`` with ``_`` for ``-``: preset ("small"), data
///     ("default", a folder, "mnist:PATH", "cifar10:PATH", tar shards such as
///     "shards/train-{000000..000009}.tar", streamed), eval_data, stream, shuffle_buffer,
///     crop_scale ([lo, hi]), hflip, steps, batch, seed, recipe,
///     family, loss, lr, image_size, …, and each family's own (tau_start, commitment, …).
///
/// Sets the process's allocator as ``retain_freed_memory`` does, as ``dvae train`` does.
///
/// Returns {"steps": N, "eval": the last held-out evaluation (the keys of ``dvae eval
/// --json``) or None, "run_dir": out}. Ctrl-C writes a checkpoint, then raises
/// KeyboardInterrupt; ``resume=True`` continues the run.
#[pyfunction]
#[pyo3(signature = (out, *, resume = false, strict = false, on_step = None, **config))]
pub fn train<'py>(
    py: Python<'py>,
    out: PathBuf,
    resume: bool,
    strict: bool,
    on_step: Option<Bound<'py, PyAny>>,
    config: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let empty = PyDict::new(py);
        let given = Given::new(config.unwrap_or(&empty))?;
        let checkpoint_interval = checkpoint_interval(&given)?;
        let run = RunDir::new(&out);
        let config = if resume {
            let other: Vec<String> = given
                .names()?
                .into_iter()
                .filter(|k| k != "steps" && k != "checkpoint_every_minutes")
                .collect();
            if !other.is_empty() {
                return Err(value_error(format!(
                    "with resume=True the run's config.json is used: only steps may be given, \
                     not {} (and checkpoint_every_minutes, which is not part of it)",
                    other.join(", ")
                )));
            }
            let mut c = run.read_config().map_err(to_py)?;
            if let Some(steps) = given.get::<usize>("steps")? {
                // Recorded in config.json by the training loop, under the run's lock.
                c.train.steps = steps;
                c.validate().map_err(to_py)?;
            }
            c
        } else {
            if run.weights().exists() || run.checkpoints().exists() {
                return Err(DvaeError::new_err(format!(
                    "{}: already holds a run; use resume=True to continue it or choose another out",
                    out.display()
                )));
            }
            given.resolve()?
        };
        let data = py
            .detach(|| RunData::open(&config, strict))
            .map_err(|e| to_py_with(e, &format!("loading data {:?}", config.data)))?;
        warn_skipped(py, &data.skipped())?;
        // The allocator settings of the `dvae` binary, which trains a fifth faster with them.
        dvae::alloc::retain_freed_memory();

        let stop = Arc::new(AtomicBool::new(false));
        let opts = TrainOptions {
            resume,
            stop: Some(stop.clone()),
            checkpoint_interval,
            engine: None,
            devices: Vec::new(),
            inject_nan: Vec::new(),
        };
        let (tx, mut rx) = channel();
        let thread_run = run.clone();
        let worker = std::thread::Builder::new()
            .name("dvae-train".into())
            .spawn(move || {
                let device = Device::flex();
                dvae::train::train(&thread_run, &config, data.as_train(), &device, &opts, |event| {
                    let msg = match event {
                        Event::Step(s) => Msg::Step(s.clone()),
                        Event::Rollback {
                            step,
                            what,
                            to_step,
                            lr_scale,
                        } => Msg::Warning(format!(
                            "step {step}: non-finite {what}; the step was not applied, training \
                             rolled back to step {to_step} with the learning rate ×{lr_scale}"
                        )),
                        _ => return,
                    };
                    let _ = tx.send(msg);
                })
            })
            .map_err(|e| DvaeError::new_err(format!("cannot start the training thread: {e}")))?;

        // The exception that stopped the run (Ctrl-C or on_step's), raised once it stopped.
        let mut pending: Option<PyErr> = None;
        // Nothing in this loop returns early: the thread is always waited for.
        loop {
            // The receiver goes to the waiting closure and back (it is Send, not Sync).
            let received;
            (received, rx) = py.detach(move || (rx.recv_timeout(POLL), rx));
            let handled = match received {
                Ok(Msg::Step(s)) => match (&on_step, &pending) {
                    (Some(f), None) => json::to_dict(py, &s).and_then(|d| f.call1((d,)).map(drop)),
                    _ => Ok(()),
                },
                Ok(Msg::Warning(w)) => warn(py, &w),
                Err(RecvTimeoutError::Timeout) => Ok(()),
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if pending.is_none()
                && let Err(e) = handled.and_then(|()| py.check_signals())
            {
                stop.store(true, Ordering::SeqCst);
                pending = Some(e);
            }
        }
        let result = py.detach(|| worker.join()).map_err(internal)?;
        match (result, pending) {
            (Err(dvae::Error::Interrupted { step }), Some(e)) => {
                if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                    Err(PyKeyboardInterrupt::new_err(format!(
                        "interrupted at step {step}; the run can be resumed with resume=True"
                    )))
                } else {
                    Err(e)
                }
            }
            (Err(e), _) => Err(to_py(e)),
            // Stopped after the last step had run: the run is complete, the exception stands.
            (Ok(_), Some(e)) => Err(e),
            (Ok(summary), None) => {
                let out_dict = PyDict::new(py);
                out_dict.set_item("steps", summary.steps)?;
                match &summary.eval {
                    Some(r) => out_dict.set_item("eval", json::to_dict(py, r)?)?,
                    None => out_dict.set_item("eval", py.None())?,
                }
                out_dict.set_item("run_dir", out.display().to_string())?;
                Ok(out_dict)
            }
        }
    })
}

/// `checkpoint_every_minutes` as a duration; not a positive number is a ValueError.
fn checkpoint_interval(given: &Given) -> PyResult<Option<Duration>> {
    let Some(m) = given.get::<f64>("checkpoint_every_minutes")? else {
        return Ok(None);
    };
    if !(m.is_finite() && m > 0.0) {
        return Err(value_error(format!(
            "checkpoint_every_minutes: expected a positive number of minutes, got {m}"
        )));
    }
    Ok(Some(Duration::from_secs_f64(m * 60.0)))
}

/// A `UserWarning` with `message`.
fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    PyErr::warn(
        py,
        &py.get_type::<PyUserWarning>(),
        &std::ffi::CString::new(message)?,
        1,
    )
}

/// Warns of the files a data folder skipped: a count and the first five, as the CLI does.
fn warn_skipped(py: Python<'_>, skipped: &[(PathBuf, String)]) -> PyResult<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    let mut lines = vec![format!(
        "skipped {} files that are not readable images:",
        skipped.len()
    )];
    for (p, why) in skipped.iter().take(5) {
        if why.starts_with(&p.display().to_string()) {
            lines.push(format!("  {why}"));
        } else {
            lines.push(format!("  {}: {why}", p.display()));
        }
    }
    if skipped.len() > 5 {
        lines.push(format!(
            "  … and {} more (use strict=True to stop at the first)",
            skipped.len() - 5
        ));
    }
    warn(py, &lines.join("\n"))
}
