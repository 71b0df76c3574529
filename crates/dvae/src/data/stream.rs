//! [`ImageStream`]: images of a data source read batch by batch, so evaluating a large
//! folder never holds more than one batch of it in memory.

use std::path::PathBuf;

use burn::prelude::*;

use super::{DataSource, ImageSet, hwc_to_chw, image_io};
use crate::error::{Error, Result};

enum Source {
    /// Already in memory or drawn on demand (default, MNIST, CIFAR-10: one file each).
    Set { set: ImageSet, next: usize },
    /// A folder's files, decoded when their batch is asked for.
    Files {
        dir: PathBuf,
        files: Vec<PathBuf>,
        next: usize,
        strict: bool,
    },
}

/// A data source read lazily in batches of `size`×`size` RGB images.
pub struct ImageStream {
    source: Source,
    size: usize,
    limit: usize,
    yielded: usize,
    /// Files skipped so far (not an image, or undecodable), with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl ImageStream {
    /// Opens `source` for at most `limit` images. In a folder, files that are not images
    /// or cannot be decoded are skipped and listed in [`ImageStream::skipped`], unless
    /// `strict`, where the first one is an error naming it (as [`ImageSet::load`]).
    pub fn open(
        source: &DataSource,
        size: usize,
        strict: bool,
        limit: Option<usize>,
    ) -> Result<Self> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut skipped = Vec::new();
        let source = match source {
            DataSource::Folder(dir) if dir.is_dir() => {
                let (files, others) = image_io::list_images(dir)?;
                if strict && let Some(first) = others.first() {
                    return Err(Error::data(first, "not an image file (--strict)"));
                }
                skipped.extend(others.into_iter().map(|p| (p, "not an image file".into())));
                Source::Files {
                    dir: dir.clone(),
                    files,
                    next: 0,
                    strict,
                }
            }
            other => Source::Set {
                set: ImageSet::load(other, size, strict)?,
                next: 0,
            },
        };
        Ok(Self {
            source,
            size,
            limit,
            yielded: 0,
            skipped,
        })
    }

    /// The most images this stream yields (fewer if files turn out unreadable).
    pub fn len_hint(&self) -> usize {
        let n = match &self.source {
            Source::Set { set, .. } => set.len(),
            Source::Files { files, .. } => files.len(),
        };
        n.min(self.limit)
    }

    /// The next (up to) `n` images as HWC bytes; `None` at the end.
    pub fn next_batch(&mut self, n: usize) -> Option<Result<Vec<Vec<u8>>>> {
        let want = n.max(1).min(self.limit - self.yielded);
        if want == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(want);
        match &mut self.source {
            Source::Set { set, next } => {
                let end = (*next + want).min(set.len());
                out.extend((*next..end).map(|i| set.image(i)));
                *next = end;
            }
            Source::Files {
                dir,
                files,
                next,
                strict,
            } => {
                while out.len() < want && *next < files.len() {
                    let f = &files[*next];
                    *next += 1;
                    match image_io::load_square(f, self.size) {
                        Ok(px) => out.push(px),
                        Err(e) if !*strict => self.skipped.push((f.clone(), e.to_string())),
                        Err(e) => return Some(Err(e)),
                    }
                }
                if out.is_empty() && self.yielded == 0 {
                    let why = format!("no readable images ({} files skipped)", self.skipped.len());
                    self.yielded = self.limit; // report once, then end
                    return Some(Err(Error::data(dir.as_path(), why)));
                }
            }
        }
        self.yielded += out.len();
        (!out.is_empty()).then_some(Ok(out))
    }

    /// The next (up to) `n` images as a tensor of pixels in [0, 1]; `None` at the end.
    ///
    /// # Shapes
    /// → `[≤ n, 3, size, size]`
    pub fn next_tensor(&mut self, n: usize, device: &Device) -> Option<Result<Tensor<4>>> {
        let size = self.size;
        self.next_batch(n)
            .map(|r| r.map(|imgs| to_tensor(&imgs, size, device)))
    }
}

/// HWC RGB byte images (`size`×`size`) as a batch of pixels in [0, 1].
///
/// # Shapes
/// → `[images.len(), 3, size, size]`
pub fn to_tensor(images: &[Vec<u8>], size: usize, device: &Device) -> Tensor<4> {
    let per = 3 * size * size;
    let mut data = vec![0f32; images.len() * per];
    for (img, chw) in images.iter().zip(data.chunks_mut(per)) {
        hwc_to_chw(img, chw);
    }
    Tensor::<1>::from_floats(data.as_slice(), device).reshape([images.len(), 3, size, size])
}
