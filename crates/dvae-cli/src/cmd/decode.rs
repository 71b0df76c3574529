//! `dvae decode`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dvae::tokens;

/// Token grids (.npy [N, h, w]) → PNG images OUT/000000.png, … and OUT/grid.png.
#[derive(Parser)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Token file written by `dvae encode` (or any integer .npy of that shape).
    tokens: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let dvae = a.model.load()?;
    let m = &dvae.config.model;
    let grids = tokens::read_npy(&a.tokens, m.vocab_size, m.grid_size())?;
    let images = dvae.decode_grids(&grids, a.model.batch)?;
    super::write_images(&a.out, &images, m.image_size)?;
    println!("decoded {} images into {}", images.len(), a.out.display());
    Ok(())
}
