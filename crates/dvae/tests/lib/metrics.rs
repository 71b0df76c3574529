//! Metrics against scikit-image and an mpmath computation (`tools/make_metric_fixtures.py`,
//! fixtures in `tests/fixtures/metrics/`), and the streaming evaluation against the batched
//! one.

use burn::prelude::*;
use dvae::Tokenizer;
use dvae::config::{Recipe, TrainConfig};
use dvae::data::stream::{ImageStream, to_tensor};
use dvae::data::{DataSource, ImageSet};
use dvae::metrics::{self, SsimWindow, bits};
use dvae::run_config::{FORMAT_VERSION, RunConfig};

use crate::common::fixture;

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("metrics/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A fixture PNG as CHW floats in [0, 1] (bytes / 255, as scikit-image was given them).
fn chw(name: &str) -> (Vec<f32>, usize, usize) {
    let img = image::open(fixture(&format!("metrics/{name}")))
        .unwrap()
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * w * h];
    dvae::data::hwc_to_chw(img.as_raw(), &mut out);
    (out, h, w)
}

#[test]
fn ssim_psnr_and_mse_match_scikit_image() {
    // Tolerance 1e-4 (the issue's); observed: below 1.1e-8 (our inputs are f32 bytes / 255).
    for p in expected()["pairs"].as_array().unwrap() {
        let (a, h, w) = chw(p["a"].as_str().unwrap());
        let (b, _, _) = chw(p["b"].as_str().unwrap());
        assert_eq!(
            (h, w),
            (
                p["height"].as_u64().unwrap() as usize,
                p["width"].as_u64().unwrap() as usize
            )
        );
        let g = metrics::ssim(&a, &b, 3, h, w, SsimWindow::Gaussian).unwrap();
        let u = metrics::ssim(&a, &b, 3, h, w, SsimWindow::Uniform).unwrap();
        let m = metrics::mse(&a, &b);
        for (what, ours, theirs) in [
            ("ssim", g, p["ssim"].as_f64().unwrap()),
            ("ssim_uniform", u, p["ssim_uniform"].as_f64().unwrap()),
            ("mse", m, p["mse"].as_f64().unwrap()),
            ("psnr", metrics::psnr(m), p["psnr"].as_f64().unwrap()),
        ] {
            assert!(
                (ours - theirs).abs() < 1e-4,
                "{}: {what} {ours} vs scikit-image {theirs}",
                p["a"]
            );
        }
        // Symmetric in its arguments.
        let g2 = metrics::ssim(&b, &a, 3, h, w, SsimWindow::Gaussian).unwrap();
        assert!((g - g2).abs() < 1e-12);
    }
}

