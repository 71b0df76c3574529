//! Autodiff gradients against central finite differences: the full training loss (soft
//! Gumbel path), the straight-through hard path, and each family's latent loss.
//!
//! Each check below the first is a small self-contained function of the library's public
//! API that compares every entry of a gradient: finite differences of f32 evaluations (see
//! [`EPS`]), each entry within [`TOL`] of the largest.

use burn::module::Param;
use burn::prelude::*;
use dvae::config::Recipe;
use dvae::kernels::engine::Engine;
use dvae::loss;
use dvae::model::family::FamilyConfig;
use dvae::model::family::api::{Family, FamilyParams, QuantizerOutput, Step};
use dvae::model::family::codebook::{HostCodebook, VectorQuantizer};
use dvae::model::family::dvae::DvaeOptions;
use dvae::model::family::vae::VaeOptions;
use dvae::model::family::vqvae::VqOptions;
use dvae::model::{Network, gumbel, pixels::map_pixels};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::common::values;

/// The first step, on Burn's operations.
const STEP0: Step = Step {
    step: 0,
    engine: Engine::Generic,
};

/// `vq`'s training quantization with commitment `beta`, EMA-updated or loss-trained.
fn vq_quantize(vq: &VectorQuantizer, z: Tensor<4>, beta: f64, ema: bool) -> QuantizerOutput {
    let o = VqOptions {
        commitment: beta,
        ema,
        ..VqOptions::default()
    };
    o.quantize(STEP0, Some(&FamilyParams::Codebook(vq.clone())), z, None)
}

