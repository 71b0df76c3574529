//! Inline SVG charts: training curves and the sorted codebook-usage histogram.

use std::fmt::Write;

use super::axis::{Axis, short};
use super::html::escape;
use super::log::{Kind, Panel, TrainLog};

const W: f64 = 340.0;
const H: f64 = 222.0;
const LEFT: f64 = 46.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 38.0;
const BOTTOM: f64 = 24.0;

fn rgb(c: [u8; 3]) -> String {
    format!("rgb({},{},{})", c[0], c[1], c[2])
}

/// Frame, grid lines and tick labels of a plot area; returns the SVG and a mapping from
/// axis fractions to pixels.
fn frame(
    title: &str,
    x: &Axis,
    y: &Axis,
    svg: &mut String,
) -> impl Fn(f64, f64) -> (f64, f64) + use<> {
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let map = move |fx: f64, fy: f64| (LEFT + fx * pw, TOP + (1.0 - fy) * ph);
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="14" class="t">{}</text><rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>"##,
        escape(title)
    );
    for (pos, lab) in &y.ticks {
        let (_, py) = map(0.0, (pos - y.lo) / (y.hi - y.lo));
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" class="yl">{}</text>"##,
            LEFT + pw,
            LEFT - 4.0,
            py + 3.5,
            escape(lab)
        );
    }
    for (pos, lab) in &x.ticks {
        let (px, _) = map((pos - x.lo) / (x.hi - x.lo), 0.0);
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" class="xl">{}</text>"##,
            TOP + ph,
            H - 8.0,
            escape(lab)
        );
    }
    map
}

/// One training-curve panel as an `<svg class="chart">`, x = step.
pub fn panel_chart(panel: &Panel, log: &TrainLog) -> String {
    let lines: Vec<(Vec<(f64, f64)>, &super::log::LineSpec)> = panel
        .lines
        .iter()
        .map(|l| (log.series(l.kind, l.key), l))
        .collect();
    let x = Axis::fit(
        lines.iter().flat_map(|(p, _)| p.iter().map(|q| q.0)),
        false,
        4,
    );
    let y = Axis::fit(
        lines.iter().flat_map(|(p, _)| p.iter().map(|q| q.1)),
        panel.log_y,
        4,
    );
    let mut svg =
        format!(r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">"#);
    let map = frame(panel.title, &x, &y, &mut svg);
    // Legend on its own line under the title, left to right.
    let mut legend_x = LEFT;
    for (points, spec) in &lines {
        let colour = rgb(spec.rgb);
        let coords: Vec<(f64, f64)> = points
            .iter()
            .map(|&(s, v)| map(x.frac(s), y.frac(v).clamp(-0.02, 1.02)))
            .collect();
        // Evaluations are few: mark each (a single one would draw no line at all).
        if spec.kind == Kind::Eval || coords.len() == 1 {
            for (cx, cy) in &coords {
                let _ = write!(
                    svg,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="2.8" fill="{colour}"/>"#
                );
            }
        }
        if coords.len() > 1 {
            let pts: Vec<String> = coords
                .iter()
                .map(|(a, b)| format!("{a:.1},{b:.1}"))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{}"/>"#,
                pts.join(" ")
            );
        }
        let last = points
            .last()
            .map_or(String::new(), |p| format!(" {}", short(p.1)));
        let text = format!("— {}{last}", spec.label);
        let _ = write!(
            svg,
            r#"<text x="{legend_x:.1}" y="29" class="lg" fill="{colour}">{}</text>"#,
            escape(&text)
        );
        legend_x += 12.0 + 5.8 * text.chars().count() as f64;
    }
    if lines.iter().all(|(p, _)| p.is_empty()) {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="xl">no data in log.jsonl</text>"#,
            W / 2.0,
            H / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Code counts sorted by frequency (descending) as an `<svg class="hist">` bar chart on a
/// log y axis; dead codes (count 0) are a shaded band at the right.
pub fn usage_histogram(hist: &[u64]) -> String {
    let mut sorted: Vec<u64> = hist.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let k = sorted.len().max(1);
    let used = sorted.iter().filter(|&&c| c > 0).count();
    let (w, h) = (1000.0, 240.0);
    let (left, right, top, bottom) = (56.0, 12.0, 28.0, 30.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let y = Axis::fit(
        sorted
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| c as f64)
            .chain([1.0]),
        true,
        5,
    );
    let mut svg =
        format!(r#"<svg class="hist" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#);
    let _ = write!(
        svg,
        r##"<text x="{left}" y="17" class="t">tokens per code, codes sorted by count ({used} of {k} used; log scale)</text><rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>"##
    );
    if used < k {
        let x0 = left + pw * used as f64 / k as f64;
        let _ = write!(
            svg,
            r##"<rect x="{x0:.1}" y="{top}" width="{:.1}" height="{ph}" fill="#fbe3e3"/><text x="{:.1}" y="{}" class="xl">{} dead</text>"##,
            left + pw - x0,
            (x0 + left + pw) / 2.0,
            top + ph / 2.0,
            k - used
        );
    }
    for (pos, lab) in &y.ticks {
        let py = top + (1.0 - (pos - y.lo) / (y.hi - y.lo)) * ph;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" class="yl">{lab}</text>"##,
            left + pw,
            left - 4.0,
            py + 3.5
        );
    }
    // Bars from the bottom of the log axis (count 1 sits above it), drawn as one path.
    let bw = pw / k as f64;
    let mut d = String::new();
    for (i, &c) in sorted.iter().enumerate().take(used) {
        let f = ((c as f64).log10() - y.lo) / (y.hi - y.lo);
        let bar = (f * ph).max(1.0);
        let _ = write!(
            d,
            "M{:.2} {:.2}h{:.2}v{:.2}h{:.2}z",
            left + i as f64 * bw,
            top + ph - bar,
            bw.max(0.6),
            bar,
            -bw.max(0.6)
        );
    }
    let _ = write!(svg, r#"<path d="{d}" fill="rgb(31,119,180)"/>"#);
    for (i, frac) in [0.0, 0.25, 0.5, 0.75, 1.0].into_iter().enumerate() {
        let rank = 1 + ((k as f64 - 1.0) * frac).round() as usize;
        let anchor = ["start", "middle", "middle", "middle", "end"][i];
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" class="xl" style="text-anchor:{anchor}">rank {rank}</text>"#,
            left + pw * frac,
            h - 10.0
        );
    }
    svg.push_str("</svg>");
    svg
}
