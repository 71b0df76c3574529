//! The entropy penalty over a soft assignment to codes (`family::entropy_penalty`), as the
//! VQ-VAE and FSQ take it: its value against host arithmetic in f64, the families' latent
//! losses with it against their losses without it plus the penalty of their own latents
//! and codes, FSQ's grid of codes against its token codes, and the penalty's gradient
//! against central finite differences.

use burn::prelude::*;
use dvae::kernels::engine::Engine;
use dvae::model::family::api::{Family, FamilyParams, Step};
use dvae::model::family::codebook::{VectorQuantizer, compared_rows};
use dvae::model::family::entropy_penalty::EntropyPenalty;
use dvae::model::family::fsq::FsqOptions;
use dvae::model::family::vqvae::VqOptions;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::common::values;

const STEP0: Step = Step {
    step: 0,
    engine: Engine::Generic,
};

/// A tensor of `shape` from standard normal draws of `seed`, times `scale`.
fn normal<const D: usize>(shape: [usize; D], seed: u64, scale: f32, device: &Device) -> Tensor<D> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    dvae::model::family::vae::standard_normal(shape, &mut rng, device) * scale
}

/// `weight·(H_cell − γ·H_codebook)` of `softmax(−t·‖z − c‖²)`, in f64 on the host, with
/// `vector-quantize-pytorch`'s clamp of p at 1e-5 inside the log.
fn host_penalty(rows: &[f32], codes: &[f32], d: usize, p: EntropyPenalty) -> f64 {
    let h = |q: &[f64]| -> f64 { -q.iter().map(|&x| x * x.max(1e-5).ln()).sum::<f64>() };
    let k = codes.len() / d;
    let n = rows.len() / d;
    let mut mean = vec![0f64; k];
    let mut per_cell = 0f64;
    for z in rows.chunks(d) {
        let logits: Vec<f64> = codes
            .chunks(d)
            .map(|c| {
                let d2: f64 = z
                    .iter()
                    .zip(c)
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum();
                -p.inv_temperature * d2
            })
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let s: f64 = e.iter().sum();
        let q: Vec<f64> = e.iter().map(|x| x / s).collect();
        per_cell += h(&q) / n as f64;
        for (m, x) in mean.iter_mut().zip(&q) {
            *m += x / n as f64;
        }
    }
    p.weight * (per_cell - p.gamma * h(&mean))
}

fn penalty(weight: f64, gamma: f64, inv_temperature: f64) -> EntropyPenalty {
    EntropyPenalty {
        weight,
        gamma,
        inv_temperature,
    }
}

