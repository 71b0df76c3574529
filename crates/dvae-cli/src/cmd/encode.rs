//! `dvae encode`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dvae::tokens;

/// Images (files or folders) → token grids: an .npy of shape [N, h, w] (u16), and
/// OUT.json listing the input paths in order.
#[derive(Parser)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Image files or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output .npy file.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let dvae = a.model.load()?;
    let paths = super::expand_inputs(&a.inputs)?;
    let set = dvae::data::ImageSet::from_files(&paths, dvae.config.model.image_size)?;
    let idx: Vec<usize> = (0..set.len()).collect();
    let grids = dvae.encode_set(&set, &idx, a.model.batch)?;
    tokens::write_npy(&a.out, &grids)?;
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let list = a.out.with_extension("json");
    dvae::atomic::write_bytes_atomic(&list, serde_json::to_string_pretty(&names)?.as_bytes())?;
    println!(
        "encoded {} images to {}x{} tokens: {} (paths in {})",
        grids.n,
        grids.h,
        grids.w,
        a.out.display(),
        list.display()
    );
    Ok(())
}
