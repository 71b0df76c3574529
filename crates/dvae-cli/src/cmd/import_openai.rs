//! `dvae import-openai`.

use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::Device;
use clap::Parser;
use dvae::import::openai::import_openai;
use dvae::weights::Halves;

/// OpenAI's published dVAE (`encoder.pkl`, `decoder.pkl`: whole `dall_e` modules saved by
/// `torch.save`) → a run directory for encode, decode, reconstruct and eval. No Python
/// needed; a pickle that would run anything other than PyTorch's and dall_e's own classes is
/// refused. Either file alone gives an encoder-only or decoder-only run.
#[derive(Parser)]
pub struct Args {
    /// OpenAI's encoder.pkl (a `dall_e.encoder.Encoder`).
    #[arg(long, required_unless_present = "decoder")]
    encoder: Option<PathBuf>,
    /// OpenAI's decoder.pkl (a `dall_e.decoder.Decoder`).
    #[arg(long)]
    decoder: Option<PathBuf>,
    /// Run directory to write (config.json, model.safetensors, import.json).
    #[arg(long)]
    out: PathBuf,
    /// Side of the square images the run takes (DALL·E: 256; resized short side, centre crop).
    #[arg(long, default_value_t = 256)]
    image_size: usize,
}

pub fn run(a: Args) -> Result<()> {
    if a.out.join("config.json").exists() {
        anyhow::bail!(
            "{}: already holds a run (config.json); choose another --out",
            a.out.display()
        );
    }
    let imported = import_openai(
        a.encoder.as_deref(),
        a.decoder.as_deref(),
        a.image_size,
        &Device::flex(),
    )?;
    imported.write_run(&a.out)?;
    let m = &imported.config.model;
    let what = match imported.halves {
        Halves::Both => "encoder and decoder",
        Halves::Encoder => "encoder only (decode needs --decoder too)",
        Halves::Decoder => "decoder only (encode needs --encoder too)",
    };
    println!(
        "imported {what}: group_count {} n_hid {} n_blk_per_group {} vocab_size {} n_init {} \
         image {}x{} -> {}x{} tokens",
        m.group_count,
        m.n_hid,
        m.n_blk_per_group,
        m.vocab_size,
        m.n_init,
        m.image_size,
        m.image_size,
        m.grid_size(),
        m.grid_size()
    );
    println!("wrote {}", a.out.display());
    Ok(())
}
