//! A labelled sheet of image rows: a name (and a figure) on the left of each row, drawn
//! with the same bitmap font as `curves.png`.

use super::font;

/// Tiles rows of `size`×`size` HWC RGB images, `cols` per row, each row headed on the left
/// by its lines of text (e.g. a model's name and PSNR). Returns `(width, height, rgb)`.
pub fn labelled_rows(
    rows: &[(Vec<String>, Vec<Vec<u8>>)],
    size: usize,
    cols: usize,
) -> (usize, usize, Vec<u8>) {
    let gap = 2;
    let line = 10;
    let label_w = rows
        .iter()
        .flat_map(|(lines, _)| lines.iter().map(|l| font::width(l, 1)))
        .max()
        .unwrap_or(0)
        + 2 * gap;
    let row_h = size.max(line * rows.iter().map(|r| r.0.len()).max().unwrap_or(0)) + gap;
    let cols = cols.max(1);
    let (w, h) = (
        label_w + cols * (size + gap) + gap,
        rows.len() * row_h + gap,
    );
    let mut out = vec![255u8; w * h * 3];
    for (r, (lines, images)) in rows.iter().enumerate() {
        let y0 = gap + r * row_h;
        let text_top = y0 + size.saturating_sub(line * lines.len()) / 2;
        for (i, l) in lines.iter().enumerate() {
            let at = (gap as i64, (text_top + i * line) as i64);
            font::draw(&mut out, (w, h), at, l, [0, 0, 0], 1);
        }
        for (c, img) in images.iter().take(cols).enumerate() {
            let x0 = label_w + c * (size + gap);
            for y in 0..size {
                let o = ((y0 + y) * w + x0) * 3;
                out[o..o + size * 3].copy_from_slice(&img[y * size * 3..(y + 1) * size * 3]);
            }
        }
    }
    (w, h, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_their_label_and_images() {
        let red = [[255u8, 0, 0]; 16].concat();
        let rows = vec![
            (
                vec!["originals".to_string()],
                vec![red.clone(), red.clone()],
            ),
            (vec!["fsq".into(), "21.3 dB".into()], vec![red.clone()]),
        ];
        let (w, h, px) = labelled_rows(&rows, 4, 2);
        assert_eq!(px.len(), w * h * 3);
        assert!(w > 2 * 4 + font::width("originals", 1));
        // Black text on the left, red images on the right.
        let label_w = font::width("originals", 1) + 4;
        assert!(
            px.chunks(3)
                .enumerate()
                .any(|(i, p)| i % w < label_w && p == [0, 0, 0])
        );
        let first_img = (2 * w + label_w) * 3;
        assert_eq!(&px[first_img..first_img + 3], &[255, 0, 0]);
    }
}
