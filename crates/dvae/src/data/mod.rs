//! Data sets: the embedded procedural default, image folders, MNIST and CIFAR-10, a
//! deterministic held-out split, and batching into tensors.

pub mod augment;
pub mod idx;
pub mod image_io;
pub mod labels;
pub mod loader;
pub mod pack;
pub mod procedural;
pub mod sharded;
pub mod shards;
pub mod stream;
pub mod tar_samples;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
pub use labels::Labels;

/// Seed of the embedded default data set: the same images for every run.
pub const DEFAULT_DATA_SEED: u64 = 0;

/// Where images come from, as written on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// The embedded procedural data set (`default`).
    Default,
    /// A folder of image files, searched recursively.
    Folder(PathBuf),
    /// An MNIST IDX3 image file or a folder with `train-images-idx3-ubyte` (`mnist:PATH`).
    Mnist(PathBuf),
    /// CIFAR-10 binary batches (`cifar10:PATH`).
    Cifar10(PathBuf),
    /// WebDataset tar shards: a `.tar`, a brace range (`train-{000..127}.tar`), a list
    /// file (`.txt`, `.shards`) or `shards:PATH` (see [`shards::shard_paths`]); a folder
    /// holding only `.tar` files is read as shards too. Training streams them.
    Shards(String),
}

impl DataSource {
    /// The shards this source names, as a spec for [`shards::shard_paths`]: shard specs,
    /// and folders holding only `.tar` files.
    pub fn shard_spec(&self) -> Option<String> {
        match self {
            DataSource::Shards(s) => Some(s.clone()),
            DataSource::Folder(d) if shards::is_shard_folder(d) => Some(d.display().to_string()),
            _ => None,
        }
    }

    /// Parses `default`, `mnist:PATH`, `cifar10:PATH`, shards or a folder path.
    pub fn parse(spec: &str) -> Self {
        if shards::is_shard_spec(spec) {
            DataSource::Shards(spec.to_string())
        } else if spec == "default" {
            DataSource::Default
        } else if let Some(p) = spec.strip_prefix("mnist:") {
            DataSource::Mnist(p.into())
        } else if let Some(p) = spec.strip_prefix("cifar10:") {
            DataSource::Cifar10(p.into())
        } else {
            DataSource::Folder(spec.into())
        }
    }
}

enum Storage {
    Procedural { len: usize },
    Memory { pixels: Vec<u8>, names: Vec<String> },
}

/// A set of `size`×`size` RGB images, indexable and batchable.
pub struct ImageSet {
    size: usize,
    storage: Storage,
    /// Files of a folder that were skipped, with the reason (non-image or undecodable).
    pub skipped: Vec<(PathBuf, String)>,
    /// Class labels, where the source has them (subfolders, MNIST/CIFAR labels, the
    /// default set's background kinds).
    pub labels: Option<Labels>,
}

impl ImageSet {
    /// Loads `source` at `size`×`size`. In a folder, files that are not images or cannot be
    /// decoded are skipped and listed in [`ImageSet::skipped`], unless `strict`, where the
    /// first one is an error naming it.
    pub fn load(source: &DataSource, size: usize, strict: bool) -> Result<Self> {
        if let Some(spec) = source.shard_spec() {
            return Self::from_shards(&spec, size, strict);
        }
        match source {
            DataSource::Shards(_) => unreachable!("shard specs are read above"),
            DataSource::Default => Ok(Self::procedural(procedural::DEFAULT_LEN, size)),
            DataSource::Folder(dir) => Self::from_folder(dir, size, strict),
            DataSource::Mnist(p) => Self::from_raw(idx::read_mnist(p)?, size, "mnist", None),
            DataSource::Cifar10(p) => Self::from_raw(
                idx::read_cifar10(p)?,
                size,
                "cifar10",
                Some(&labels::CIFAR10_NAMES),
            ),
        }
    }

    /// The first `len` images of the embedded default data set.
    pub fn procedural(len: usize, size: usize) -> Self {
        Self {
            size,
            storage: Storage::Procedural { len },
            skipped: Vec::new(),
            labels: Some(Labels {
                ids: (0..len)
                    .map(|i| procedural::label(DEFAULT_DATA_SEED, i))
                    .collect(),
                names: procedural::LABEL_NAMES.map(String::from).to_vec(),
            }),
        }
    }

    /// Images from files, each resized and centre-cropped; any unreadable file is an error.
    pub fn from_files(paths: &[PathBuf], size: usize) -> Result<Self> {
        let mut pixels = Vec::with_capacity(paths.len() * size * size * 3);
        for p in paths {
            pixels.extend(image_io::load_square(p, size)?);
        }
        let names = paths.iter().map(|p| p.display().to_string()).collect();
        Ok(Self {
            size,
            storage: Storage::Memory { pixels, names },
            skipped: Vec::new(),
            labels: None,
        })
    }

    /// Images already in memory (HWC bytes, `size`×`size`×3 each).
    pub fn from_pixels(pixels: Vec<u8>, names: Vec<String>, size: usize) -> Result<Self> {
        if pixels.len() != names.len() * size * size * 3 {
            return Err(Error::Shape(format!(
                "{} bytes for {} images of {size}x{size}x3",
                pixels.len(),
                names.len()
            )));
        }
        Ok(Self {
            size,
            storage: Storage::Memory { pixels, names },
            skipped: Vec::new(),
            labels: None,
        })
    }

