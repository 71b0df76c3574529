//! `dvae reconstruct`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dvae::data::image_io::save_png;

/// Image → tokens → image: writes OUT/grid.png (originals above reconstructions, 8 per
/// row), each reconstruction, and prints per-image PSNR.
#[derive(Parser)]
pub struct Args {
    #[command(flatten)]
    model: super::ModelArgs,
    /// Image files or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let dvae = a.model.load()?;
    let s = dvae.config.model.image_size;
    let set = super::load_inputs(&a.inputs, s)?;
    super::ensure_dir(&a.out)?;
    let mut psnrs = Vec::new();
    let mut tiles = Vec::new();
    let idx: Vec<usize> = (0..set.len()).collect();
    for chunk in idx.chunks(8) {
        let (recons, _) = dvae.evaluate(&set, chunk, a.model.batch)?;
        for (&i, r) in chunk.iter().zip(&recons) {
            println!("{:7.2} dB  {}", r.psnr, set.name(i));
            psnrs.push(r.psnr);
            save_png(&a.out.join(format!("{i:06}.png")), s, s, r.pixels.clone())?;
        }
        // One band per chunk: originals above reconstructions.
        tiles.extend(chunk.iter().map(|&i| set.image(i)));
        tiles.extend((chunk.len()..8).map(|_| vec![255u8; s * s * 3]));
        tiles.extend(recons.into_iter().map(|r| r.pixels));
        tiles.extend((chunk.len()..8).map(|_| vec![255u8; s * s * 3]));
    }
    let (w, h, px) = dvae::grid::tile(&tiles, s, 8);
    save_png(&a.out.join("grid.png"), w, h, px)?;
    let mean = psnrs.iter().sum::<f64>() / psnrs.len().max(1) as f64;
    println!(
        "mean PSNR {mean:.2} dB over {} images; grid in {}",
        psnrs.len(),
        a.out.join("grid.png").display()
    );
    Ok(())
}
