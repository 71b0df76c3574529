//! Writing a data set as WebDataset tar shards (`dvae pack`): every image is decoded once
//! to validate it (bad ones are listed, not packed), then written as `KEY.EXT` with its
//! class, when it has one, as `KEY.cls`. Members carry no time or owner, so the same
//! input gives the same bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use super::{DataSource, ImageSet, Labels, image_io};
use crate::error::{Error, Result};

/// How packed images are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackFormat {
    /// A file's own bytes (generated sources are written as PNG).
    Keep,
    /// Re-encoded as PNG.
    Png,
    /// Re-encoded as JPEG at this quality (1–100).
    Jpeg(u8),
}

/// What `dvae pack` does.
#[derive(Clone, Debug)]
pub struct PackOptions {
    /// Samples a shard.
    pub shard_size: usize,
    /// Shard names are `PREFIX-NNNNNN.tar`.
    pub prefix: String,
    /// How images are stored.
    pub format: PackFormat,
    /// Resize (short side) and centre-crop to this size first; `None`: keep the size
    /// (generated sources are drawn at this size, 64 when not given).
    pub size: Option<usize>,
    /// Images of a generated source (the embedded default); a folder packs all its files.
    pub count: Option<usize>,
    /// The first unreadable file is an error (nothing is left half-written).
    pub strict: bool,
}

/// What was packed.
#[derive(Clone, Debug, Default)]
pub struct PackReport {
    /// The shards written, in order.
    pub shards: Vec<PathBuf>,
    /// Samples written.
    pub samples: usize,
    /// Inputs left out: not an image, or not decodable (path, reason).
    pub bad: Vec<(PathBuf, String)>,
}

