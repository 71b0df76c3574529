//! `RUN/curves.png`: the report's training curves as one bitmap, for a user without a
//! browser. Lines and frames are drawn by plotters' bitmap backend; labels by [`font`],
//! so nothing depends on system fonts.

use plotters::prelude::*;

use super::axis::{Axis, short};
use super::font;
use super::log::{Kind, PANELS, TrainLog};
use crate::artifact::RunDir;
use crate::error::{Error, Result};

const COLS: usize = 4;
const PANEL: (usize, usize) = (300, 280);
const MARGIN: (u32, u32, u32, u32) = (34, 18, 20, 54); // top, right, bottom, left

struct Label {
    at: (i64, i64),
    text: String,
    rgb: [u8; 3],
}

/// Draws the training curves of `run`'s `log.jsonl` into `RUN/curves.png` (written
/// atomically; panels as in the HTML report).
pub fn write_curves_png(run: &RunDir) -> Result<()> {
    let log = TrainLog::read(run)?;
    let path = run.root.join("curves.png");
    let (w, h, px) =
        draw(&log).map_err(|e| Error::run(&path, format!("cannot draw curves: {e}")))?;
    crate::data::image_io::save_png(&path, w, h, px)
}

/// The panels of `log` as an RGB bitmap: `(width, height, bytes)`.
pub fn draw(log: &TrainLog) -> std::result::Result<(usize, usize, Vec<u8>), String> {
    let rows = PANELS.len().div_ceil(COLS);
    let (w, h) = (COLS * PANEL.0, rows * PANEL.1);
    let mut buf = vec![255u8; w * h * 3];
    let mut labels = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
        let areas = root.split_evenly((rows, COLS));
        for (area, panel) in areas.iter().zip(PANELS) {
            draw_panel(area, panel, log, &mut labels).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    for l in &labels {
        font::draw(&mut buf, (w, h), l.at, &l.text, l.rgb, 1);
    }
    Ok((w, h, buf))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_panel(
    area: &Area,
    panel: &super::log::Panel,
    log: &TrainLog,
    labels: &mut Vec<Label>,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let series: Vec<_> = panel
        .lines
        .iter()
        .map(|l| (log.series(l.kind, l.key), l))
        .collect();
    let x = Axis::fit(
        series.iter().flat_map(|(p, _)| p.iter().map(|q| q.0)),
        false,
        4,
    );
    let y = Axis::fit(
        series.iter().flat_map(|(p, _)| p.iter().map(|q| q.1)),
        panel.log_y,
        4,
    );
    let (top, right, bottom, left) = MARGIN;
    let mut chart = ChartBuilder::on(area)
        .margin_top(top)
        .margin_right(right)
        .margin_bottom(bottom)
        .margin_left(left)
        .build_cartesian_2d(x.lo..x.hi, y.lo..y.hi)?;
    let grey = RGBColor(232, 232, 232);
    for (t, text) in &y.ticks {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x.lo, *t), (x.hi, *t)],
            grey.stroke_width(1),
        )))?;
        let (px, py) = chart.backend_coord(&(x.lo, *t));
        let tw = font::width(text, 1) as i64;
        labels.push(Label {
            at: (px as i64 - tw - 4, py as i64 - 4),
            text: text.clone(),
            rgb: [80, 80, 80],
        });
    }
    for (t, text) in &x.ticks {
        let (px, py) = chart.backend_coord(&(*t, y.lo));
        let tw = font::width(text, 1) as i64;
        labels.push(Label {
            at: (px as i64 - tw / 2, py as i64 + 6),
            text: text.clone(),
            rgb: [80, 80, 80],
        });
    }
    chart.draw_series(std::iter::once(Rectangle::new(
        [(x.lo, y.lo), (x.hi, y.hi)],
        RGBColor(150, 150, 150).stroke_width(1),
    )))?;
    let (ox, oy) = area.get_base_pixel();
    labels.push(Label {
        at: (ox as i64 + 8, oy as i64 + 6),
        text: panel.title.to_string(),
        rgb: [20, 20, 20],
    });
    let mut legend_x = ox as i64 + 8;
    for (points, spec) in &series {
        let colour = RGBColor(spec.rgb[0], spec.rgb[1], spec.rgb[2]);
        let ys = |v: f64| if y.log { v.max(1e-300).log10() } else { v };
        let at = |&(s, v): &(f64, f64)| (s, ys(v).clamp(y.lo, y.hi));
        chart.draw_series(LineSeries::new(
            points.iter().map(at),
            colour.stroke_width(2),
        ))?;
        // Evaluations are few: mark each (a single one would draw no line at all).
        if spec.kind == Kind::Eval || points.len() == 1 {
            chart.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new(at(p), 3, colour.filled())),
            )?;
        }
        let text = match points.last() {
            Some(p) => format!("{} {}", spec.label, short(p.1)),
            None => format!("{} (no data)", spec.label),
        };
        labels.push(Label {
            at: (legend_x, oy as i64 + 19),
            text: text.clone(),
            rgb: spec.rgb,
        });
        legend_x += font::width(&text, 1) as i64 + 12;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_lines_and_labels_without_fonts() {
        let mut log = TrainLog::default();
        for s in 1..=20 {
            let f = s as f64;
            log.steps.push(serde_json::json!({
                "kind": "step", "step": s, "loss": 1.0 / f, "recon": 0.8 / f, "kl": 2.0,
                "tau": 1.0 - f / 40.0, "beta": 6.6, "lr": 1e-3 / f, "usage": f / 20.0,
                "grad_norm": 1.0 + f,
            }));
        }
        let (w, h, px) = draw(&log).unwrap();
        assert_eq!((w, h), (1200, 560));
        // The loss line (blue) lands in the first panel.
        let blue = px
            .chunks_exact(3)
            .enumerate()
            .filter(|(i, p)| i % w < 300 && i / w < 280 && *p == [31, 119, 180])
            .count();
        assert!(blue > 100, "{blue} blue pixels");
    }
}