    fn from_folder(dir: &Path, size: usize, strict: bool) -> Result<Self> {
        if !dir.exists() {
            return Err(Error::data(
                dir,
                "no such file or folder (expected default, a folder of images, mnist:PATH or cifar10:PATH)",
            ));
        }
        if !dir.is_dir() {
            return Self::from_files(&[dir.to_path_buf()], size);
        }
        let (files, others) = image_io::list_images(dir)?;
        if strict && let Some(first) = others.first() {
            return Err(Error::data(first, "not an image file (--strict)"));
        }
        let mut skipped: Vec<(PathBuf, String)> = others
            .into_iter()
            .map(|p| (p, "not an image file".to_string()))
            .collect();
        let mut pixels = Vec::with_capacity(files.len() * size * size * 3);
        let mut names = Vec::with_capacity(files.len());
        let mut loaded = Vec::with_capacity(files.len());
        for f in files {
            match image_io::load_square(&f, size) {
                Ok(px) => {
                    pixels.extend(px);
                    names.push(f.display().to_string());
                    loaded.push(f);
                }
                Err(e) if !strict => skipped.push((f, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        if names.is_empty() {
            return Err(Error::data(
                dir,
                format!("no readable images ({} files skipped)", skipped.len()),
            ));
        }
        Ok(Self {
            size,
            storage: Storage::Memory { pixels, names },
            skipped,
            labels: Labels::from_folders(dir, &loaded),
        })
    }

    fn from_raw(
        raw: idx::RawImages,
        size: usize,
        source: &str,
        class_names: Option<&[&str]>,
    ) -> Result<Self> {
        let per = raw.height * raw.width * raw.channels;
        let n = raw.pixels.len() / per;
        let mut pixels = Vec::with_capacity(n * size * size * 3);
        for img in raw.pixels.chunks_exact(per) {
            let rgb: Vec<u8> = if raw.channels == 1 {
                img.iter().flat_map(|&v| [v, v, v]).collect()
            } else {
                img.to_vec()
            };
            let buf = image::RgbImage::from_raw(raw.width as u32, raw.height as u32, rgb)
                .ok_or_else(|| Error::Shape("raw image buffer".into()))?;
            let out = if raw.width == size && raw.height == size {
                buf.into_raw()
            } else {
                image_io::resize_square(buf, size)
            };
            pixels.extend(out);
        }
        let names = (0..n)
            .map(|i| match &raw.labels {
                Some(l) => format!("{source}[{i}] label {}", l[i]),
                None => format!("{source}[{i}]"),
            })
            .collect();
        Ok(Self {
            size,
            storage: Storage::Memory { pixels, names },
            skipped: Vec::new(),
            labels: raw.labels.map(|l| Labels::from_bytes(&l[..n], class_names)),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Procedural { len } => *len,
            Storage::Memory { names, .. } => names.len(),
        }
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Side of every image.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Image `i` as HWC RGB bytes.
    pub fn image(&self, i: usize) -> Vec<u8> {
        match &self.storage {
            Storage::Procedural { .. } => procedural::draw(DEFAULT_DATA_SEED, i, self.size),
            Storage::Memory { pixels, .. } => {
                let per = self.size * self.size * 3;
                pixels[i * per..(i + 1) * per].to_vec()
            }
        }
    }

    /// A name for image `i` (its path, or its index).
    pub fn name(&self, i: usize) -> String {
        match &self.storage {
            Storage::Procedural { .. } => format!("default[{i}]"),
            Storage::Memory { names, .. } => names[i].clone(),
        }
    }

    /// Images `indices` as a tensor of pixels in [0, 1].
    ///
    /// # Shapes
    /// → `[indices.len(), 3, size, size]`
    pub fn batch(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let s = self.size;
        let mut data = vec![0f32; indices.len() * 3 * s * s];
        for (b, &i) in indices.iter().enumerate() {
            hwc_to_chw(
                &self.image(i),
                &mut data[b * 3 * s * s..(b + 1) * 3 * s * s],
            );
        }
        Tensor::<1>::from_floats(data.as_slice(), device).reshape([indices.len(), 3, s, s])
    }
}

/// HWC bytes → CHW floats in [0, 1].
pub fn hwc_to_chw(hwc: &[u8], chw: &mut [f32]) {
    let plane = hwc.len() / 3;
    for (p, px) in hwc.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * plane + p] = px[c] as f32 / 255.0;
        }
    }
}

/// A deterministic split of `0..n` into training and held-out indices (fixed shuffle,
/// independent of the run's seed, so every run of a data set holds out the same images).
#[derive(Clone, Debug)]
pub struct Split {
    /// Indices used for training.
    pub train: Vec<usize>,
    /// Indices held out for evaluation.
    pub holdout: Vec<usize>,
}

impl Split {
    /// Holds out `ceil(fraction · n)` images (at least one when `fraction > 0` and `n > 1`).
    pub fn new(n: usize, fraction: f64) -> Self {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(0x5eed_5b17));
        let mut k = (fraction * n as f64).ceil() as usize;
        if fraction > 0.0 && n > 1 {
            k = k.clamp(1, n - 1);
        } else {
            k = 0;
        }
        let mut holdout = idx[..k].to_vec();
        let mut train = idx[k..].to_vec();
        holdout.sort_unstable();
        train.sort_unstable();
        Self { train, holdout }
    }
}

/// The training indices of `epoch`, shuffled with the run's seed: a pure function, so a
/// resumed run sees the same order.
pub fn epoch_order(train: &[usize], seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = train.to_vec();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ epoch as u64,
    ));
    order
}

/// The batch of `step`: consecutive slices of the epoch orders.
pub fn batch_indices(train: &[usize], seed: u64, step: usize, batch: usize) -> Vec<usize> {
    let n = train.len();
    let start = step * batch;
    let mut out = Vec::with_capacity(batch);
    let mut epoch = start / n;
    let mut order = epoch_order(train, seed, epoch);
    for pos in start..start + batch {
        if pos / n != epoch {
            epoch = pos / n;
            order = epoch_order(train, seed, epoch);
        }
        out.push(order[pos % n]);
    }
    out
}
