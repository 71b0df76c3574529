//! One module per subcommand, plus shared helpers.

pub mod bench;
pub mod compare;
pub mod decode;
pub mod encode;
pub mod eval;
pub mod family_flags;
pub mod gumbel;
pub mod import_openai;
pub mod merge_tokens;
pub mod pack;
pub mod prior;
pub mod reconstruct;
pub mod report;
pub mod resume_rule;
pub mod sample;
pub mod signals;
pub mod train;
pub mod train_flags;

use std::path::{Path, PathBuf};

use anyhow::Result;
use dvae::data::ImageSet;
use dvae::data::image_io;
use dvae::kernels::device::DeviceSpec;

/// The trained model a command runs, and its batch size.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Run directory of a trained model.
    #[arg(long)]
    pub run: PathBuf,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[command(flatten)]
    pub device: DeviceArg,
}

impl ModelArgs {
    /// Loads the run's model on its device.
    pub fn load(&self) -> Result<dvae::Tokenizer> {
        self.device.load(&self.run)
    }
}

/// `--device`: where a command runs.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct DeviceArg {
    /// cpu (this crate's kernels), wgpu, wgpu:N, wgpu:cpu or cuda[:N] (Burn's generic
    /// operations; a build with that feature) [default: $DVAE_DEVICE, else cpu].
    #[arg(long)]
    pub device: Option<DeviceSpec>,
}

impl DeviceArg {
    /// The Burn device the flag (or `DVAE_DEVICE`) names.
    pub fn device(&self) -> Result<burn::prelude::Device> {
        Ok(DeviceSpec::resolve(self.device)?.device()?)
    }

    /// Loads the run in `dir` on this device.
    pub fn load(&self, dir: &std::path::Path) -> Result<dvae::Tokenizer> {
        Ok(dvae::Tokenizer::load_on(dir, &self.device()?)?)
    }
}

/// Expands files and folders (recursively) into image paths, in order.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    Ok(image_io::expand_inputs(inputs)?)
}

/// Loads explicitly named images; an unreadable one is an error naming it.
pub fn load_inputs(inputs: &[PathBuf], size: usize) -> Result<ImageSet> {
    Ok(ImageSet::from_files(&expand_inputs(inputs)?, size)?)
}

/// Prints what a folder load skipped: a count and the first few names.
pub fn report_skipped(set: &ImageSet) {
    report_skipped_files(&set.skipped);
}

/// Prints a count and the first few of `skipped` (path, reason) files.
pub fn report_skipped_files(skipped: &[(PathBuf, String)]) {
    if skipped.is_empty() {
        return;
    }
    eprintln!(
        "warning: skipped {} files that are not readable images:",
        skipped.len()
    );
    for (p, why) in skipped.iter().take(5) {
        // The reason is usually a library error, which starts with the path already.
        if why.starts_with(&p.display().to_string()) {
            eprintln!("  {why}");
        } else {
            eprintln!("  {}: {why}", p.display());
        }
    }
    if skipped.len() > 5 {
        eprintln!(
            "  … and {} more (use --strict to stop at the first)",
            skipped.len() - 5
        );
    }
}

/// Creates `dir` (and parents).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create folder: {e}", dir.display()))
}

/// Writes `images` (HWC RGB, `size`×`size`) as OUT/000000.png, … and a square OUT/grid.png.
pub fn write_images(out: &Path, images: &[Vec<u8>], size: usize) -> Result<()> {
    ensure_dir(out)?;
    for (i, img) in images.iter().enumerate() {
        image_io::save_png(&out.join(format!("{i:06}.png")), size, size, img.clone())?;
    }
    let cols = (images.len() as f64).sqrt().ceil() as usize;
    let (w, h, px) = dvae::grid::tile(images, size, cols);
    image_io::save_png(&out.join("grid.png"), w, h, px)?;
    Ok(())
}

/// Refuses a prior trained on another tokenizer's token grids.
pub fn check_prior_fits(
    file: &dvae::prior::store::PriorFile,
    dvae: &dvae::Tokenizer,
    prior: &Path,
) -> Result<()> {
    let m = &dvae.config.model;
    let p = &file.model;
    if (p.vocab_size, p.grid) != (m.vocab_size, m.grid_size()) {
        anyhow::bail!(
            "{}: the prior models {}x{} grids of {} codes, but this tokenizer makes {}x{} grids of {} codes",
            prior.display(),
            p.grid,
            p.grid,
            p.vocab_size,
            m.grid_size(),
            m.grid_size(),
            m.vocab_size
        );
    }
    Ok(())
}

/// Prints `line` above the progress bar, or plainly when the bar is hidden (output not a
/// terminal), so that logs keep it.
pub fn say(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}
