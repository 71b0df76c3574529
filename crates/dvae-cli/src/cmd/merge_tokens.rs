//! `dvae merge-tokens`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dvae::token_shards;

/// Joins the token files of `dvae encode --shard I/N` (OUT-0-of-N.npy … OUT-(N-1)-of-N.npy,
/// each with its .json of input paths) into one .npy and .json, in input order: the files
/// one unsharded `dvae encode` writes. Missing, repeated or mismatched shards are refused.
#[derive(Parser)]
pub struct Args {
    /// The N shard files, in any order (e.g. tokens-*-of-4.npy).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Output .npy file (its paths go to the same name with .json).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let (grids, paths) = token_shards::merge(&a.shards)?;
    token_shards::write(&a.out, &grids, &paths)?;
    println!(
        "merged {} shards: {} images of {}x{} tokens in {} (paths in {})",
        a.shards.len(),
        grids.n,
        grids.h,
        grids.w,
        a.out.display(),
        token_shards::paths_file(&a.out).display()
    );
    Ok(())
}
