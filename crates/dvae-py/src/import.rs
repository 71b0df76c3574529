//! `dvae.import_openai`: OpenAI's published dVAE pickles into a run directory, as
//! `dvae import-openai` writes it.

use std::path::PathBuf;

use burn::prelude::Device;
use dvae::import::openai::import_openai as import;
use pyo3::prelude::*;

use crate::errors::{DvaeError, guard, to_py};

/// OpenAI's DALL·E dVAE (``encoder.pkl`` / ``decoder.pkl``, whole ``dall_e`` modules saved
/// by ``torch.save``) into a run directory, read as data: no Python pickle is run, and a
/// pickle that names anything but PyTorch's and dall_e's own classes is refused.
///
/// encoder, decoder: the pickles; either alone gives an encoder-only or decoder-only run.
/// out: run directory to write (config.json, model.safetensors, import.json).
/// image_size: side of the square images the run takes (DALL·E: 256).
///
/// Returns ``out``, for ``Tokenizer.load``.
#[pyfunction]
#[pyo3(signature = (*, encoder = None, decoder = None, out, image_size = 256))]
pub fn import_openai(
    py: Python<'_>,
    encoder: Option<PathBuf>,
    decoder: Option<PathBuf>,
    out: PathBuf,
    image_size: usize,
) -> PyResult<String> {
    guard(|| {
        if out.join("config.json").exists() {
            return Err(DvaeError::new_err(format!(
                "{}: already holds a run (config.json); choose another out",
                out.display()
            )));
        }
        py.detach(|| {
            let imported = import(
                encoder.as_deref(),
                decoder.as_deref(),
                image_size,
                &Device::flex(),
            )?;
            imported.write_run(&out)
        })
        .map_err(to_py)?;
        Ok(out.display().to_string())
    })
}
