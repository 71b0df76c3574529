//! `dvae encode`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dvae::token_shards::{self, Shard};
use dvae::tokens::TokenGrids;

/// Images (files or folders) → token grids: an .npy of shape [N, h, w] (u16), and
/// OUT.json listing the input paths in order.
#[derive(Parser)]
#[command(after_help = SHARDS)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Image files or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output .npy file.
    #[arg(long)]
    out: PathBuf,
    /// Tokenize only the I-th of N equal slices of the inputs (I from 0, as
    /// SLURM_ARRAY_TASK_ID counts), into OUT-I-of-N.npy and OUT-I-of-N.json.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
}

const SHARDS: &str = "\
Shards: --shard I/N takes the I-th (0-based) of N contiguous slices of the inputs, in the \
order an unsharded run reads them (sizes differ by at most one; a slice may be empty). Run \
the N of them with the same inputs and --out (e.g. a slurm array: --shard \
$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT), then `dvae merge-tokens OUT-*-of-N.npy --out \
OUT.npy` joins them into the files one unsharded run writes, byte for byte.";

pub fn run(a: Args) -> Result<()> {
    let dvae = a.model.load()?;
    let mut paths = super::expand_inputs(&a.inputs)?;
    let total = paths.len();
    let out = match a.shard {
        Some(shard) => {
            let r = shard.range(total);
            paths = paths[r].to_vec();
            shard.file(&a.out)
        }
        None => a.out.clone(),
    };
    let grids = if paths.is_empty() {
        // An empty slice: a shard of fewer inputs than shards.
        let g = dvae.config.model.grid_size();
        TokenGrids {
            n: 0,
            h: g,
            w: g,
            ids: Vec::new(),
        }
    } else {
        let set = dvae::data::ImageSet::from_files(&paths, dvae.config.model.image_size)?;
        let idx: Vec<usize> = (0..set.len()).collect();
        dvae.encode_set(&set, &idx, a.model.batch)?
    };
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    token_shards::write(&out, &grids, &names)?;
    let of = a
        .shard
        .map(|s| format!(" (shard {}/{} of {total} inputs)", s.index, s.count))
        .unwrap_or_default();
    println!(
        "encoded {} images{of} to {}x{} tokens: {} (paths in {})",
        grids.n,
        grids.h,
        grids.w,
        out.display(),
        token_shards::paths_file(&out).display()
    );
    Ok(())
}
