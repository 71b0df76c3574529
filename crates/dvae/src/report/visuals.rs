//! Pixel images of the report: reconstruction strips, error maps, token maps and the
//! codebook atlas. HWC RGB bytes throughout.

use crate::Tokenizer;
use crate::error::Result;
use crate::tokens::TokenGrids;

/// Absolute error `|a − b|` averaged over the channels, amplified `gain`× and shown as
/// grey (black = exact).
pub fn abs_error(a: &[u8], b: &[u8], gain: f32) -> Vec<u8> {
    a.chunks_exact(3)
        .zip(b.chunks_exact(3))
        .flat_map(|(p, q)| {
            let e: f32 = p
                .iter()
                .zip(q)
                .map(|(&x, &y)| (x as f32 - y as f32).abs())
                .sum::<f32>()
                / 3.0;
            let v = (e * gain).round().min(255.0) as u8;
            [v, v, v]
        })
        .collect()
}

/// A distinct, stable colour for token `id`: hues spaced by the golden angle, with
/// lightness and saturation cycling so neighbouring ids differ too.
pub fn token_colour(id: u32) -> [u8; 3] {
    let h = (id as f64 * 0.618_033_988_75).fract() * 6.0;
    let s = [0.85, 0.6, 0.95][(id % 3) as usize];
    let v = [0.95, 0.75, 0.55][((id / 3) % 3) as usize];
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|u| ((u + m) * 255.0).round() as u8)
}

/// A `grid`×`grid` token map drawn at `size`×`size`, one flat colour per token.
pub fn token_map(tokens: &[u32], grid: usize, size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size * size * 3];
    for y in 0..size {
        for x in 0..size {
            let t = tokens[(y * grid / size) * grid + x * grid / size];
            out[(y * size + x) * 3..(y * size + x) * 3 + 3].copy_from_slice(&token_colour(t));
        }
    }
    out
}

/// Shrinks a `size`×`size` image to at most `max` pixels a side (area average).
pub fn shrink(img: Vec<u8>, size: usize, max: usize) -> (Vec<u8>, usize) {
    if size <= max {
        return (img, size);
    }
    let buf = image::RgbImage::from_raw(size as u32, size as u32, img).expect("size×size×3");
    let small = image::imageops::resize(
        &buf,
        max as u32,
        max as u32,
        image::imageops::FilterType::Triangle,
    );
    (small.into_raw(), max)
}

/// Decodes each of `codes` as a uniform token grid (every cell the same code): what the
/// decoder draws for that code alone. One image per code, `image_size` square.
pub fn atlas_tiles(dvae: &Tokenizer, codes: &[u32], batch: usize) -> Result<Vec<Vec<u8>>> {
    let g = dvae.config.model.grid_size();
    let grids = TokenGrids {
        n: codes.len(),
        h: g,
        w: g,
        ids: codes
            .iter()
            .flat_map(|&c| std::iter::repeat_n(c, g * g))
            .collect(),
    };
    dvae.decode_grids(&grids, batch)
}

/// Codes ordered by count (descending, then by id), the first `n` of them, and whether
/// codes were left out.
pub fn most_used(hist: &[u64], n: usize) -> (Vec<u32>, bool) {
    let mut ids: Vec<u32> = (0..hist.len() as u32).collect();
    ids.sort_by(|&a, &b| hist[b as usize].cmp(&hist[a as usize]).then(a.cmp(&b)));
    let cut = ids.len() > n;
    ids.truncate(n);
    (ids, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_errors_and_orders() {
        let m = token_map(&[0, 1, 2, 3], 2, 4);
        assert_eq!(&m[0..3], &token_colour(0));
        assert_eq!(&m[(4 * 3 + 3) * 3..(4 * 3 + 3) * 3 + 3], &token_colour(3));
        assert_ne!(token_colour(0), token_colour(1));
        assert_eq!(abs_error(&[10, 10, 10], &[13, 7, 10], 4.0), [8, 8, 8]);
        assert_eq!(most_used(&[1, 5, 0, 5], 3), (vec![1, 3, 0], true));
        let (img, s) = shrink(vec![200; 8 * 8 * 3], 8, 4);
        assert_eq!((img.len(), s), (4 * 4 * 3, 4));
    }
}
