//! [`ShardedSet`]: a data set opened for streaming: its shards (or a folder's files), its
//! evaluation images (a separate set, or a part held out of training) and how its stream
//! is read; and shards decoded into memory ([`ImageSet::from_shards`]).

use std::path::{Path, PathBuf};

use super::augment::Augment;
use super::loader::{StreamSpec, count_items};
use super::shards::shard_paths;
use super::tar_samples::{Item, read_shard};
use super::{ImageSet, Split, image_io};
use crate::error::{Error, Result};

/// Most images held out at the head of the last shard.
pub const MAX_HELD_OUT: usize = 256;

/// A sharded data set ready to stream.
pub struct ShardedSet {
    /// The shard files (none when a folder's files are streamed).
    pub shards: Vec<PathBuf>,
    /// A folder's image files streamed instead of shards (the training part of its split).
    pub files: Vec<PathBuf>,
    /// Images the run is evaluated on.
    pub eval: ImageSet,
    /// Items at the head of the last shard kept out of training (0 with a separate
    /// evaluation set, or with no hold-out).
    pub held_out: usize,
    /// Threads decoding and resizing (default: the machine's cores, at most 4).
    pub workers: usize,
    /// Batches decoded ahead of the step.
    pub prefetch: usize,
    /// An unreadable sample is an error instead of being skipped.
    pub strict: bool,
}

impl ShardedSet {
    /// Opens the shards `spec` names at `size`×`size`. Evaluation uses `eval` when given;
    /// otherwise the first `ceil(holdout · n)` items (at most [`MAX_HELD_OUT`]) of the last
    /// shard's `n`, which training then skips (with `holdout` 0, the first
    /// [`MAX_HELD_OUT`] items are evaluated and also trained on).
    pub fn open(
        spec: &str,
        size: usize,
        holdout: f64,
        eval: Option<ImageSet>,
        strict: bool,
    ) -> Result<Self> {
        let shards = shard_paths(spec)?;
        let last = shards.last().cloned().unwrap_or_default();
        let (eval, held_out) = match eval {
            Some(set) => (set, 0),
            None => {
                let n = count_items(&last)?;
                let held = ((holdout * n as f64).ceil() as usize).min(MAX_HELD_OUT);
                let held = if holdout > 0.0 && n > 1 {
                    held.clamp(1, n - 1)
                } else {
                    0
                };
                let head = if held > 0 { held } else { MAX_HELD_OUT };
                let set =
                    ImageSet::from_shard_items(std::slice::from_ref(&last), size, strict, head)?;
                (set, held)
            }
        };
        if eval.is_empty() {
            return Err(Error::data(&last, "no readable images to evaluate on"));
        }
        Ok(Self::streamed(shards, Vec::new(), eval, held_out, strict))
    }

    /// The image files of the folder `dir`, streamed: the same deterministic hold-out as a
    /// folder in memory (`holdout`, its first [`MAX_HELD_OUT`] files evaluated), or `eval`.
    pub fn folder(
        dir: &Path,
        size: usize,
        holdout: f64,
        eval: Option<ImageSet>,
        strict: bool,
    ) -> Result<Self> {
        let (files, others) = image_io::list_images(dir)?;
        if strict && let Some(first) = others.first() {
            return Err(Error::data(first, "not an image file (--strict)"));
        }
        if files.is_empty() {
            return Err(Error::data(dir, "no image files to stream"));
        }
        let (train, eval) = match eval {
            Some(e) => (files, e),
            None => {
                let split = Split::new(files.len(), holdout);
                let pick =
                    |idx: &[usize]| idx.iter().map(|&i| files[i].clone()).collect::<Vec<_>>();
                let shown = if split.holdout.is_empty() {
                    &split.train
                } else {
                    &split.holdout
                };
                let mut eval_files = pick(shown);
                eval_files.truncate(MAX_HELD_OUT);
                (pick(&split.train), load_files(&eval_files, size, strict)?)
            }
        };
        if eval.is_empty() {
            return Err(Error::data(dir, "no readable images to evaluate on"));
        }
        let mut set = Self::streamed(Vec::new(), train, eval, 0, strict);
        set.eval
            .skipped
            .extend(others.into_iter().map(|p| (p, "not an image file".into())));
        Ok(set)
    }

