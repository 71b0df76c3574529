//! Image grids: several images tiled into one, for reconstruction sheets.

/// Tiles `images` (each `size`×`size` HWC RGB) into rows of `cols`, with a 2-pixel white
/// gutter. Returns `(width, height, rgb)`.
pub fn tile(images: &[Vec<u8>], size: usize, cols: usize) -> (usize, usize, Vec<u8>) {
    let gap = 2;
    let cols = cols.max(1);
    let rows = images.len().div_ceil(cols).max(1);
    let (w, h) = (
        cols * size + (cols + 1) * gap,
        rows * size + (rows + 1) * gap,
    );
    let mut out = vec![255u8; w * h * 3];
    for (i, img) in images.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let (x0, y0) = (gap + c * (size + gap), gap + r * (size + gap));
        for y in 0..size {
            let src = &img[y * size * 3..(y + 1) * size * 3];
            let o = ((y0 + y) * w + x0) * 3;
            out[o..o + size * 3].copy_from_slice(src);
        }
    }
    (w, h, out)
}

/// Floats in [0, 1], CHW, to HWC bytes.
pub fn chw_to_hwc(chw: &[f32], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size * size * 3];
    chw_to_hwc_into(chw, &mut out);
    out
}

/// [`chw_to_hwc`] into `out` (HWC RGB bytes, as many pixels as `chw` has per plane).
pub fn chw_to_hwc_into(chw: &[f32], out: &mut [u8]) {
    let plane = out.len() / 3;
    for p in 0..plane {
        for c in 0..3 {
            out[p * 3 + c] = (chw[c * plane + p].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_land_where_expected() {
        let red = [255, 0, 0].repeat(4);
        let blue = [0, 0, 255].repeat(4);
        let (w, h, px) = tile(&[red, blue], 2, 2);
        assert_eq!((w, h), (10, 6));
        let at = |x: usize, y: usize| &px[(y * w + x) * 3..(y * w + x) * 3 + 3];
        assert_eq!(at(2, 2), [255, 0, 0]);
        assert_eq!(at(6, 3), [0, 0, 255]);
        assert_eq!(at(0, 0), [255, 255, 255]);
    }
}