#[test]
fn gradients_match_finite_differences() {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let c = crate::common::micro_model();
    // The soft Gumbel-softmax at a fixed τ = 0.8.
    let family = FamilyConfig::Dvae(DvaeOptions {
        tau_start: 0.8,
        tau_end: 0.8,
        hard: false,
        ..DvaeOptions::recipe(Recipe::Dalle, 10)
    });
    let model = crate::common::net_of(&c, &family, 5, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x = gumbel::uniform_noise([2, 3, 8, 8], &mut rng, &device);
    let noise = values(gumbel::gumbel_from_uniform(gumbel::uniform_noise(
        [2, 8, 4, 4],
        &mut rng,
        &device,
    )));
    let loss_of = |m: &Network, dev: &Device| {
        let g = Tensor::<1>::from_floats(noise.as_slice(), dev).reshape([2, 8, 4, 4]);
        let xm = map_pixels(Tensor::<4>::from_data(x.clone().inner().into_data(), dev));
        let (logits, _, out) = m.forward_train(xm.clone(), 0, Some(g));
        loss::logit_laplace_nll(out, xm) + loss::kl_to_uniform(m.engine, logits) * 0.3
    };
    let grads = loss_of(&model, &device).backward();
    let w_in = model.encoder.input.weight.val();
    let g_in = values(w_in.grad(&grads).unwrap());
    let w_cb = model.decoder.input.weight.val();
    let g_cb = values(w_cb.grad(&grads).unwrap());

    // Central differences in f64 accumulation of f32 losses, on the plain device.
    let base = model.valid();
    let eps = 1e-2f32;
    let probe = |which: usize, i: usize| -> f64 {
        let eval = |delta: f32| {
            let mut m = base.clone();
            let conv = if which == 0 {
                &mut m.encoder.input
            } else {
                &mut m.decoder.input
            };
            let mut w = values(conv.weight.val());
            w[i] += delta;
            let shape = conv.weight.val().dims();
            conv.weight =
                Param::from_tensor(Tensor::<1>::from_floats(w.as_slice(), &plain).reshape(shape));
            loss_of(&m, &plain).into_scalar::<f32>() as f64
        };
        (eval(eps) - eval(-eps)) / (2.0 * eps as f64)
    };
    let mut checked = 0;
    for (which, grad) in [(0usize, &g_in), (1, &g_cb)] {
        // The entries with the largest gradients: well above finite-difference noise.
        let mut order: Vec<usize> = (0..grad.len()).collect();
        order.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
        for &i in order.iter().take(4) {
            let fd = probe(which, i);
            let ad = grad[i] as f64;
            assert!(
                (fd - ad).abs() <= 0.05 * ad.abs() + 1e-4,
                "param {which} entry {i}: autodiff {ad}, finite difference {fd}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

/// Step of the finite differences, Richardson-extrapolated from it and twice it. Larger
/// than usual: the losses are f32, and their rounding divided by the step is what limits
/// the differences; extrapolated, the truncation error stays far below it.
const EPS: f32 = 5e-2;

/// Every entry of a gradient within this fraction of its largest entry of the finite
/// differences. Observed: at most 7e-5 (the dVAE KL), 7e-6 or less for the others.
const TOL: f64 = 5e-4;

/// A tensor of `shape` from standard normal draws of `seed`, times `scale`.
fn normal<const D: usize>(shape: [usize; D], seed: u64, scale: f32, device: &Device) -> Tensor<D> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    dvae::model::family::vae::standard_normal(shape, &mut rng, device) * scale
}

/// `values` of `shape` as a tensor.
fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::<1>::from_floats(values, device).reshape(shape)
}

/// Central differences of `f` at `x` along every entry, Richardson-extrapolated from steps
/// `eps` and `2·eps` (`(4·D(eps) − D(2·eps)) / 3`: error O(eps⁴), not O(eps²)); each
/// difference is divided by the step actually taken after rounding to f32.
fn central_differences(x: &[f32], eps: f32, f: impl Fn(&[f32]) -> f64) -> Vec<f64> {
    let diff = |i: usize, h: f32| {
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        up[i] += h;
        down[i] -= h;
        (f(&up) - f(&down)) / (up[i] as f64 - down[i] as f64)
    };
    (0..x.len())
        .map(|i| (4.0 * diff(i, eps) - diff(i, 2.0 * eps)) / 3.0)
        .collect()
}

/// Asserts `|fd − ad| ≤ tol · max|ad|` for every entry (the largest gradient sets the
/// scale, so entries near zero are held to the same absolute bound), and that some
/// gradient is not zero; prints the largest difference as a fraction of that scale.
fn assert_matches(what: &str, ad: &[f32], fd: &[f64], tol: f64) {
    assert_eq!(ad.len(), fd.len(), "{what}");
    let scale = ad.iter().fold(0f64, |m, &g| m.max((g as f64).abs()));
    assert!(scale > 0.0, "{what}: every gradient is zero");
    let mut worst = 0f64;
    for (i, (&a, &f)) in ad.iter().zip(fd).enumerate() {
        let a = a as f64;
        assert!(
            (f - a).abs() <= tol * scale,
            "{what} entry {i}: autodiff {a}, finite difference {f} (largest entry {scale})"
        );
        worst = worst.max((f - a).abs() / scale);
    }
    eprintln!(
        "{what}: {} entries, the largest difference {worst:.1e} of the largest entry",
        ad.len()
    );
}

/// `Σ u·t`, summed in f64 on the host.
fn dot(t: Tensor<4>, u: &[f32]) -> f64 {
    values(t)
        .iter()
        .zip(u)
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum()
}

/// The hard (straight-through) Gumbel-softmax: its forward value is the one-hot of
/// `argmax(logits + g)`, and its gradient is by definition the soft sample's, at the same
/// noise, of the upstream gradient taken at the hard sample. The downstream loss
/// `f(y) = Σ w·y + Σ v·y²` makes that upstream gradient `w + 2v·y_hard` depend on the hard
/// value. The two gradients are equal, bit for bit (the hard sample is
/// `one_hot − sg[soft] + soft`); the soft sample's own gradient matches finite differences
/// on all 144 logits.
#[test]
fn straight_through_gradient_is_the_soft_samples() {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let shape = [2, 8, 3, 3];
    let tau = 0.7;
    let logits = values(normal(shape, 11, 1.5, &plain));
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let g = values(gumbel::gumbel_from_uniform(gumbel::uniform_noise(
        shape, &mut rng, &plain,
    )));
    let (w, v) = (
        values(normal(shape, 13, 1.0, &plain)),
        values(normal(shape, 14, 1.0, &plain)),
    );

    let l = tensor(&logits, shape, &device).require_grad();
    let gt = tensor(&g, shape, &device);
    let hard = gumbel::gumbel_softmax(Engine::Kernels, l.clone(), gt.clone(), tau, true);
    let y_hard = values(hard.clone());
    let one_hot = values(gumbel::one_hot_dim1(
        gumbel::gumbel_max(tensor(&logits, shape, &plain), tensor(&g, shape, &plain)),
        8,
    ));
    for (a, b) in y_hard.iter().zip(&one_hot) {
        assert!((a - b).abs() < 1e-6, "hard sample {a}, one-hot {b}");
    }
    let f = (hard.clone() * tensor(&w, shape, &device)).sum()
        + (hard.powi_scalar(2) * tensor(&v, shape, &device)).sum();
    let g_hard = values(l.grad(&f.backward()).unwrap());

    // The upstream gradient at the hard sample, pulled back through the soft sample.
    let u: Vec<f32> = (0..w.len())
        .map(|i| w[i] + 2.0 * v[i] * y_hard[i])
        .collect();
    let l2 = tensor(&logits, shape, &device).require_grad();
    let soft = gumbel::gumbel_softmax(Engine::Kernels, l2.clone(), gt, tau, false);
    let g_soft = values(
        l2.grad(&(soft * tensor(&u, shape, &device)).sum().backward())
            .unwrap(),
    );
    assert_eq!(
        g_hard, g_soft,
        "the hard sample's gradient is not the soft one's"
    );

    let fd = central_differences(&logits, EPS, |l| {
        dot(
            gumbel::gumbel_softmax(
                Engine::Kernels,
                tensor(l, shape, &plain),
                tensor(&g, shape, &plain),
                tau,
                false,
            ),
            &u,
        )
    });
    assert_matches("soft sample", &g_soft, &fd, TOL);
}

/// VQ-VAE's latent loss `mean(‖sg[z_e] − e‖²) + β·mean(‖z_e − sg[e]‖²)` (β = 0.25). Its
/// stop-gradients make the autodiff gradient differ from the derivative of the loss's
/// value, so each is checked against the value of the term it must come from: the encoder
/// output's against the commitment term alone (the EMA variant's latent loss, whose codes
/// are detached), the codebook's against the codebook term alone (commitment 0). The
/// vectors sit near their codes, so no step changes an assignment (asserted), and there
/// the terms are quadratic: central differences are exact but for f32 rounding. Every
/// entry: 72 of z_e, 32 of the codebook (every code is used).
#[test]
fn vq_latent_loss_gradients_match_finite_differences() {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let (k, d) = (8, 4);
    let codes = values(normal([k, d], 21, 1.0, &plain));
    // Cell c holds code (5c mod 8) plus a little noise, rows in raster order.
    let jitter = values(normal([18, d], 22, 0.1, &plain));
    let rows: Vec<f32> = (0..18 * d)
        .map(|i| codes[(5 * (i / d) % k) * d + i % d] + jitter[i])
        .collect();
    let z_of = |rows: &[f32], dev: &Device| tensor(rows, [2, 3, 3, d], dev).permute([0, 3, 1, 2]);
    let vq_of = |codes: &[f32], dev: &Device| {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let host = HostCodebook {
            codes: codes.to_vec(),
            sum: codes.to_vec(),
            count: vec![1.0; k],
            last_used: vec![0.0; k],
            dim: d,
        };
        VectorQuantizer::new(k, d, &mut rng, dev).set_host(&host)
    };
    let beta = 0.25;
    let want_idx: Vec<i64> = (0..18).map(|c| (5 * c % k) as i64).collect();
    // The latent loss of `rows` against `codes`, checking the assignment.
    let loss = |rows: &[f32], codes: &[f32], commitment: f64, ema: bool| {
        let out = vq_quantize(&vq_of(codes, &plain), z_of(rows, &plain), commitment, ema);
        let idx: Vec<i64> = out.indices.unwrap().into_data().iter::<i64>().collect();
        assert_eq!(idx, want_idx, "a step changed an assignment");
        out.latent_loss.into_scalar::<f32>() as f64
    };

    let vq = vq_of(&codes, &device);
    let z = z_of(&rows, &device).require_grad();
    let out = vq_quantize(&vq, z.clone(), beta, false);
    let grads = out.latent_loss.backward();
    let gz = values(z.grad(&grads).unwrap().permute([0, 2, 3, 1]));
    let gc = values(vq.codebook.val().grad(&grads).unwrap());
    assert_eq!(gz.len(), 72);
    assert_eq!(gc.len(), 32);

    let fd = central_differences(&rows, EPS, |r| loss(r, &codes, beta, true));
    assert_matches("VQ: encoder output", &gz, &fd, TOL);
    let fd = central_differences(&codes, EPS, |c| loss(&rows, c, 0.0, false));
    assert_matches("VQ: codebook", &gc, &fd, TOL);
}

/// The VAE's KL(N(μ, σ²) ‖ N(0, 1)) as the quantizer computes it from the encoder output
/// (μ and log σ² halves, the latter clamped; nothing here is near the clamp), against
/// finite differences on all 48 entries of μ and log σ², and against its closed form
/// (μ/B and (σ² − 1)/(2B)) within 1e-6 of the largest entry.
#[test]
fn vae_kl_gradient_matches_finite_differences() {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let shape = [2, 6, 2, 2];
    let z_e = values(normal(shape, 31, 1.0, &plain));
    let kl = |z: Tensor<4>| {
        VaeOptions::default()
            .quantize(STEP0, None, z, None)
            .latent_loss
    };

    let z = tensor(&z_e, shape, &device).require_grad();
    let ad = values(z.grad(&kl(z.clone()).backward()).unwrap());
    let fd = central_differences(&z_e, EPS, |v| {
        kl(tensor(v, shape, &plain)).into_scalar::<f32>() as f64
    });
    assert_eq!(ad.len(), 48);
    assert_matches("VAE KL", &ad, &fd, TOL);
    // Channels 0-2 are μ, 3-5 log σ²; B = 2.
    let closed: Vec<f64> = (0..48)
        .map(|i| {
            let x = z_e[i] as f64;
            if (i / 4) % 6 < 3 {
                x / 2.0
            } else {
                (x.exp() - 1.0) / 4.0
            }
        })
        .collect();
    assert_matches("VAE KL, closed form", &ad, &closed, 1e-6);
}

/// The dVAE's latent loss, the mean per-cell KL(softmax(logits) ‖ uniform over K) (the
/// channels-last kernel with its own backward on the CPU), against finite differences on
/// all 144 logits.
#[test]
fn dvae_kl_gradient_matches_finite_differences() {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let shape = [2, 8, 3, 3];
    let logits = values(normal(shape, 41, 2.0, &plain));

    let l = tensor(&logits, shape, &device).require_grad();
    let ad = values(
        l.grad(&loss::kl_to_uniform(Engine::Kernels, l.clone()).backward())
            .unwrap(),
    );
    let fd = central_differences(&logits, EPS, |v| {
        loss::kl_to_uniform(Engine::Kernels, tensor(v, shape, &plain)).into_scalar::<f32>() as f64
    });
    assert_matches("dVAE KL", &ad, &fd, TOL);
}

/// The dVAE with logits against a codebook (`logits = distance`, then `dot`), soft
/// Gumbel-softmax at a fixed τ: the gradients of `Σ u·z_q` plus its per-cell KL and
/// diversity terms, for the encoder's vectors and for the codebook, match finite
/// differences on every entry (the codebook is broadcast over the images in the matrix
/// products, so its gradient sums theirs).
#[test]
fn tied_dvae_gradients_match_finite_differences() {
    use dvae::model::family::dvae::CodeLogits;
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let (k, d) = (6, 4);
    let z_shape = [2, d, 2, 3];
    let z0 = values(normal(z_shape, 51, 1.0, &plain));
    let c0 = values(normal([k, d], 52, 1.0, &plain));
    let g = values(gumbel::gumbel_from_uniform(gumbel::uniform_noise(
        [2, k, 2, 3],
        &mut ChaCha8Rng::seed_from_u64(53),
        &plain,
    )));
    let u = values(normal(z_shape, 54, 1.0, &plain));
    for kind in [CodeLogits::Distance, CodeLogits::Dot] {
        let o = DvaeOptions {
            logits: kind,
            hard: false,
            tau_start: 0.8,
            tau_end: 0.8,
            diversity_weight: 1.0,
            ..DvaeOptions::recipe(Recipe::Default, 10)
        };
        let loss = |z: Tensor<4>, codes: Tensor<2>, dev: &Device| {
            let mut vq = VectorQuantizer::new(k, d, &mut ChaCha8Rng::seed_from_u64(1), dev);
            vq.codebook = Param::from_tensor(codes);
            let noise = tensor(&g, [2, k, 2, 3], dev);
            let q = o.quantize(STEP0, Some(&FamilyParams::Codebook(vq)), z, Some(noise));
            let r = q.regularisers.unwrap();
            (q.z_q * tensor(&u, z_shape, dev)).sum() + r.sum()
        };
        let z = tensor(&z0, z_shape, &device).require_grad();
        let c = tensor(&c0, [k, d], &device).require_grad();
        let grads = loss(z.clone(), c.clone(), &device).backward();
        let scalar = |t: Tensor<1>| t.into_scalar::<f32>() as f64;
        let fd_z = central_differences(&z0, EPS, |v| {
            scalar(loss(
                tensor(v, z_shape, &plain),
                tensor(&c0, [k, d], &plain),
                &plain,
            ))
        });
        let fd_c = central_differences(&c0, EPS, |v| {
            scalar(loss(
                tensor(&z0, z_shape, &plain),
                tensor(v, [k, d], &plain),
                &plain,
            ))
        });
        assert_matches(
            &format!("{kind}: z_e"),
            &values(z.grad(&grads).unwrap()),
            &fd_z,
            TOL,
        );
        assert_matches(
            &format!("{kind}: codebook"),
            &values(c.grad(&grads).unwrap()),
            &fd_c,
            TOL,
        );
    }
}
