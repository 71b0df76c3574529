//! Text on RGB bitmaps with the public-domain 8×8 font of `font8x8`, so `curves.png` needs
//! no system font (plotters' own text needs font files or FreeType).

use font8x8::legacy::BASIC_LEGACY;

/// Width in pixels of `text` at `scale`.
pub fn width(text: &str, scale: usize) -> usize {
    text.chars().count() * 8 * scale
}

/// Draws ASCII `text` with its top-left corner at `(x, y)` into an RGB buffer of `w`×`h`;
/// other characters are drawn as '?', and pixels outside the buffer are skipped.
pub fn draw(
    buf: &mut [u8],
    (w, h): (usize, usize),
    (x, y): (i64, i64),
    text: &str,
    rgb: [u8; 3],
    scale: usize,
) {
    for (i, c) in text.chars().enumerate() {
        let glyph = BASIC_LEGACY[if c.is_ascii() {
            c as usize
        } else {
            b'?' as usize
        }];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + ((i * 8 + col) * scale + dx) as i64;
                        let py = y + (row * scale + dy) as i64;
                        if px >= 0 && py >= 0 && (px as usize) < w && (py as usize) < h {
                            let o = (py as usize * w + px as usize) * 3;
                            buf[o..o + 3].copy_from_slice(&rgb);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_inside_the_buffer_only() {
        let mut buf = vec![255u8; 20 * 10 * 3];
        draw(&mut buf, (20, 10), (-4, 1), "Hi", [0, 0, 0], 1);
        assert!(buf.contains(&0));
        assert_eq!(width("Hi", 2), 32);
    }
}
