//! `dvae sample`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use dvae::prior::generate::{Request, generate};
use dvae::prior::sampling::SampleOptions;
use dvae::prior::store::PriorDir;
use dvae::tokens::{self, TokenGrids};

/// Sample token grids from a prior with Gumbel-Max (the exact discrete sampler) and decode
/// them with the tokenizer: OUT/000000.png, …, OUT/grid.png and OUT/tokens.npy.
#[derive(Parser)]
pub struct Args {
    /// Run directory of the tokenizer the prior was trained on.
    #[arg(long)]
    run: PathBuf,
    /// Prior directory written by `dvae prior train`.
    #[arg(long)]
    prior: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 16)]
    n: usize,
    /// Class to draw (a name from the prior's data, or its index); conditional priors only.
    #[arg(long)]
    class: Option<String>,
    /// Softmax temperature (0: the most likely token at every step).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Keep only the K most likely tokens at each step.
    #[arg(long)]
    top_k: Option<usize>,
    /// Keep the most likely tokens up to probability P at each step (nucleus sampling).
    #[arg(long)]
    top_p: Option<f64>,
    /// Classifier-free guidance scale with --class (1: none).
    #[arg(long, default_value_t = 1.0)]
    guidance: f64,
    /// Seed of every draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Re-run the transformer on the whole prefix at every token instead of using its
    /// key/value cache (same samples, slower; for measuring the cache).
    #[arg(long)]
    no_cache: bool,
    /// Complete this image: keep the top --keep-rows rows of its tokens, sample the rest.
    #[arg(long, requires = "keep_rows")]
    complete: Option<PathBuf>,
    /// Token rows kept with --complete.
    #[arg(long)]
    keep_rows: Option<usize>,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    device: super::DeviceArg,
}

pub fn run(a: Args) -> Result<()> {
    let dir = PriorDir::new(&a.prior);
    let file = dir.read()?;
    let dvae = a.device.load(&a.run)?;
    super::check_prior_fits(&file, &dvae, &a.prior)?;
    if a.n == 0 {
        bail!("--n must be at least 1");
    }
    let class = match &a.class {
        None => None,
        Some(_) if file.class_names.is_empty() => bail!(
            "{}: this prior is unconditional (its data had no class labels); drop --class",
            a.prior.display()
        ),
        Some(c) => Some(labels(&file.class_names).find(c).ok_or_else(|| {
            anyhow::anyhow!(
                "--class {c:?}: not one of this prior's classes ({})",
                file.class_names.join(", ")
            )
        })?),
    };
    let g = file.model.grid;
    let prefix = match (&a.complete, a.keep_rows) {
        (Some(image), Some(rows)) => {
            if rows > g {
                bail!("--keep-rows {rows}: the token grid has only {g} rows");
            }
            let m = &dvae.config.model;
            let set = super::load_inputs(std::slice::from_ref(image), m.image_size)?;
            let grid = dvae.encode_set(&set, &[0], 1)?;
            let kept = &grid.ids[..rows * g];
            Some(kept.repeat(a.n))
        }
        _ => None,
    };
    let device = a.device.device()?;
    let prior = dir.load(&file, &device)?;
    let req = Request {
        n: a.n,
        class,
        options: SampleOptions {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            guidance: a.guidance,
        },
        seed: a.seed,
        prefix: prefix.as_deref(),
        use_cache: !a.no_cache,
    };
    let out = generate(&prior, &file.model, &req, &device)?;
    let grids = TokenGrids {
        n: a.n,
        h: g,
        w: g,
        ids: out.ids.clone(),
    };
    let images = dvae.decode_grids(&grids, 16)?;
    super::write_images(&a.out, &images, dvae.config.model.image_size)?;
    tokens::write_npy(&a.out.join("tokens.npy"), &grids)?;
    println!(
        "sampled {} images ({} tokens each, {:.0} tokens/s{}) into {}",
        a.n,
        g * g,
        out.tokens_per_s,
        if out.cached { ", key/value cache" } else { "" },
        a.out.display()
    );
    let q = out.quarter_ms();
    println!(
        "ms per token step, by quarter of the grid: {:.2} {:.2} {:.2} {:.2}",
        q[0], q[1], q[2], q[3]
    );
    Ok(())
}

/// Class names as labels (to look one up by name or index).
fn labels(names: &[String]) -> dvae::data::Labels {
    dvae::data::Labels {
        ids: Vec::new(),
        names: names.to_vec(),
    }
}
