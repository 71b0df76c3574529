//! The sections of the report page below the curves: metrics table, reconstructions,
//! codebook atlas, token maps and the configuration.

use std::fmt::Write;

use super::html::{self, escape, img};
use super::log::TrainLog;
use super::visuals;
use super::{ReportData, ReportOptions, scale_for};
use crate::Tokenizer;
use crate::error::Result;
use crate::metrics::{EvalReport, describe};
use crate::pipeline::Reconstruction;
use crate::run_config::RunConfig;

/// Amplification of the error images.
const ERROR_GAIN: f32 = 3.0;

pub(super) fn metrics_table(r: &EvalReport, log: &TrainLog, label: &str) -> String {
    let last = log.last_eval();
    let trained: Option<EvalReport> = last.and_then(|v| serde_json::from_value(v.clone()).ok());
    let mut rows = Vec::new();
    for row in describe(r) {
        let at_train = match (last, &trained) {
            (Some(v), Some(t)) if !v[row.key].is_null() => describe(t)
                .into_iter()
                .find(|x| x.key == row.key)
                .map_or("—".into(), |x| escape(&x.value)),
            _ => "—".into(),
        };
        rows.push(vec![
            format!("<code>{}</code>", row.key),
            format!("<b>{}</b>", escape(&row.value)),
            at_train,
            escape(&row.note),
        ]);
    }
    let step = last
        .and_then(|v| v["step"].as_u64())
        .map_or("training's last evaluation".into(), |s| {
            format!("training, step {s}")
        });
    format!(
        "<p class=\"sub\">{}.</p>{}<p class=\"cap\">The middle column is the last held-out evaluation in <code>log.jsonl</code> (up to 256 images, with the EMA weights of that step). Keys as in <code>dvae eval --json</code>.</p>",
        escape(label),
        html::table(&["metric", "this report", &step, "meaning"], &rows)
    )
}

/// How many of `wanted` tiles of `size` pixels one strip shows, and at what zoom: the
/// largest zoom up to [`scale_for`] at which at least min(wanted, 4) tiles fit the page's
/// 1000-pixel column (a few images large beat many too small to see).
/// One labelled strip of `n` tiles (each `s`×`s`, drawn at `scale`) per row.
fn labelled_strips(
    rows: &[(&str, &Vec<Vec<u8>>)],
    s: usize,
    n: usize,
    scale: usize,
) -> Result<String> {
    let mut out = String::new();
    for (label, tiles) in rows {
        let (w, h, px) = crate::grid::tile(tiles, s, n.max(1));
        let _ = write!(
            out,
            "<div class=\"lab\">{}</div>{}",
            escape(label),
            img(w, h, &px, scale, label)?
        );
    }
    Ok(out)
}

fn strip_fit(wanted: usize, size: usize) -> (usize, usize) {
    for zoom in (1..=scale_for(size)).rev() {
        let fit = (1000 / zoom).saturating_sub(2) / (size + 2);
        if fit >= wanted.clamp(1, 4) || zoom == 1 {
            return (wanted.min(fit.max(1)), zoom);
        }
    }
    (wanted.min(1), 1)
}

pub(super) fn recon_section(
    data: &ReportData,
    recons: &[Reconstruction],
    s: usize,
    opts: &ReportOptions,
) -> Result<String> {
    let (n, scale) = strip_fit(recons.len().min(opts.grid_images), s);
    let originals: Vec<Vec<u8>> = data.indices[..n]
        .iter()
        .map(|&i| data.set.image(i))
        .collect();
    let recon: Vec<Vec<u8>> = recons[..n].iter().map(|r| r.pixels.clone()).collect();
    let errors: Vec<Vec<u8>> = originals
        .iter()
        .zip(&recon)
        .map(|(a, b)| visuals::abs_error(a, b, ERROR_GAIN))
        .collect();
    let err_label = format!("|error| ×{ERROR_GAIN}");
    let mut out = labelled_strips(
        &[
            ("original", &originals),
            ("reconstruction", &recon),
            (err_label.as_str(), &errors),
        ],
        s,
        n,
        scale,
    )?;
    let psnrs: Vec<String> = recons[..n]
        .iter()
        .map(|r| format!("{:.1}", r.psnr))
        .collect();
    let _ = write!(
        out,
        "<p class=\"cap\">The first {n} scored images, encoded and decoded. Error: mean absolute difference over the channels, ×{ERROR_GAIN}, black = exact. PSNR (dB): {}.</p>",
        psnrs.join(", ")
    );
    Ok(out)
}

