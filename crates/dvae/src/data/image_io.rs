//! Reading image files into fixed-size RGB arrays, and writing PNGs.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Largest width or height accepted, and the decoder's allocation limit: a larger image is
/// refused with its size rather than exhausting memory.
pub use crate::config::model::MAX_SIDE;
const MAX_ALLOC: u64 = 1 << 30;

/// File extensions read as images in a folder.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"];

/// Decodes `path` (any supported format, 8/16-bit, grey, palette, alpha, CMYK JPEG).
pub fn open(path: &Path) -> Result<DynamicImage> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_ALLOC {
        return Err(Error::Image {
            path: path.to_path_buf(),
            reason: format!(
                "file is {} bytes, larger than the {MAX_ALLOC}-byte limit",
                meta.len()
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(path, &bytes)
}

/// Decodes an image file held in memory (as [`open`]); `path` is used in messages.
///
/// The decoder runs under [`image::Limits`]: a side above [`MAX_SIDE`] or a decode needing
/// more than 1 GiB is refused with the image's size instead of exhausting memory.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    let bad = |reason: String| Error::Image {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(bad("file is empty (0 bytes)".into()));
    }
    let reader = || {
        ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::io(path, e))
    };
    if reader()?.format().is_none() {
        return Err(bad("unrecognised image format".into()));
    }
    // The header alone gives the size: a huge image is refused before any pixel is decoded.
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| bad(e.to_string()))?;
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) * 8 > MAX_ALLOC {
        return Err(bad(format!(
            "image is {w}x{h} pixels; the limit is {MAX_SIDE} per side and {} megapixels",
            MAX_ALLOC / 8 / 1_000_000
        )));
    }
    let mut reader = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(e.to_string()))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(bad(format!(
            "image is {}x{} pixels, with nothing to read",
            img.width(),
            img.height()
        )));
    }
    Ok(img)
}

/// Resizes so the short side is `size` (Catmull-Rom; smaller images are upscaled), then
/// crops the centre `size`×`size`. Returns row-major HWC RGB bytes.
pub fn fit_square(img: &DynamicImage, size: usize) -> Vec<u8> {
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let s = size as u32;
    let scale = s as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).max(s),
        ((h as f64 * scale).round() as u32).max(s),
    );
    let resized = if (nw, nh) == (w, h) {
        rgb
    } else {
        image::imageops::resize(&rgb, nw, nh, FilterType::CatmullRom)
    };
    let (x0, y0) = ((nw - s) / 2, (nh - s) / 2);
    image::imageops::crop_imm(&resized, x0, y0, s, s)
        .to_image()
        .into_raw()
}

/// Reads `path` as a `size`×`size` RGB image (HWC bytes).
pub fn load_square(path: &Path, size: usize) -> Result<Vec<u8>> {
    Ok(fit_square(&open(path)?, size))
}

/// Every image file under `dir` (recursively), sorted, and the non-image files skipped.
pub fn list_images(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut images = Vec::new();
    let mut others = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if has_image_extension(&path) {
                images.push(path);
            } else {
                others.push(path);
            }
        }
    }
    images.sort();
    others.sort();
    Ok((images, others))
}

/// Image files and folders expanded into image paths, in the order given (a folder's
/// images recursively, sorted); a folder without images or a missing path is an error
/// naming it. What `dvae encode` and `dvae reconstruct` read.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let (images, _) = list_images(p)?;
            if images.is_empty() {
                return Err(Error::data(p, "no image files in this folder"));
            }
            out.extend(images);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Error::data(p, "no such file or folder"));
        }
    }
    Ok(out)
}

/// True when `path` ends in one of [`IMAGE_EXTENSIONS`] (any case).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Writes HWC RGB bytes as a PNG, atomically (temporary file, then rename).
pub fn save_png(path: &Path, width: usize, height: usize, rgb: Vec<u8>) -> Result<()> {
    let img = RgbImage::from_raw(width as u32, height as u32, rgb).ok_or_else(|| {
        Error::Shape(format!(
            "{width}x{height} RGB image from a buffer of the wrong length"
        ))
    })?;
    crate::atomic::write_atomic(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(|e| match e {
                image::ImageError::IoError(e) => Error::io(path, e),
                e => Error::Image {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                },
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_converted_and_cropped() {
        let dir = tempfile::tempdir().unwrap();
        // 16-bit RGB, 100x50: short side to 32, centre crop.
        let p16 = dir.path().join("deep.png");
        image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(
            100,
            50,
            image::Rgb([65535, 0, 32768]),
        )
        .save(&p16)
        .unwrap();
        let px = load_square(&p16, 32).unwrap();
        assert_eq!(px.len(), 32 * 32 * 3);
        assert_eq!(&px[..3], &[255, 0, 128]);
        // Grey and grey+alpha, smaller than the target: upscaled.
        let pg = dir.path().join("grey.png");
        image::GrayAlphaImage::from_pixel(10, 12, image::LumaA([90, 7]))
            .save(&pg)
            .unwrap();
        assert_eq!(&load_square(&pg, 32).unwrap()[..3], &[90, 90, 90]);
        // JPEG round trip.
        let pj = dir.path().join("photo.jpg");
        image::RgbImage::from_pixel(40, 40, image::Rgb([200, 100, 50]))
            .save(&pj)
            .unwrap();
        let px = load_square(&pj, 16).unwrap();
        assert!(
            px[..3]
                .iter()
                .zip([200u8, 100, 50])
                .all(|(a, b)| a.abs_diff(b) <= 3),
            "{:?}",
            &px[..3]
        );
    }

    #[test]
    fn bad_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let e = load_square(&empty, 8).unwrap_err().to_string();
        assert!(e.contains("empty.png") && e.contains("0 bytes"), "{e}");
        let text = dir.path().join("text.png");
        std::fs::write(&text, b"not an image at all").unwrap();
        assert!(
            load_square(&text, 8)
                .unwrap_err()
                .to_string()
                .contains("text.png")
        );
        let truncated = dir.path().join("cut.png");
        let full = dir.path().join("full.png");
        image::RgbImage::from_pixel(30, 30, image::Rgb([1, 2, 3]))
            .save(&full)
            .unwrap();
        let bytes = std::fs::read(&full).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        assert!(
            load_square(&truncated, 8)
                .unwrap_err()
                .to_string()
                .contains("cut.png")
        );
        let missing = dir.path().join("missing.png");
        assert!(
            load_square(&missing, 8)
                .unwrap_err()
                .to_string()
                .contains("missing.png")
        );
    }
}
