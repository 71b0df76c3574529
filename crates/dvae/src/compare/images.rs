//! The comparison's pictures: each model's samples from its own prior, and one sheet of
//! held-out originals above every model's reconstructions, each row named.

use std::path::Path;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::row::Trained;
use crate::artifact::RunDir;
use crate::data::ImageSet;
use crate::data::image_io::save_png;
use crate::error::Result;
use crate::grid;
use crate::kernels::host::float_values;
use crate::model::pixels::output_to_pixels;
use crate::pipeline::Tokenizer;
use crate::report::sheet::labelled_rows;

/// Samples 16 images from the family's own prior into `samples.png` (nothing for the AE).
pub(super) fn write_samples(run: &RunDir, device: &Device) -> Result<()> {
    let dvae = Tokenizer::load_on(&run.root, device)?;
    let m = &dvae.config.model;
    let mut rng = ChaCha8Rng::seed_from_u64(dvae.config.train.seed ^ 0x5a3b1e);
    let Some(out) = dvae.model.sample_prior(16, &mut rng) else {
        return Ok(());
    };
    let px = float_values(output_to_pixels(out, m.input_channels));
    let s = m.image_size;
    let tiles: Vec<Vec<u8>> = px
        .chunks(3 * s * s)
        .map(|c| grid::chw_to_hwc(c, s))
        .collect();
    let (w, h, png) = grid::tile(&tiles, s, 8);
    save_png(&run.root.join("samples.png"), w, h, png)
}

/// `out/recon.png`: images `idx` of `set` in the first row ("originals"), then one row of
/// reconstructions per model, named with the model and its PSNR over these images.
pub(super) fn write_side_by_side(
    trained: &[Trained],
    set: &ImageSet,
    idx: &[usize],
    out: &Path,
    device: &Device,
) -> Result<()> {
    let mut rows = vec![(
        vec!["originals".to_string()],
        idx.iter().map(|&i| set.image(i)).collect::<Vec<_>>(),
    )];
    for t in trained {
        let dvae = Tokenizer::load_on(out.join(&t.variant.name), device)?;
        let (recons, report) = dvae.evaluate(set, idx, idx.len().max(1))?;
        rows.push((
            vec![t.variant.name.clone(), format!("{:.1} dB", report.psnr)],
            recons.into_iter().map(|r| r.pixels).collect(),
        ));
    }
    let (w, h, png) = labelled_rows(&rows, set.size(), idx.len().max(1));
    save_png(&out.join("recon.png"), w, h, png)
}