pub(super) fn atlas_section(
    dvae: &Tokenizer,
    hist: &[u64],
    opts: &ReportOptions,
) -> Result<String> {
    let s = dvae.config.model.image_size;
    let used = hist.iter().filter(|&&c| c > 0).count();
    // The used codes, most used first; all codes when none was used.
    let wanted = if used == 0 { hist.len() } else { used };
    let (codes, _) = visuals::most_used(hist, wanted.min(opts.atlas_codes));
    let mut side = s;
    let tiles: Vec<Vec<u8>> = visuals::atlas_tiles(dvae, &codes, opts.batch)?
        .into_iter()
        .map(|t| {
            let (t, sz) = visuals::shrink(t, s, 64);
            side = sz;
            t
        })
        .collect();
    // Double a small atlas so its tiles can be seen.
    let scale = if side <= 32 || (side <= 64 && tiles.len() <= 64) {
        2
    } else {
        1
    };
    let cols = (1000 / (side * scale + 2 * scale)).clamp(1, tiles.len().max(1));
    let (w, h, px) = crate::grid::tile(&tiles, side, cols);
    let mut which = format!(
        "the {} most used of the {used} codes the scored images use",
        codes.len()
    );
    if codes.len() == used {
        which = format!("all {used} codes the scored images use");
    }
    if used == 0 {
        which = format!("the first {} codes (no image used any)", codes.len());
    }
    let left_out = hist.len() - codes.len();
    let list: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    Ok(format!(
        "{}<p class=\"cap\">Each tile is what the decoder draws for a token grid holding one code in every cell: {which}, ordered by use, left to right{}. {left_out} of {} codes are not shown{}.</p><details><summary>code ids in tile order</summary><p class=\"cap\">{}</p></details>",
        img(w, h, &px, scale, "codebook atlas")?,
        if side < s {
            format!(", shrunk from {s} to {side} pixels")
        } else {
            String::new()
        },
        hist.len(),
        if codes.len() < used {
            format!(" (--atlas {} shows at most that many)", opts.atlas_codes)
        } else {
            String::new()
        },
        list.join(" ")
    ))
}

pub(super) fn token_section(
    dvae: &Tokenizer,
    data: &ReportData,
    recons: &[Reconstruction],
    opts: &ReportOptions,
) -> Result<String> {
    let m = &dvae.config.model;
    let (s, g) = (m.image_size, m.grid_size());
    let (n, scale) = strip_fit(recons.len().min(opts.token_maps), s);
    let grids = dvae.encode_set(data.set, &data.indices[..n], opts.batch)?;
    let originals: Vec<Vec<u8>> = data.indices[..n]
        .iter()
        .map(|&i| data.set.image(i))
        .collect();
    let maps: Vec<Vec<u8>> = grids
        .ids
        .chunks(g * g)
        .map(|ids| visuals::token_map(ids, g, s))
        .collect();
    let recon: Vec<Vec<u8>> = recons[..n].iter().map(|r| r.pixels.clone()).collect();
    let mut out = labelled_strips(
        &[
            ("original", &originals),
            ("tokens (one colour per id)", &maps),
            ("reconstruction", &recon),
        ],
        s,
        n,
        scale,
    )?;
    let distinct: Vec<String> = grids
        .ids
        .chunks(g * g)
        .map(|ids| {
            let mut d = ids.to_vec();
            d.sort_unstable();
            d.dedup();
            d.len().to_string()
        })
        .collect();
    let _ = write!(
        out,
        "<p class=\"cap\">The {g}×{g} token grid of each image, a colour per code id (the same code has the same colour in every image). Distinct codes per image, of {}: {}.</p>",
        g * g,
        distinct.join(", ")
    );
    Ok(out)
}

pub(super) fn config_section(config: &RunConfig) -> String {
    let value = serde_json::to_value(config).unwrap_or_default();
    let mut cells = String::new();
    let mut flat = Vec::new();
    flatten("", &value, &mut flat);
    for (k, v) in &flat {
        let _ = write!(cells, "<div><b>{}</b> {}</div>", escape(k), escape(v));
    }
    let pretty = serde_json::to_string_pretty(config).unwrap_or_default();
    format!(
        "<div class=\"cfg\">{cells}</div><details><summary>config.json</summary><pre>{}</pre></details>",
        escape(&pretty)
    )
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::strip_fit;

    #[test]
    fn strips_fit_the_column_at_a_visible_zoom() {
        assert_eq!(strip_fit(8, 64), (7, 2));
        assert_eq!(strip_fit(6, 64), (6, 2));
        assert_eq!(strip_fit(8, 32), (7, 4));
        assert_eq!(strip_fit(8, 256), (3, 1));
        assert_eq!(strip_fit(1, 64), (1, 2));
    }
}