#[test]
fn penalty_matches_host_arithmetic() {
    let device = Device::flex();
    let (n, k, d) = (40, 16, 3);
    let rows = normal([n, d], 1, 1.0, &device);
    let codes = normal([k, d], 2, 1.0, &device);
    for p in [penalty(0.5, 1.0, 1.0), penalty(0.1, 2.0, 10.0)] {
        let parts = p.of_distances(rows.clone(), codes.clone());
        let got = p.loss(&parts).into_scalar::<f32>() as f64;
        let want = host_penalty(&values(rows.clone()), &values(codes.clone()), d, p);
        assert!(
            (got - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{p:?}: {got} against the host's {want}"
        );
        // Both entropies are in [0, ln K], and the batch's is at least the cells' mean.
        let cell = parts.per_cell.into_scalar::<f32>() as f64;
        let book = parts.codebook.into_scalar::<f32>() as f64;
        assert!(cell > 0.0 && cell <= book + 1e-6, "{cell} {book}");
        assert!(book <= (k as f64).ln() + 1e-5, "{book}");
    }
}

#[test]
fn vqvae_latent_loss_adds_the_penalty_of_its_codes() {
    let device = Device::flex();
    let (k, d) = (32, 4);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let vq = VectorQuantizer::new(k, d, &mut rng, &device);
    let params = FamilyParams::Codebook(vq.clone());
    let z = normal([2, d, 3, 3], 4, 0.05, &device);
    for cosine in [false, true] {
        let off = VqOptions {
            cosine,
            ..VqOptions::default()
        };
        let on = VqOptions {
            entropy_weight: 0.3,
            inv_temperature: 7.0,
            ..off.clone()
        };
        let loss = |o: &VqOptions| {
            o.quantize(STEP0, Some(&params), z.clone(), None)
                .latent_loss
                .into_scalar::<f32>() as f64
        };
        let rows = values(compared_rows(z.clone(), cosine));
        let codes = values(vq.codes(cosine));
        let want = loss(&off) + host_penalty(&rows, &codes, d, penalty(0.3, 1.0, 7.0));
        let got = loss(&on);
        assert!(
            (got - want).abs() <= 1e-5,
            "cosine {cosine}: {got} against {want}"
        );
        assert!(
            on.describe().contains("entropy penalty 0.3"),
            "{}",
            on.describe()
        );
        assert!(!off.describe().contains("entropy"), "{}", off.describe());
    }
}

#[test]
fn fsq_penalty_is_over_its_grid_of_codes() {
    let device = Device::flex();
    let levels = vec![4, 3, 5];
    let o = FsqOptions {
        levels: levels.clone(),
        entropy_weight: 0.2,
        diversity_gamma: 1.5,
        inv_temperature: 2.0,
    };
    let z = normal([2, 3, 4, 4], 5, 1.5, &device);
    let q = o.quantize(STEP0, None, z.clone(), None);
    // The grid in level units: token t's code (in [-1, 1]) times ⌊L/2⌋, per dimension.
    let k: usize = levels.iter().product();
    let tokens = Tensor::<1, Int>::arange(0..k as i64, &device).reshape([1, 1, k]);
    let unit = values(o.token_codes(tokens).permute([0, 2, 3, 1]));
    let grid: Vec<f32> = unit
        .chunks(3)
        .flat_map(|c| {
            c.iter()
                .zip(&levels)
                .map(|(&x, &l)| x * (l / 2) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    // The bounded latents, before rounding: `vector_quantize_pytorch.FSQ.bound`.
    let zs = values(z.clone().permute([0, 2, 3, 1]));
    let bounded: Vec<f32> = zs
        .chunks(3)
        .flat_map(|c| {
            c.iter()
                .zip(&levels)
                .map(|(&x, &l)| {
                    let half_l = (l as f64 - 1.0) * (1.0 + 1e-3) / 2.0;
                    let offset = if l % 2 == 0 { 0.5 } else { 0.0 };
                    let shift = (offset / half_l).atanh();
                    ((x as f64 + shift).tanh() * half_l - offset) as f32
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let want = host_penalty(&bounded, &grid, 3, penalty(0.2, 1.5, 2.0));
    let got = q.latent_loss.into_scalar::<f32>() as f64;
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{got} against {want}"
    );
    assert!(
        o.describe().contains("entropy penalty 0.2"),
        "{}",
        o.describe()
    );
    // Off, FSQ is the paper's: no latent term at all.
    let paper = FsqOptions {
        levels,
        ..FsqOptions::default()
    };
    let q = paper.quantize(STEP0, None, z, None);
    let m = dvae::config::ModelConfig::preset("tiny").unwrap();
    assert!(paper.latent_term(&m, 0, &q.z_q, &q).is_none());
}

#[test]
fn penalty_gradients_match_finite_differences() {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let (n, k, d) = (12, 6, 3);
    let rows = values(normal([n, d], 7, 0.8, &plain));
    let codes = values(normal([k, d], 8, 0.8, &plain));
    let p = penalty(1.0, 1.3, 1.5);
    let of = |r: &[f32], c: &[f32], dev: &Device| {
        let r = Tensor::<1>::from_floats(r, dev).reshape([n, d]);
        let c = Tensor::<1>::from_floats(c, dev).reshape([k, d]);
        (r, c)
    };
    let (r, c) = of(&rows, &codes, &device);
    let (r, c) = (r.require_grad(), c.require_grad());
    let grads = p.loss(&p.of_distances(r.clone(), c.clone())).backward();
    let gr = values(r.grad(&grads).unwrap());
    let gc = values(c.grad(&grads).unwrap());
    let f = |r: &[f32], c: &[f32]| host_penalty(r, c, d, p);
    // Central differences of the f64 host penalty: its rounding is far below the step's.
    let h = 1e-4;
    let fd = |x: &[f32], at: &dyn Fn(&[f32]) -> f64| -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let (mut up, mut down) = (x.to_vec(), x.to_vec());
                up[i] += h;
                down[i] -= h;
                (at(&up) - at(&down)) / (up[i] as f64 - down[i] as f64)
            })
            .collect()
    };
    for (what, ad, fd) in [
        ("rows", &gr, fd(&rows, &|x| f(x, &codes))),
        ("codes", &gc, fd(&codes, &|x| f(&rows, x))),
    ] {
        let scale = ad.iter().fold(0f64, |m, &g| m.max((g as f64).abs()));
        assert!(scale > 0.0, "{what}: every gradient is zero");
        let worst = ad
            .iter()
            .zip(&fd)
            .map(|(&a, &b)| (a as f64 - b).abs() / scale)
            .fold(0f64, f64::max);
        eprintln!("entropy penalty, {what}: largest difference {worst:.1e} of the largest entry");
        assert!(worst <= 1e-3, "{what}: {worst} of the largest entry");
    }
}
