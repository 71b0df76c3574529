//! A run as one self-contained HTML page ([`render`]), and its training curves as
//! `curves.png` ([`write_curves_png`]).
//!
//! The page has no script and loads nothing: charts are inline SVG, images inline PNG data
//! URIs, so the file reads the same offline and can be mailed around.

pub mod axis;
pub mod curves_png;
mod font;
pub mod html;
pub mod log;
mod sections;
pub mod sheet;
pub mod svg;
pub mod visuals;

use std::fmt::Write;

use burn::module::Module;

use crate::Tokenizer;
use crate::artifact::RunDir;
use crate::data::{ImageSet, Split};
use crate::error::Result;
use crate::metrics::EvalAccumulator;
use crate::run_config::RunConfig;
pub use curves_png::write_curves_png;
use html::escape;
use log::TrainLog;

/// How much a report shows.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Images in the reconstruction grid.
    pub grid_images: usize,
    /// Images shown with their token maps.
    pub token_maps: usize,
    /// Codes in the codebook atlas at most (the most used ones).
    pub atlas_codes: usize,
    /// Images per batch.
    pub batch: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            grid_images: 8,
            token_maps: 6,
            atlas_codes: 256,
            batch: 32,
        }
    }
}

/// The images a report scores: a set, which of its images, and a description of them.
pub struct ReportData<'a> {
    /// The images.
    pub set: &'a ImageSet,
    /// Which of them, in order (the grid and token maps show the first ones).
    pub indices: &'a [usize],
    /// What they are, for the page ("held-out split of …").
    pub label: String,
}

/// The images training held out from `set` (its configured split; all of them when it
/// held out none), at most `limit`.
pub fn held_out_indices(config: &RunConfig, set: &ImageSet, limit: usize) -> Vec<usize> {
    let split = Split::new(set.len(), config.train.holdout);
    let mut idx = if split.holdout.is_empty() {
        split.train
    } else {
        split.holdout
    };
    idx.truncate(limit);
    idx
}

pub(crate) fn scale_for(size: usize) -> usize {
    (128 / size.max(1)).clamp(1, 4)
}

/// Renders the report of `run` (loaded as `dvae`) on `data`.
pub fn render(
    run: &RunDir,
    dvae: &Tokenizer,
    data: &ReportData,
    opts: &ReportOptions,
) -> Result<String> {
    let m = &dvae.config.model;
    let (s, g) = (m.image_size, m.grid_size());
    let log = TrainLog::read(run)?;

    // Score every selected image; keep the few reconstructions the page shows.
    let keep = opts.grid_images.max(opts.token_maps);
    let mut acc = EvalAccumulator::new(m.vocab_size);
    let mut recons = Vec::new();
    for chunk in data.indices.chunks(opts.batch.max(1)) {
        let r = dvae.score_batch(data.set.batch(chunk, dvae.device()), &mut acc)?;
        recons.extend(r.into_iter().take(keep.saturating_sub(recons.len())));
    }
    let report = acc.report();

    let name = run
        .root
        .file_name()
        .map_or(run.root.display().to_string(), |n| {
            n.to_string_lossy().into()
        });
    let last_step = log.steps.last().and_then(|v| v["step"].as_u64());
    let mut body = format!(
        "<h1>dvae report: {}</h1><p class=\"sub\">{} · {} preset · {} codes · {g}×{g} tokens per {s}×{s} image · {} parameters · {} · run directory <code>{}</code></p>\n",
        escape(&name),
        dvae.config.bottleneck,
        escape(&dvae.config.preset),
        m.vocab_size,
        thousands(dvae.model.num_params()),
        last_step.map_or("no training log".into(), |s| format!("trained {s} steps")),
        escape(&run.root.display().to_string())
    );
    let mut add = |title: &str, id: &str, html: &str| {
        let _ = write!(
            body,
            "<section id=\"{id}\"><h2>{}</h2>\n{html}\n</section>\n",
            escape(title)
        );
    };
    add(
        "Held-out metrics",
        "metrics",
        &sections::metrics_table(&report, &log, &data.label),
    );
    let charts: String = log::PANELS
        .iter()
        .map(|p| svg::panel_chart(p, &log))
        .collect();
    add(
        "Training curves",
        "curves",
        &format!(
            "<div class=\"charts\">{charts}</div><p class=\"cap\">From <code>log.jsonl</code>: step lines (values of the training batch) and held-out evaluations; the number after each legend is the last value. Training also draws these as <code>curves.png</code> in the run directory.</p>"
        ),
    );
    add(
        "Reconstructions",
        "recon",
        &sections::recon_section(data, &recons, s, opts)?,
    );
    if dvae.model.family().vocab(m).is_some() {
        let hist = acc.histogram();
        add(
            "Codebook usage",
            "usage",
            &format!(
                "{}<p class=\"cap\">Tokens of the {} scored images ({} cells). Perplexity {:.1}; token entropy {:.2} of at most {:.2} bits.</p>",
                svg::usage_histogram(hist),
                report.images,
                hist.iter().sum::<u64>(),
                report.perplexity,
                report.token_entropy,
                (m.vocab_size as f64).log2()
            ),
        );
        add(
            "Codebook atlas",
            "atlas",
            &sections::atlas_section(dvae, hist, opts)?,
        );
        add(
            "Token maps",
            "tokens",
            &sections::token_section(dvae, data, &recons, opts)?,
        );
    } else {
        add(
            "Codebook",
            "usage",
            &format!(
                "<p class=\"cap\">The {} family has a continuous latent: no tokens, codebook or token maps.</p>",
                dvae.config.bottleneck
            ),
        );
    }
    add(
        "Resolved configuration",
        "config",
        &sections::config_section(&dvae.config),
    );
    Ok(html::page(&format!("dvae report: {name}"), &body))
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(801_718), "801,718");
        assert_eq!(super::thousands(12), "12");
        assert_eq!(super::thousands(1_000), "1,000");
    }
}
