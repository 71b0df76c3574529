//! MNIST (IDX) and CIFAR-10 (binary version) files.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Images read from a labelled data set file: `count` images of `height`×`width`×`channels`
/// bytes (HWC), and one label per image.
pub struct RawImages {
    /// Pixel bytes, image after image, HWC.
    pub pixels: Vec<u8>,
    /// Labels, one per image (MNIST: only when the matching labels file is there).
    pub labels: Option<Vec<u8>>,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels per pixel.
    pub channels: usize,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads an MNIST-style IDX3 image file (`…-images-idx3-ubyte`), or a folder holding
/// `train-images-idx3-ubyte`; labels come from the matching `…-labels-idx1-ubyte` if present.
pub fn read_mnist(path: &Path) -> Result<RawImages> {
    let file = if path.is_dir() {
        path.join("train-images-idx3-ubyte")
    } else {
        path.to_path_buf()
    };
    let bytes = read(&file)?;
    let bad = |reason: String| Error::data(&file, reason);
    if bytes.len() < 16 || be_u32(&bytes, 0) != 0x0000_0803 {
        return Err(bad(
            "not an IDX3 image file (expected magic 0x00000803)".into()
        ));
    }
    let (n, h, w) = (
        be_u32(&bytes, 4) as usize,
        be_u32(&bytes, 8) as usize,
        be_u32(&bytes, 12) as usize,
    );
    let need = n
        .checked_mul(h * w)
        .and_then(|v| v.checked_add(16))
        .ok_or_else(|| bad("header sizes overflow".into()))?;
    if bytes.len() < need || n == 0 || h == 0 || w == 0 {
        return Err(bad(format!(
            "header says {n} images of {h}x{w} ({need} bytes), file has {}",
            bytes.len()
        )));
    }
    let labels = labels_for(&file, n);
    Ok(RawImages {
        pixels: bytes[16..need].to_vec(),
        labels,
        height: h,
        width: w,
        channels: 1,
    })
}

fn labels_for(images: &Path, n: usize) -> Option<Vec<u8>> {
    let name = images
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let label_file: PathBuf = images.with_file_name(name.replace("images-idx3", "labels-idx1"));
    match std::fs::read(&label_file) {
        Ok(b) if b.len() >= 8 + n && be_u32(&b, 0) == 0x0000_0801 => Some(b[8..8 + n].to_vec()),
        _ => None,
    }
}

const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;

/// Reads CIFAR-10 binary batches: one `.bin` file, or every `data_batch_*.bin` in a folder.
pub fn read_cifar10(path: &Path) -> Result<RawImages> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| s.starts_with("data_batch") && s.ends_with(".bin"))
            })
            .collect();
        f.sort();
        if f.is_empty() {
            return Err(Error::data(
                path,
                "no data_batch_*.bin files in this folder",
            ));
        }
        f
    } else {
        vec![path.to_path_buf()]
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for file in files {
        let bytes = read(&file)?;
        if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
            return Err(Error::data(
                &file,
                format!(
                    "{} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records",
                    bytes.len()
                ),
            ));
        }
        for rec in bytes.chunks_exact(CIFAR_RECORD) {
            labels.push(rec[0]);
            let planes = &rec[1..];
            for p in 0..1024 {
                pixels.extend_from_slice(&[planes[p], planes[1024 + p], planes[2048 + p]]);
            }
        }
    }
    Ok(RawImages {
        pixels,
        labels: Some(labels),
        height: 32,
        width: 32,
        channels: 3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_idx_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        img.extend([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), &img).unwrap();
        std::fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            [0, 0, 8, 1, 0, 0, 0, 2, 7, 9],
        )
        .unwrap();
        let r = read_mnist(dir.path()).unwrap();
        assert_eq!((r.height, r.width, r.channels), (2, 3, 1));
        assert_eq!(r.pixels, (1..=12).collect::<Vec<u8>>());
        assert_eq!(r.labels, Some(vec![7, 9]));
        // Truncated: the header promises more than the file holds.
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), &img[..20]).unwrap();
        let e = read_mnist(dir.path()).err().unwrap().to_string();
        assert!(
            e.contains("train-images-idx3-ubyte") && e.contains("2 images of 2x3"),
            "{e}"
        );
    }

    #[test]
    fn cifar_planes_become_hwc() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = vec![3u8];
        rec.extend(std::iter::repeat_n(10u8, 1024));
        rec.extend(std::iter::repeat_n(20u8, 1024));
        rec.extend(std::iter::repeat_n(30u8, 1024));
        let p = dir.path().join("data_batch_1.bin");
        std::fs::write(&p, [rec.clone(), rec].concat()).unwrap();
        let r = read_cifar10(dir.path()).unwrap();
        assert_eq!(r.labels, Some(vec![3, 3]));
        assert_eq!(&r.pixels[..6], &[10, 20, 30, 10, 20, 30]);
        assert_eq!(r.pixels.len(), 2 * 3072);
        std::fs::write(&p, [1u8, 2, 3]).unwrap();
        assert!(
            read_cifar10(&p)
                .err()
                .unwrap()
                .to_string()
                .contains("data_batch_1.bin")
        );
    }
}
