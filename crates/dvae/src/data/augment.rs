//! Training augmentation: a random square crop over a range of area fractions, and a
//! horizontal flip; both off by default, both seeded by the run's seed and the sample's
//! place in the run, so a run is the same every time.

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::image_io;
use crate::error::{Error, Result};

/// What each training image goes through before the step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// A random square crop whose area is a fraction of the image's in this range
    /// (`[0.5, 1.0]`: half to all of it, as torchvision's `RandomResizedCrop` at aspect
    /// 1), resized to the model's size; `None`: the centre crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_scale: Option<[f64; 2]>,
    /// Mirror left-right with probability ½.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hflip: bool,
}

impl Augment {
    /// True when nothing is changed.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Range checks: `0 < lo ≤ hi ≤ 1`.
    pub fn validate(&self) -> Result<()> {
        if let Some([lo, hi]) = self.crop_scale
            && !(lo > 0.0 && lo <= hi && hi <= 1.0)
        {
            return Err(Error::config(
                "crop_scale",
                format!("{lo},{hi}: expected 0 < LO <= HI <= 1"),
            ));
        }
        Ok(())
    }

    /// `img` as `size`×`size` HWC RGB bytes, cropped and flipped as the draw of
    /// `(seed, key)` says (`key` names the sample's place in the run).
    pub fn apply(&self, img: &DynamicImage, size: usize, seed: u64, key: u64) -> Vec<u8> {
        if self.is_none() {
            return image_io::fit_square(img, size);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xa06e_0000_0000_0000);
        rng.set_stream(key);
        let rgb = img.to_rgb8();
        let mut out = match self.crop_scale {
            None => image_io::fit_square(img, size),
            Some([lo, hi]) => {
                let (w, h) = rgb.dimensions();
                let area = rng.random_range(lo..=hi) * w as f64 * h as f64;
                let side = (area.sqrt().round() as u32).clamp(1, w.min(h));
                let x = rng.random_range(0..=w - side);
                let y = rng.random_range(0..=h - side);
                let crop = image::imageops::crop_imm(&rgb, x, y, side, side).to_image();
                let s = size as u32;
                if side == s {
                    crop.into_raw()
                } else {
                    image::imageops::resize(&crop, s, s, FilterType::CatmullRom).into_raw()
                }
            }
        };
        if self.hflip && rng.random_bool(0.5) {
            flip_rows(&mut out, size);
        }
        out
    }

    /// An image already `size`×`size` (HWC bytes), augmented as [`Augment::apply`].
    pub fn apply_square(&self, hwc: &[u8], size: usize, seed: u64, key: u64) -> Vec<u8> {
        if self.is_none() {
            return hwc.to_vec();
        }
        match RgbImage::from_raw(size as u32, size as u32, hwc.to_vec()) {
            Some(img) => self.apply(&DynamicImage::ImageRgb8(img), size, seed, key),
            None => hwc.to_vec(),
        }
    }
}

/// Mirrors each row of a `size`-wide HWC RGB image in place.
fn flip_rows(hwc: &mut [u8], size: usize) {
    for row in hwc.chunks_exact_mut(size * 3) {
        for x in 0..size / 2 {
            for c in 0..3 {
                row.swap(x * 3 + c, (size - 1 - x) * 3 + c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(size: usize) -> Vec<u8> {
        (0..size * size)
            .flat_map(|p| [(p % size * 255 / (size - 1)) as u8, 0, 0])
            .collect()
    }

    #[test]
    fn off_changes_nothing_and_flip_mirrors() {
        let img = gradient(8);
        assert_eq!(Augment::default().apply_square(&img, 8, 1, 2), img);
        let flip = Augment {
            crop_scale: None,
            hflip: true,
        };
        let outs: Vec<Vec<u8>> = (0..16).map(|k| flip.apply_square(&img, 8, 1, k)).collect();
        let mut mirrored = img.clone();
        flip_rows(&mut mirrored, 8);
        assert!(outs.iter().all(|o| *o == img || *o == mirrored));
        let flips = outs.iter().filter(|o| **o == mirrored).count();
        assert!((3..=13).contains(&flips), "{flips} of 16 flipped");
        assert_eq!(mirrored[0], 255, "the right edge comes to the left");
    }

    #[test]
    fn crops_are_seeded_and_vary_by_sample() {
        let a = Augment {
            crop_scale: Some([0.25, 0.5]),
            hflip: false,
        };
        let img = gradient(16);
        assert_eq!(
            a.apply_square(&img, 16, 3, 7),
            a.apply_square(&img, 16, 3, 7)
        );
        let distinct: std::collections::HashSet<Vec<u8>> =
            (0..8).map(|k| a.apply_square(&img, 16, 3, k)).collect();
        assert!(distinct.len() > 2, "{} distinct crops of 8", distinct.len());
        assert!(a.validate().is_ok());
        assert!(
            Augment {
                crop_scale: Some([0.6, 0.5]),
                hflip: false
            }
            .validate()
            .is_err()
        );
    }
}
