//! The four families: each trains, the VQ-VAE matches PyTorch, the anti-collapse remedies
//! raise usage, the VAE's KL has its closed form, the straight-through gradient is exact.

use burn::prelude::*;
use dvae::artifact::RunDir;
use dvae::config::{ModelConfig, Recipe, ReconLoss, TrainConfig};
use dvae::data::ImageSet;
use dvae::kernels::engine::Engine;
use dvae::model::family::FamilyConfig;
use dvae::model::family::api::{Family, FamilyParams, QuantizerOutput, Step};
use dvae::model::family::codebook::{HostCodebook, VectorQuantizer};
use dvae::model::family::vae::kl_to_standard_normal;
use dvae::model::family::vqvae::VqOptions;
use dvae::run_config::{FORMAT_VERSION, RunConfig};
use dvae::train::{Event, TrainOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::common::{fixture, values};

/// `vq`'s training quantization of `z` with commitment `beta` and an EMA or loss-trained
/// codebook.
fn quantize(vq: &VectorQuantizer, z: Tensor<4>, beta: f64, ema: bool) -> QuantizerOutput {
    let o = VqOptions {
        commitment: beta,
        ema,
        ..VqOptions::default()
    };
    let s = Step {
        step: 0,
        engine: Engine::Generic,
    };
    o.quantize(s, Some(&FamilyParams::Codebook(vq.clone())), z, None)
}

fn small_config(family: &str, steps: usize) -> RunConfig {
    let model = ModelConfig {
        image_size: 16,
        input_channels: 3,
        group_count: 2,
        n_hid: 8,
        n_blk_per_group: 1,
        vocab_size: 16,
        n_init: 8,
        recon_loss: ReconLoss::LogitLaplace,
        code_dim: 8,
    };
    let mut train = TrainConfig::recipe(Recipe::Default, steps);
    train.batch = 8;
    train.lr = 3e-3;
    train.log_every = 1;
    train.checkpoint_every = steps;
    train.holdout = 0.2;
    RunConfig {
        format_version: FORMAT_VERSION,
        preset: "test".into(),
        model: model.clone(),
        bottleneck: FamilyConfig::of_model(family, Recipe::Default, steps, &model).unwrap(),
        train,
        data: "default".into(),
    }
}

/// Trains `config` into `dir`; returns the reconstruction term of every logged step.
fn train_logging(
    dir: &std::path::Path,
    config: &RunConfig,
    data: &ImageSet,
) -> (Vec<f64>, dvae::train::TrainSummary) {
    let mut recon = Vec::new();
    let summary = dvae::train::train(
        &RunDir::new(dir),
        config,
        data,
        &Device::flex(),
        &TrainOptions::default(),
        |e| {
            if let Event::Step(s) = e {
                recon.push(s.recon);
            }
        },
    )
    .unwrap();
    (recon, summary)
}

/// Every row of the comparison (every family, and each one's variants: the VQ-VAE's
/// upgrades, SimVQ, BSQ, …) learns, and the discrete ones use more than a few codes.
#[test]
fn every_family_lowers_its_reconstruction_loss() {
    let data = ImageSet::procedural(40, 16);
    let rows = dvae::compare::variants(&small_config("dvae", 60)).unwrap();
    assert!(rows.len() >= 12, "{} rows", rows.len());
    for v in rows {
        let family = v.name.as_str();
        let dir = tempfile::tempdir().unwrap();
        let (recon, summary) = train_logging(dir.path(), &v.config, &data);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (first, last) = (mean(&recon[..5]), mean(&recon[recon.len() - 5..]));
        assert!(
            last < first - 0.05,
            "{family}: recon {first:.4} → {last:.4}"
        );
        let eval = summary.eval.unwrap();
        assert!(eval.psnr.is_finite(), "{family}: {eval:?}");
        // Tokens exist exactly for the discrete families.
        let model = dvae::Tokenizer::load(dir.path()).unwrap();
        let x = data.batch(&[0, 1], model.device());
        let discrete = v
            .config
            .bottleneck
            .family()
            .vocab(&v.config.model)
            .is_some();
        assert_eq!(model.encode(x).is_ok(), discrete, "{family}");
        eprintln!("{family}: usage {:.2} psnr {:.2}", eval.usage, eval.psnr);
        if discrete && family != "vqvae-plain" && family != "dvae-tau16" {
            // 8 held-out images of 64 cells: at least 4 of the 16 codes.
            assert!(eval.usage > 0.2, "{family}: usage {}", eval.usage);
        }
    }
}

fn fixture_json() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("vq/vq.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn host(codes: Vec<f32>, d: usize) -> HostCodebook {
    let k = codes.len() / d;
    HostCodebook {
        sum: codes.clone(),
        codes,
        count: vec![1.0; k],
        last_used: vec![0.0; k],
        dim: d,
    }
}

/// A VQ module holding `codes`; `z` rows become a `[1, D, 1, N]` encoder output.
fn vq_with(codes: &[f32], d: usize, device: &Device) -> VectorQuantizer {
    let k = codes.len() / d;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    VectorQuantizer::new(k, d, &mut rng, device).set_host(&host(codes.to_vec(), d))
}

fn as_grid(z: &[f32], n: usize, d: usize, device: &Device) -> Tensor<4> {
    Tensor::<1>::from_floats(z, device)
        .reshape([1, 1, n, d])
        .permute([0, 3, 1, 2])
}

#[test]
fn vq_losses_gradients_and_ema_match_pytorch() {
    let f = fixture_json();
    let (n, d) = (
        f["n"].as_u64().unwrap() as usize,
        f["d"].as_u64().unwrap() as usize,
    );
    let device = Device::flex().autodiff();
    let vq = vq_with(&floats(&f["codes"]), d, &device);
    let z = as_grid(&floats(&f["z"]), n, d, &device).require_grad();
    let beta = f["commitment"].as_f64().unwrap();
    let out = quantize(&vq, z.clone(), beta, false);
    let idx: Vec<i64> = out
        .indices
        .clone()
        .unwrap()
        .into_data()
        .iter::<i64>()
        .collect();
    let want: Vec<i64> = f["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(idx, want);
    let loss_want =
        f["codebook_loss"].as_f64().unwrap() + beta * f["commit_loss"].as_f64().unwrap();
    let loss = out.latent_loss.clone().into_scalar::<f32>() as f64;
    assert!((loss - loss_want).abs() < 1e-5, "{loss} vs {loss_want}");
    // Gradients of latent loss + Σ z_q·w, to z (straight-through plus commitment) and codes.
    let w = as_grid(&floats(&f["w"]), n, d, &device);
    let total = out.latent_loss + (out.z_q * w).sum();
    let grads = total.backward();
    let gz = values(
        z.grad(&grads)
            .unwrap()
            .permute([0, 2, 3, 1])
            .reshape([n * d]),
    );
    let gc = values(
        vq.codebook
            .val()
            .grad(&grads)
            .unwrap()
            .reshape([vq.size() * d]),
    );
    for (a, b) in gz.iter().zip(floats(&f["grad_z"])) {
        assert!((a - b).abs() < 1e-5, "grad z {a} vs {b}");
    }
    for (a, b) in gc.iter().zip(floats(&f["grad_codes"])) {
        assert!((a - b).abs() < 1e-5, "grad codes {a} vs {b}");
    }
    // The EMA update.
    let mut h = host(floats(&f["codes"]), d);
    let ids: Vec<u32> = want.iter().map(|&i| i as u32).collect();
    h.ema_update(
        &floats(&f["z"]),
        &ids,
        f["decay"].as_f64().unwrap() as f32,
        f["eps"].as_f64().unwrap() as f32,
    );
    for (name, got) in [
        ("ema_count", &h.count),
        ("ema_sum", &h.sum),
        ("ema_codes", &h.codes),
    ] {
        for (a, b) in got.iter().zip(floats(&f[name])) {
            assert!((a - b).abs() < 1e-5, "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn straight_through_passes_the_decoder_gradient_unchanged() {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let vq = VectorQuantizer::new(8, 4, &mut rng, &device);
    let z = Tensor::<4>::random(
        [2, 4, 3, 3],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    )
    .require_grad();
    let w = Tensor::<4>::random(
        [2, 4, 3, 3],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let out = quantize(&vq, z.clone(), 0.25, true);
    // The forward value is the code, not z.
    let diff = (out.z_q.clone() - z.clone())
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff > 1e-3);
    let grads = (out.z_q * w.clone()).sum().backward();
    let g = values(z.grad(&grads).unwrap());
    assert_eq!(g, values(w.inner()));
}

/// Four tight clusters far from a codebook whose codes all sit at one point: every vector
/// picks code 0 (usage 1/4) until a remedy runs.
fn collapsed() -> (Vec<f32>, HostCodebook) {
    let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
    let mut z = Vec::new();
    for i in 0..64 {
        let c = centres[i % 4];
        let jitter = (i as f32 * 0.37).sin() * 0.1;
        z.extend([c[0] + jitter, c[1] - jitter]);
    }
    (z, host(vec![100.0; 8], 2))
}

fn usage(h: &HostCodebook, z: &[f32]) -> usize {
    let device = Device::flex();
    let zt = Tensor::<1>::from_floats(z, &device).reshape([z.len() / 2, 2]);
    let codes = Tensor::<1>::from_floats(h.codes.as_slice(), &device).reshape([h.size(), 2]);
    let idx = dvae::kernels::host::int_values(dvae::model::family::codebook::nearest(zt, codes));
    let mut seen = vec![false; h.size()];
    idx.iter().for_each(|&i| seen[i as usize] = true);
    seen.iter().filter(|&&s| s).count()
}

#[test]
fn kmeans_init_and_dead_code_restart_raise_usage() {
    let (z, h) = collapsed();
    assert_eq!(usage(&h, &z), 1);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut km = h.clone();
    km.kmeans_init(&z, 10, &mut rng, &Device::flex());
    assert_eq!(usage(&km, &z), 4, "k-means should find the four clusters");

    let mut rs = h.clone();
    rs.mark_used(&[0], 10);
    // Code 0 was used at step 10; codes 1-3 never: at step 12 with a 5-step limit only
    // they are restarted, onto rows of the data.
    assert_eq!(rs.restart_dead(&z, 12, 5, &mut rng), 3);
    assert_eq!(rs.last_used, vec![10.0, 12.0, 12.0, 12.0]);
    assert!(usage(&rs, &z) >= 2, "restart re-seeds codes onto the data");
}

#[test]
fn vae_kl_matches_the_closed_form() {
    let device = Device::flex();
    let mu = [0.5f32, -1.0, 0.0, 2.0];
    let lv = [0.0f32, -0.5, 1.0, 0.3];
    let t = |v: &[f32]| Tensor::<1>::from_floats(v, &device).reshape([2, 1, 1, 2]);
    let got = kl_to_standard_normal(t(&mu), t(&lv)).into_scalar::<f32>() as f64;
    let want: f64 = mu
        .iter()
        .zip(&lv)
        .map(|(&m, &l)| 0.5 * ((m as f64).powi(2) + (l as f64).exp() - 1.0 - l as f64))
        .sum::<f64>()
        / 2.0;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn codebook_std_is_the_dvaes_alone() {
    // `codebook_std` (on in the default recipe) redraws the dVAE's codebook, the decoder's
    // input convolution. Applied to a VAE's decoder it once made the first reconstruction
    // NLL about 1e5 on `tiny`: now it is an option of the dVAE only, and it changes the
    // decoder's input weight and nothing else.
    let vae = serde_json::to_value(FamilyConfig::of("vae", Recipe::Default, 10).unwrap()).unwrap();
    assert!(vae.get("codebook_std").is_none(), "{vae}");
    let device = Device::flex();
    let m = small_config("dvae", 1).model;
    let dalle = dvae::model::family::dvae::DvaeOptions::recipe(Recipe::Dalle, 10);
    let with = FamilyConfig::Dvae(dvae::model::family::dvae::DvaeOptions {
        codebook_std: Some(1.0),
        ..dalle.clone()
    });
    let without = FamilyConfig::Dvae(dalle.clone());
    let a = crate::common::net_of(&m, &with, 4, &device);
    let b = crate::common::net_of(&m, &without, 4, &device);
    assert_ne!(
        values(a.decoder.input.weight.val()),
        values(b.decoder.input.weight.val())
    );
    assert_eq!(
        values(a.decoder.output.weight.val()),
        values(b.decoder.output.weight.val())
    );
    assert_eq!(
        values(a.encoder.input.weight.val()),
        values(b.encoder.input.weight.val())
    );
}

#[test]
fn codebook_std_draws_a_tied_dvaes_own_codebook() {
    // With logits against a codebook (the default recipe's), `codebook_std` draws that
    // codebook, the family's own parameters, and leaves the decoder as it is.
    use dvae::model::family::api::FamilyParams;
    use dvae::model::family::dvae::DvaeOptions;
    let device = Device::flex();
    let m = small_config("dvae", 1).model;
    let default = DvaeOptions::recipe(Recipe::Default, 10);
    let nets = [Some(1.0), Some(0.1)].map(|std| {
        let f = FamilyConfig::Dvae(DvaeOptions {
            codebook_std: std,
            ..default.clone()
        });
        crate::common::net_of(&m, &f, 4, &device)
    });
    let codes = |n: &dvae::model::Network| match &n.bottleneck {
        Some(FamilyParams::Codebook(vq)) => values(vq.codebook.val()),
        None => panic!("the default dVAE has a codebook of its own"),
    };
    let (a, b) = (codes(&nets[0]), codes(&nets[1]));
    assert_eq!(a.len(), m.vocab_size * m.code_dim);
    let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    assert!(
        (rms(&a) / rms(&b) - 10.0).abs() < 1e-3,
        "{} / {}",
        rms(&a),
        rms(&b)
    );
    for (x, y) in [
        (&nets[0].decoder.input.weight, &nets[1].decoder.input.weight),
        (
            &nets[0].decoder.output.weight,
            &nets[1].decoder.output.weight,
        ),
    ] {
        assert_eq!(values(x.val()), values(y.val()));
    }
}
