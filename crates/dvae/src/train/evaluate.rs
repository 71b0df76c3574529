//! Held-out evaluation during training, and the run's log lines.

use std::io::Write;

use burn::prelude::*;
use serde::Serialize;

use crate::artifact::RunDir;
use crate::data::{ImageSet, Split};
use crate::error::{Error, Result};
use crate::grid;
use crate::model::Network;
use crate::pipeline::{EvalReport, Tokenizer};
use crate::run_config::RunConfig;

/// Held-out images scored at each evaluation (the first ones of the split).
pub const EVAL_IMAGES: usize = 256;
/// Images shown in a reconstruction grid.
pub const GRID_IMAGES: usize = 16;

#[derive(Serialize)]
struct EvalLine<'a> {
    step: usize,
    #[serde(flatten)]
    report: &'a EvalReport,
}

pub(super) fn write_log(
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
pub(super) fn evaluate_and_grid(
    run: &RunDir,
    config: &RunConfig,
    data: &ImageSet,
    split: &Split,
    ema: &Network,
    device: &Device,
    step: usize,
) -> Result<EvalReport> {
    let eval_idx: Vec<usize> = if split.holdout.is_empty() {
        split.train.clone()
    } else {
        split.holdout.clone()
    };
    let eval_idx = &eval_idx[..eval_idx.len().min(EVAL_IMAGES)];
    let dvae = Tokenizer::from_model(config.clone(), ema.clone(), device);
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

/// Appends the evaluation at `step` to the log.
pub(super) fn write_eval(
    file: &mut std::fs::File,
    run: &RunDir,
    step: usize,
    report: &EvalReport,
) -> Result<()> {
    write_log(file, run, "eval", &EvalLine { step, report })
}
