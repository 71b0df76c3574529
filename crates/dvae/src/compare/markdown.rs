//! The comparison as a Markdown table.

use super::row::Comparison;

/// The table as Markdown.
pub fn markdown(c: &Comparison) -> String {
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("–".into(), f);
    let step = |s: Option<usize>, discrete: bool| match (s, discrete) {
        (Some(s), _) => s.to_string(),
        (None, true) => "not reached".into(),
        (None, false) => "–".into(),
    };
    let mut s = format!(
        "{} steps × batch {}, seed {}, data `{}`, scored on `{}`; target training recon loss {:.4}\n\n",
        c.steps, c.batch, c.seed, c.data, c.eval_data, c.target_recon
    );
    s.push_str(
        "| model | family | PSNR dB | SSIM | MSE | bits/dim | bits/cell | usage % | perplexity | dead codes | usage 50% at | usage 90% at | ‖∇enc‖/‖∇dec‖ | steps to target | ms/step | wall s | sampling | variant |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &c.rows {
        let discrete = r.usage.is_some();
        s.push_str(&format!(
            "| {} | {} | {:.2} | {} | {:.5} | {} | {:.1} | {} | {} | {} | {} | {} | {:.3} | {} | {:.0} | {:.0} | {} | {} |\n",
            r.name,
            r.family,
            r.psnr,
            opt(r.ssim, &|v| format!("{v:.3}")),
            r.mse,
            opt(r.bits_per_dim, &|v| format!("{v:.2}")),
            r.bits_per_cell,
            opt(r.usage, &|u| format!("{:.1}", 100.0 * u)),
            opt(r.perplexity, &|p| format!("{p:.1}")),
            r.dead_codes.map_or("–".into(), |d| d.to_string()),
            step(r.usage_50_step, discrete),
            step(r.usage_90_step, discrete),
            r.enc_dec_grad_ratio,
            r.steps_to_target
                .map_or("not reached".into(), |s| s.to_string()),
            r.ms_per_step,
            r.wall_s,
            r.sampling,
            r.note,
        ));
    }
    s
}
