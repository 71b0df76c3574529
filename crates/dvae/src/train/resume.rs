//! The state a run starts from, resumes from or rolls back to: the initial model, optimizer
//! and EMA of a seed, or a run directory's newest checkpoint; and its log cut back to match.

use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::prelude::*;

use super::checkpoint::{self, TrainState};
use crate::artifact::RunDir;
use crate::error::{Error, Result};
use crate::kernels::engine::Engine;
use crate::model::Network;
use crate::run_config::RunConfig;

/// The optimizer `train` uses for `c`: AdamW with its betas, ε and weight decay.
pub(crate) fn adamw(c: &crate::config::TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(c.adam_beta1 as f32)
        .with_beta_2(c.adam_beta2 as f32)
        .with_epsilon(c.adam_eps as f32)
        .with_weight_decay(c.weight_decay as f32)
        .init()
}

/// The network being trained, its weight EMA and the optimizer.
pub(crate) type Trainable = (Network, Network, ModuleOptimizer);

/// The model, its EMA copy and the optimizer at step 0: everything a function of the seed.
pub(super) fn initial(config: &RunConfig, ad: &Device, engine: Engine) -> Trainable {
    let c = &config.train;
    let model = Network::new(&config.model, &config.bottleneck, c.seed, ad, engine);
    let ema = model.valid();
    (model, ema, adamw(c))
}

/// The state of `run`'s newest checkpoint, or the initial one where it has none.
pub(super) fn restore(
    run: &RunDir,
    config: &RunConfig,
    ad: &Device,
    engine: Engine,
) -> Result<(Trainable, TrainState)> {
    let (model, ema, optim) = initial(config, ad, engine);
    let Some((dir, state)) = checkpoint::latest(run)? else {
        return Ok(((model, ema, optim), TrainState::at(0)));
    };
    let (model, ema) = checkpoint::load_models(&dir, model)?;
    let p = dir.join(checkpoint::OPTIM);
    let optim = optim
        .load(&p)
        .map_err(|e| Error::run(&p, format!("cannot read optimizer state: {e}")))?;
    Ok(((model, ema, optim), state))
}

pub(super) fn open_log(run: &RunDir) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.log())
        .map_err(|e| Error::io(run.log(), e))
}

/// Drops log lines after `step` (written after the checkpoint a run resumes from).
pub(super) fn truncate_log(run: &RunDir, step: usize) -> Result<()> {
    let path = run.log();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s as usize <= step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::atomic::write_bytes_atomic(&path, kept.as_bytes())
}
