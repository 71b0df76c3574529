//! `dvae pack`: a folder (or a generated data set) → WebDataset tar shards, every image
//! validated on the way.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use dvae::data::DataSource;
use dvae::data::pack::{PackFormat, PackOptions, pack};

/// Write a data set as WebDataset tar shards (KEY.jpg/png + KEY.cls), for `dvae train
/// --data 'OUT/PREFIX-{000000..N}.tar'` or `--data OUT`. Every image is decoded once:
/// the unreadable ones are listed and left out (--strict: the first one is an error; shards already complete are kept).
#[derive(Parser)]
pub struct Args {
    /// A folder of images (class subfolders become .cls), or default / mnist:PATH /
    /// cifar10:PATH.
    pub input: String,
    /// Folder to write the shards into.
    #[arg(long)]
    pub out: PathBuf,
    /// Samples a shard.
    #[arg(long, default_value_t = 5000)]
    pub shard_size: usize,
    /// Shard names: PREFIX-000000.tar, PREFIX-000001.tar, ...
    #[arg(long, default_value = "train")]
    pub prefix: String,
    /// keep (a file's own bytes; generated images as PNG), png, or jpeg.
    #[arg(long, default_value = "keep")]
    pub format: String,
    /// JPEG quality (1-100) with --format jpeg.
    #[arg(long, default_value_t = 90)]
    pub quality: u8,
    /// Resize (short side) and centre-crop every image to this size first (generated data
    /// is drawn at it; default 64 for `default`).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Images of a generated source (`default`); a folder packs all of its files.
    #[arg(long)]
    pub count: Option<usize>,
    /// Fail at the first unreadable file instead of leaving it out.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(a: Args) -> Result<()> {
    let format = match a.format.as_str() {
        "keep" => PackFormat::Keep,
        "png" => PackFormat::Png,
        "jpeg" | "jpg" => PackFormat::Jpeg(a.quality),
        other => bail!("--format {other:?}: expected keep, png or jpeg"),
    };
    let opts = PackOptions {
        shard_size: a.shard_size,
        prefix: a.prefix.clone(),
        format,
        size: a.image_size,
        count: a.count,
        strict: a.strict,
    };
    let source = DataSource::parse(&a.input);
    let report = pack(&source, &a.out, &opts).with_context(|| format!("packing {}", a.input))?;
    super::report_skipped_files(&report.bad);
    let last = report.shards.len().saturating_sub(1);
    println!(
        "packed {} images into {} shards: {}/{}-{{{:06}..{last:06}}}.tar",
        report.samples,
        report.shards.len(),
        a.out.display(),
        a.prefix,
        0
    );
    Ok(())
}