/// Packs `source` into shards in the folder `out` (created; existing shards of the same
/// names are replaced, each atomically).
pub fn pack(source: &DataSource, out: &Path, opts: &PackOptions) -> Result<PackReport> {
    if opts.shard_size == 0 {
        return Err(Error::config("shard_size", "must be at least 1"));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut w = ShardWriter::new(out, opts);
    match source {
        DataSource::Folder(dir) if dir.is_dir() => {
            let (files, others) = image_io::list_images(dir)?;
            if opts.strict
                && let Some(first) = others.first()
            {
                return Err(Error::data(first, "not an image file (--strict)"));
            }
            w.report.bad = others
                .into_iter()
                .map(|p| (p, "not an image file".into()))
                .collect();
            let labels = Labels::from_folders(dir, &files);
            for (i, f) in files.iter().enumerate() {
                let class = labels.as_ref().map(|l| l.ids[i]);
                let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
                match image_io::decode(f, &bytes) {
                    Ok(img) => {
                        let ext = f
                            .extension()
                            .and_then(|e| e.to_str())
                            .unwrap_or("png")
                            .to_ascii_lowercase();
                        let ext = if ext == "jpeg" { "jpg".into() } else { ext };
                        let (ext, data) = match (opts.format, opts.size) {
                            (PackFormat::Keep, None) => (ext, bytes),
                            _ => {
                                let size = opts.size;
                                let rgb = img.to_rgb8();
                                let (px, w_, h_) = match size {
                                    Some(s) => (image_io::fit_square(&img, s), s, s),
                                    None => {
                                        let (w_, h_) = rgb.dimensions();
                                        (rgb.into_raw(), w_ as usize, h_ as usize)
                                    }
                                };
                                encode(opts.format, &px, w_, h_, f)?
                            }
                        };
                        w.add(&ext, &data, class)?;
                    }
                    Err(e) if opts.strict => {
                        w.abandon();
                        return Err(e);
                    }
                    Err(e) => w.report.bad.push((f.clone(), e.to_string())),
                }
            }
        }
        DataSource::Default => {
            let size = opts.size.unwrap_or(64);
            let n = opts.count.unwrap_or(super::procedural::DEFAULT_LEN);
            let set = ImageSet::procedural(n, size);
            pack_set(&set, &mut w, opts, size)?;
        }
        other => {
            let size = opts.size.unwrap_or(match other {
                DataSource::Mnist(_) => 28,
                _ => 32,
            });
            let set = ImageSet::load(other, size, false)?;
            pack_set(&set, &mut w, opts, size)?;
        }
    }
    w.finish()
}

fn pack_set(set: &ImageSet, w: &mut ShardWriter, opts: &PackOptions, size: usize) -> Result<()> {
    let n = opts.count.unwrap_or(set.len()).min(set.len());
    for i in 0..n {
        let (ext, data) = encode(
            opts.format,
            &set.image(i),
            size,
            size,
            Path::new(&set.name(i)),
        )?;
        w.add(&ext, &data, set.labels.as_ref().map(|l| l.ids[i]))?;
    }
    Ok(())
}

/// RGB bytes encoded as the format says (`Keep` means PNG here).
fn encode(f: PackFormat, rgb: &[u8], w: usize, h: usize, name: &Path) -> Result<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let (ext, r) = match f {
        PackFormat::Jpeg(q) => (
            "jpg",
            JpegEncoder::new_with_quality(&mut out, q.clamp(1, 100)).write_image(
                rgb,
                w as u32,
                h as u32,
                ExtendedColorType::Rgb8,
            ),
        ),
        PackFormat::Png | PackFormat::Keep => (
            "png",
            PngEncoder::new(&mut out).write_image(rgb, w as u32, h as u32, ExtendedColorType::Rgb8),
        ),
    };
    r.map_err(|e| Error::Image {
        path: name.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?;
    Ok((ext.into(), out))
}

/// Shards being written: samples go to the current shard until it is full.
struct ShardWriter<'a> {
    out: &'a Path,
    opts: &'a PackOptions,
    current: Option<(PathBuf, tar::Builder<std::fs::File>, usize)>,
    report: PackReport,
}

impl<'a> ShardWriter<'a> {
    fn new(out: &'a Path, opts: &'a PackOptions) -> Self {
        Self {
            out,
            opts,
            current: None,
            report: PackReport::default(),
        }
    }

    fn add(&mut self, ext: &str, data: &[u8], class: Option<u32>) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.2 >= self.opts.shard_size)
        {
            self.close()?;
        }
        if self.current.is_none() {
            let name = format!("{}-{:06}.tar", self.opts.prefix, self.report.shards.len());
            let tmp = self.out.join(format!(".{name}.tmp"));
            let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            self.report.shards.push(self.out.join(&name));
            self.current = Some((tmp, tar::Builder::new(file), 0));
        }
        let key = format!("{:06}", self.report.samples);
        let Some((tmp, builder, n)) = self.current.as_mut() else {
            unreachable!("a shard is open")
        };
        append(builder, &format!("{key}.{ext}"), data).map_err(|e| Error::io(&*tmp, e))?;
        if let Some(c) = class {
            append(builder, &format!("{key}.cls"), c.to_string().as_bytes())
                .map_err(|e| Error::io(&*tmp, e))?;
        }
        *n += 1;
        self.report.samples += 1;
        Ok(())
    }

    /// Removes the shard being written.
    fn abandon(&mut self) {
        if let Some((tmp, _, _)) = self.current.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }

    /// Finishes the open shard and moves it into place.
    fn close(&mut self) -> Result<()> {
        let Some((tmp, builder, _)) = self.current.take() else {
            return Ok(());
        };
        let dest = self.report.shards.last().cloned().unwrap_or_default();
        let mut file = builder.into_inner().map_err(|e| Error::io(&tmp, e))?;
        file.flush()
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        Ok(())
    }

    fn finish(mut self) -> Result<PackReport> {
        self.close()?;
        crate::atomic::sync_dir(self.out);
        if self.report.samples == 0 {
            return Err(Error::data(
                self.out,
                format!(
                    "nothing packed: no readable images ({} bad)",
                    self.report.bad.len()
                ),
            ));
        }
        Ok(self.report)
    }
}

/// One tar member with a fixed mode and no time or owner.
fn append(b: &mut tar::Builder<std::fs::File>, path: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data)
}