    fn streamed(
        shards: Vec<PathBuf>,
        files: Vec<PathBuf>,
        eval: ImageSet,
        held_out: usize,
        strict: bool,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            shards,
            files,
            eval,
            held_out,
            workers: cores.min(4),
            prefetch: 4,
            strict,
        }
    }

    /// The stream of training batches for a run of this `seed`, `batch` and shuffle
    /// `buffer`.
    pub fn spec(&self, seed: u64, batch: usize, buffer: usize, augment: Augment) -> StreamSpec {
        StreamSpec {
            shards: self.shards.clone(),
            files: self.files.clone(),
            size: self.eval.size(),
            seed,
            batch,
            buffer,
            workers: self.workers,
            prefetch: self.prefetch,
            strict: self.strict,
            held_out: self.held_out,
            augment,
        }
    }
}

/// Shards decoded into memory, for evaluation and tokenizing (training streams them).
impl ImageSet {
    /// Every sample of the shards `spec` names, decoded into memory (for evaluation and
    /// tokenizing; training streams shards instead). Unreadable samples, damaged and empty
    /// shards are skipped and listed, unless `strict`.
    pub fn from_shards(spec: &str, size: usize, strict: bool) -> Result<Self> {
        Self::from_shard_items(&shard_paths(spec)?, size, strict, usize::MAX)
    }

    /// The first `limit` items (samples and problems, in order) of the shards `paths`,
    /// decoded as [`ImageSet::from_shards`] does.
    pub fn from_shard_items(
        paths: &[PathBuf],
        size: usize,
        strict: bool,
        limit: usize,
    ) -> Result<Self> {
        use std::ops::ControlFlow;
        let mut seen = 0usize;
        let mut pixels = Vec::new();
        let mut names = Vec::new();
        let mut skipped = Vec::new();
        let mut failed = None;
        for p in paths {
            read_shard(p, |item| {
                seen += 1;
                let more = if seen < limit {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                };
                let problem = match item {
                    Item::Sample(s) => match image_io::decode(Path::new(&s.name), &s.bytes) {
                        Ok(img) => {
                            pixels.extend(image_io::fit_square(&img, size));
                            names.push(s.name);
                            return more;
                        }
                        Err(e) => (s.name, e.to_string()),
                    },
                    Item::Bad { name, reason } => (name, reason),
                };
                if strict {
                    failed = Some(Error::data(problem.0, problem.1));
                    return ControlFlow::Break(());
                }
                skipped.push((PathBuf::from(problem.0), problem.1));
                more
            })?;
            if let Some(e) = failed.take() {
                return Err(e);
            }
            if seen >= limit {
                break;
            }
        }
        if names.is_empty() {
            let first = paths.first().map_or(Path::new(""), |p| p.as_path());
            return Err(Error::data(
                first,
                format!("no readable images ({} skipped)", skipped.len()),
            ));
        }
        let mut set = Self::from_pixels(pixels, names, size)?;
        set.skipped = skipped;
        Ok(set)
    }
}

/// The readable ones of `files`, decoded (the others listed as skipped, or with `strict`
/// the first an error).
fn load_files(files: &[PathBuf], size: usize, strict: bool) -> Result<ImageSet> {
    let mut pixels = Vec::new();
    let mut names = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        match image_io::load_square(f, size) {
            Ok(px) => {
                pixels.extend(px);
                names.push(f.display().to_string());
            }
            Err(e) if !strict => skipped.push((f.clone(), e.to_string())),
            Err(e) => return Err(e),
        }
    }
    let mut set = ImageSet::from_pixels(pixels, names, size)?;
    set.skipped = skipped;
    Ok(set)
}