#[test]
fn discretised_logit_laplace_matches_mpmath() {
    // Relative tolerance 1e-9: the reference is exact to 2500 digits, ours is f64 in log
    // space; cases include both edge bins and tails thousands of scales out.
    let e = &expected()["bits"];
    let col = |k: &str| -> Vec<f64> {
        e[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (px, mu, ln_b, lp) = (col("pixels"), col("mu"), col("ln_b"), col("log_prob"));
    assert!(lp.len() >= 90);
    for i in 0..lp.len() {
        let ours = bits::log_prob(px[i] as u8, mu[i], ln_b[i]);
        assert!(
            (ours - lp[i]).abs() <= 1e-9 * lp[i].abs().max(1.0),
            "byte {} mu {} ln b {}: {ours} vs {}",
            px[i],
            mu[i],
            ln_b[i],
            lp[i]
        );
    }
    // nll_nats sums the same terms from pixels in [0, 1].
    let pixels: Vec<f32> = px.iter().map(|&k| k as f32 / 255.0).collect();
    let (m32, b32): (Vec<f32>, Vec<f32>) = (
        mu.iter().map(|&v| v as f32).collect(),
        ln_b.iter().map(|&v| v as f32).collect(),
    );
    let expect: f64 = (0..px.len())
        .map(|i| -bits::log_prob(px[i] as u8, m32[i] as f64, b32[i] as f64))
        .sum();
    assert!((bits::nll_nats(&pixels, &m32, &b32) - expect).abs() < 1e-9 * expect);
}

fn untrained(vocab: usize) -> Tokenizer {
    let device = Device::flex();
    let mut model = crate::common::small_model();
    model.vocab_size = vocab;
    let config = RunConfig {
        format_version: FORMAT_VERSION,
        preset: "tiny".into(),
        bottleneck: crate::common::dvae_family_for(Recipe::Default),
        train: TrainConfig::recipe(Recipe::Default, 10),
        data: "default".into(),
        model: model.clone(),
    };
    Tokenizer::from_model(config, crate::common::net(&model, 1, &device), &device)
}

#[test]
fn streaming_evaluation_equals_the_batched_one() {
    let dvae = untrained(64);
    let set = ImageSet::procedural(10, 32);
    let idx: Vec<usize> = (0..10).collect();
    let (recons, batched) = dvae.evaluate(&set, &idx, 4).unwrap();
    assert_eq!(recons.len(), 10);
    let mut stream = ImageStream::open(&DataSource::Default, 32, false, Some(10)).unwrap();
    assert_eq!(stream.len_hint(), 10);
    let device = dvae.device().clone();
    let batches = std::iter::from_fn(|| stream.next_tensor(3, &device));
    let mut seen = Vec::new();
    let streamed = dvae.evaluate_stream(batches, |n| seen.push(n)).unwrap();
    assert_eq!(seen, [3, 6, 9, 10]);
    assert_eq!(streamed.images, 10);
    for (a, b, what) in [
        (batched.mse, streamed.mse, "mse"),
        (batched.psnr, streamed.psnr, "psnr"),
        (batched.ssim.unwrap(), streamed.ssim.unwrap(), "ssim"),
        (
            batched.bits_per_dim.unwrap(),
            streamed.bits_per_dim.unwrap(),
            "bits",
        ),
        (batched.cell_entropy, streamed.cell_entropy, "cell entropy"),
    ] {
        assert!(
            (a - b).abs() < 1e-5 * a.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }
    assert_eq!(batched.dead_codes, streamed.dead_codes);
    // An untrained encoder is unsure: per-cell entropy near log2 K; the marginal of 10
    // images' argmax tokens is far narrower.
    assert!(streamed.cell_entropy > 0.5 * 6.0 && streamed.cell_entropy <= 6.0 + 1e-9);
    assert!(streamed.token_entropy <= 6.0 + 1e-9);
    // Bits per dimension recomputed here from the decoder's own μ and ln b of the argmax
    // tokens (the channels-last path the evaluation runs on), with `bits::log_prob`, which
    // the test above pins to mpmath: it checks the plumbing (which channels are μ and ln b,
    // the bytes, the per-image average over C·H·W). Within 1e-9 relative (f64 sums in
    // another order; the f32 inputs are the same).
    let bpd = streamed.bits_per_dim.unwrap();
    let x = set.batch(&idx, &device);
    let tokens = dvae.encode(x.clone()).unwrap();
    let out = dvae.decode_input(dvae.model.token_input(tokens));
    let (xs, stats) = (
        dvae::kernels::host::float_values(x),
        dvae::kernels::host::float_values(out),
    );
    let plane = 3 * 32 * 32;
    let want = (0..10)
        .map(|i| {
            let st = &stats[i * 2 * plane..(i + 1) * 2 * plane];
            let px = &xs[i * plane..(i + 1) * plane];
            bits::nats_to_bits(bits::nll_nats(px, &st[..plane], &st[plane..])) / plane as f64
        })
        .sum::<f64>()
        / 10.0;
    assert!(
        (bpd - want).abs() <= 1e-9 * want,
        "{bpd} vs {want} recomputed"
    );
    let elbo = streamed.elbo_bits_per_dim.unwrap();
    assert!((elbo - bpd - 16.0 * 6.0 / (3.0 * 32.0 * 32.0)).abs() < 1e-9);
}

#[test]
fn a_folder_streams_skipping_unreadable_files() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..5 {
        let px = dvae::data::procedural::draw(2, i, 20);
        image::RgbImage::from_raw(20, 20, px)
            .unwrap()
            .save(tmp.path().join(format!("im{i}.png")))
            .unwrap();
    }
    std::fs::write(tmp.path().join("broken.png"), b"not a png").unwrap();
    std::fs::write(tmp.path().join("notes.txt"), b"hello").unwrap();
    let src = DataSource::Folder(tmp.path().to_path_buf());
    let mut s = ImageStream::open(&src, 16, false, Some(4)).unwrap();
    let mut n = 0;
    while let Some(b) = s.next_batch(3) {
        let b = b.unwrap();
        assert!(b.iter().all(|img| img.len() == 16 * 16 * 3));
        n += b.len();
    }
    assert_eq!(n, 4);
    assert_eq!(s.skipped.len(), 2, "{:?}", s.skipped);
    assert_eq!(
        to_tensor(&[vec![255; 16 * 16 * 3]], 16, &Device::flex()).dims(),
        [1, 3, 16, 16]
    );
    // --strict refuses the text file up front.
    let err = ImageStream::open(&src, 16, true, None).err().unwrap();
    assert!(err.to_string().contains("notes.txt"), "{err}");
}
