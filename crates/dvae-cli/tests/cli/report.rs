//! `dvae eval` keys, `curves.png`, and `dvae report` rendered in headless Chromium.
//!
//! The Chromium part skips where no `chromium` is installed (a `SKIPPED:` line on stderr,
//! counted by `.ci/run`; see `skipped`), unless `DVAE_REQUIRE_CHROMIUM` is set, as
//! `.ci/run` does after installing it.

use std::path::Path;
use std::process::Command;

use crate::*;

/// Fraction of the box's pixels with a channel below `level` (white is 255).
fn ink(img: &image::RgbImage, [x, y, w, h]: [u32; 4], level: u8) -> f64 {
    let mut n = 0;
    for yy in y..(y + h).min(img.height()) {
        for xx in x..(x + w).min(img.width()) {
            let p = img.get_pixel(xx, yy).0;
            n += usize::from(p.iter().any(|&c| c < level));
        }
    }
    n as f64 / (w * h).max(1) as f64
}

fn chromium() -> Option<String> {
    let exe = std::env::var("DVAE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let ok = Command::new(&exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(exe)
}

/// Headless Chromium with the flags that work on a machine without network or GPU.
fn headless(exe: &str, profile: &Path, extra: &[String], page: &Path) -> std::process::Output {
    let out = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// Records errors (script errors, failed loads: `error` events in the capture phase,
/// console.error) and, at load, every image and chart with its box, into `<pre id=probe>`.
const PROBE: &str = r#"<script>
window.__errs = [];
addEventListener('error', e => __errs.push(e.message || ('failed to load ' + (e.target.tagName || '?'))), true);
const __ce = console.error; console.error = (...a) => { __errs.push(a.join(' ')); __ce(...a); };
addEventListener('load', () => {
  const items = [...document.querySelectorAll('img, svg.chart, svg.hist')].map(e => {
    const r = e.getBoundingClientRect();
    return {tag: e.tagName.toLowerCase(), cls: e.getAttribute('class'),
            box: [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round),
            ok: e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0)};
  });
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({height: document.documentElement.scrollHeight, errors: __errs, items});
  document.body.appendChild(pre);
});
</script>"#;

#[test]
fn eval_json_curves_png_and_report_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    // A checkpoint every 3 steps and a log line every step.
    let run = small_run(
        tmp.path(),
        &[
            "--steps",
            "6",
            "--checkpoint-every",
            "3",
            "--log-every",
            "1",
        ],
    );
    let run_s = run.to_str().unwrap();

    // Training drew its curves.
    let curves = image::open(run.join("curves.png")).unwrap().to_rgb8();
    let (w, h) = curves.dimensions();
    assert!(
        ink(&curves, [0, 0, w, h], 235) > 0.02,
        "curves.png is blank"
    );

    // Every documented key of `dvae eval --json`.
    let o = dvae(&[
        "eval", "--run", run_s, "--data", "default", "--limit", "5", "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["images"], 5);
    for k in [
        "mse",
        "psnr",
        "ssim",
        "ssim_uniform",
        "bits_per_dim",
        "usage",
        "perplexity",
        "token_entropy",
        "cell_entropy",
        "elbo_bits_per_dim",
    ] {
        assert!(v[k].as_f64().is_some_and(f64::is_finite), "{k}: {v}");
    }
    assert!(v["dead_codes"].as_u64().is_some(), "{v}");
    let ssim = v["ssim"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&ssim), "{ssim}");
    // The human table names every key.
    let o = dvae(&["eval", "--run", run_s, "--data", "default", "--limit", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for k in [
        "ssim_uniform",
        "bits_per_dim",
        "token_entropy",
        "cell_entropy",
    ] {
        assert!(stdout(&o).contains(k), "{}", stdout(&o));
    }

    let page = tmp.path().join("report.html");
    let data = tmp.path().join("data");
    let o = dvae(&[
        "report",
        "--run",
        run_s,
        "--data",
        data.to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    for needle in [
        "id=\"metrics\"",
        "id=\"curves\"",
        "id=\"atlas\"",
        "id=\"tokens\"",
        "ssim_uniform",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page links out"
    );
    assert!(!html.contains("<script"), "the page has a script");

    let Some(exe) = chromium() else {
        assert!(
            std::env::var_os("DVAE_REQUIRE_CHROMIUM").is_none(),
            "DVAE_REQUIRE_CHROMIUM is set but chromium is not installed"
        );
        skipped(
            "report.rs: rendering `dvae report` in headless Chromium",
            "no `chromium` on PATH (apt-get install chromium, or set DVAE_CHROMIUM)",
        );
        return;
    };
    // Load a copy with the probe in <head>, and read what it found from the DOM.
    let probed = tmp.path().join("probed.html");
    std::fs::write(
        &probed,
        html.replacen("<head>", &format!("<head>{PROBE}"), 1),
    )
    .unwrap();
    let profile = tmp.path().join("chromium-profile");
    // The same width as the screenshot below, so the boxes are where it draws them.
    let width = "--window-size=1120,2000".to_string();
    let out = headless(&exe, &profile, &["--dump-dom".into(), width], &probed);
    let dom = stdout(&out);
    let logs = stderr(&out);
    for line in logs.lines().filter(|l| l.contains(":CONSOLE")) {
        let message = line.split("] ").nth(1).unwrap_or(line);
        let message = message.split(", source:").next().unwrap_or(message);
        assert!(
            !message.contains("Uncaught") && !message.contains("Error"),
            "console: {line}"
        );
    }
    let json = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("no probe output in the DOM: {}", &dom[..dom.len().min(500)]))
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let probe: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(probe["errors"], serde_json::json!([]), "page errors");
    let items = probe["items"].as_array().unwrap();
    let count = |cls: &str| items.iter().filter(|i| i["cls"] == cls).count();
    assert_eq!(count("chart"), 8, "{items:?}");
    assert_eq!(count("hist"), 1);
    assert!(
        count("px") >= 7,
        "recon rows, atlas, token-map rows: {items:?}"
    );
    assert!(
        items.iter().all(|i| i["ok"] == true),
        "an image did not decode: {items:?}"
    );

    // Screenshot the page itself at its full height; every image and chart is drawn.
    let height = probe["height"].as_u64().unwrap().clamp(600, 12_000);
    let shot = tmp.path().join("shot.png");
    headless(
        &exe,
        &profile,
        &[
            format!("--window-size=1120,{height}"),
            format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let img = image::open(&shot).unwrap().to_rgb8();
    for item in items {
        let b: Vec<u32> = item["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert!(b[2] > 20 && b[3] > 20, "tiny element {item}");
        assert!(b[1] + b[3] <= img.height(), "{item} below the screenshot");
        assert!(
            b[0] + b[2] <= img.width(),
            "{item} overflows the page width"
        );
        // Images: any pixel not page-white is ink (a flat grey reconstruction is drawn);
        // charts are thin anti-aliased lines on white.
        let (level, min) = if item["tag"] == "img" {
            (252, 0.2)
        } else {
            (235, 0.005)
        };
        let f = ink(&img, [b[0], b[1], b[2], b[3]], level);
        assert!(
            f > min,
            "{item} is blank in the screenshot ({f:.3} non-white)"
        );
    }
    // Every training chart draws a coloured series, not just its frame and grid lines.
    for chart in items.iter().filter(|i| i["cls"] == "chart") {
        let b: Vec<u32> = chart["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        // Inside the plot frame only (the legend text is coloured too).
        let coloured = (b[1] + 40..b[1] + b[3] - 26)
            .flat_map(|y| (b[0]..b[0] + b[2]).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = img.get_pixel(x, y).0;
                // Frame, grid and labels are grey: a saturated pixel is a series.
                p.iter().max().unwrap() - p.iter().min().unwrap() > 60
            })
            .count();
        assert!(coloured > 20, "no series drawn in {chart}");
    }
}
