//! The modern quantizers against `vector-quantize-pytorch` (fixtures written by
//! `tools/make_quantizer_fixtures.py`): FSQ, LFQ, BSQ, the rotation trick and SimVQ —
//! outputs, indices, losses and the gradients of `loss + Σ out·g`.
//!
//! Tolerance: |a − b| ≤ 2e-5 + 1e-4·|b| for every float (float32 on both sides; the
//! reductions run in a different order), indices exactly.

use burn::module::Param;
use burn::prelude::*;
use dvae::kernels::engine::Engine;
use dvae::model::family::api::{Family, FamilyParams, Step};
use dvae::model::family::codebook::VectorQuantizer;
use dvae::model::family::fsq::{FsqOptions, levels_for};
use dvae::model::family::lfq::LfqOptions;
use dvae::model::family::rotation::rotate_to;
use dvae::model::family::vqvae::VqOptions;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::common::{fixture, values};

fn load(name: &str) -> Value {
    let path = fixture(&format!("quantizers/{name}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn dims4(v: &Value) -> [usize; 4] {
    let d: Vec<usize> = ints(v).into_iter().map(|x| x as usize).collect();
    [d[0], d[1], d[2], d[3]]
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let tol = 2e-5 + 1e-4 * b.abs();
        assert!((a - b).abs() <= tol, "{what}[{i}]: {a} vs {b}");
    }
}

fn scalar(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}

fn step() -> Step {
    Step {
        step: 0,
        engine: Engine::Generic,
    }
}

fn grid(f: &Value, key: &str, device: &Device) -> Tensor<4> {
    Tensor::<1>::from_floats(floats(&f[key]).as_slice(), device).reshape(dims4(&f["shape"]))
}

fn int_values(t: Tensor<3, Int>) -> Vec<i64> {
    t.into_data().iter::<i64>().collect()
}

#[test]
fn fsq_matches_vector_quantize_pytorch() {
    let f = load("fsq.json");
    let device = Device::flex().autodiff();
    let o = FsqOptions {
        levels: ints(&f["levels"]).into_iter().map(|l| l as usize).collect(),
        ..FsqOptions::default()
    };
    let z = grid(&f, "z", &device).require_grad();
    let q = o.quantize(step(), None, z.clone(), None);
    close("out", &values(q.z_q.clone()), &floats(&f["out"]));
    let idx = q.indices.clone().unwrap();
    assert_eq!(int_values(idx.clone()), ints(&f["indices"]));
    close(
        "codes of indices",
        &values(o.token_codes(idx)),
        &floats(&f["codes_of_indices"]),
    );
    let grads = (q.z_q * grid(&f, "g", &device)).sum().backward();
    close(
        "grad z",
        &values(z.grad(&grads).unwrap()),
        &floats(&f["grad_z"]),
    );
}

fn lfq_case(name: &str) {
    let f = load(name);
    let device = Device::flex().autodiff();
    let o = LfqOptions {
        entropy_weight: f["entropy_weight"].as_f64().unwrap(),
        diversity_gamma: f["diversity_gamma"].as_f64().unwrap(),
        commitment: f["commitment"].as_f64().unwrap(),
        inv_temperature: f["inv_temperature"].as_f64().unwrap(),
        spherical: f["spherical"].as_bool().unwrap(),
    };
    let x = grid(&f, "x", &device).require_grad();
    let q = o.quantize(step(), None, x.clone(), None);
    close(
        &format!("{name} out"),
        &values(q.z_q.clone()),
        &floats(&f["out"]),
    );
    let idx = q.indices.clone().unwrap();
    assert_eq!(int_values(idx.clone()), ints(&f["indices"]), "{name}");
    let d = f["dim"].as_u64().unwrap() as usize;
    close(
        &format!("{name} codes of indices"),
        &values(o.token_codes(d, idx)),
        &floats(&f["codes_of_indices"]),
    );
    let xs = if o.spherical {
        let n = x.clone().powi_scalar(2).sum_dim(1).sqrt();
        x.clone() / n
    } else {
        x.clone()
    };
    let signs = q.z_q.clone().detach();
    let parts = o.loss_parts(xs, signs);
    for (key, got) in [
        ("per_sample_entropy", parts.per_sample_entropy),
        ("codebook_entropy", parts.codebook_entropy),
        ("commitment_loss", parts.commitment),
    ] {
        close(
            &format!("{name} {key}"),
            &[scalar(got)],
            &[f[key].as_f64().unwrap() as f32],
        );
    }
    close(
        &format!("{name} aux loss"),
        &[scalar(q.latent_loss.clone())],
        &[f["aux_loss"].as_f64().unwrap() as f32],
    );
    let total = q.latent_loss + (q.z_q * grid(&f, "g", &device)).sum();
    let grads = total.backward();
    close(
        &format!("{name} grad x"),
        &values(x.grad(&grads).unwrap()),
        &floats(&f["grad_x"]),
    );
}

#[test]
fn lfq_matches_vector_quantize_pytorch() {
    lfq_case("lfq.json");
    lfq_case("lfq_t100.json");
}

#[test]
fn bsq_matches_vector_quantize_pytorch() {
    lfq_case("bsq.json");
}

#[test]
fn rotation_trick_matches_vector_quantize_pytorch() {
    let f = load("rotation.json");
    let device = Device::flex().autodiff();
    let (n, d) = (
        f["n"].as_u64().unwrap() as usize,
        f["d"].as_u64().unwrap() as usize,
    );
    let t = |k: &str| Tensor::<1>::from_floats(floats(&f[k]).as_slice(), &device).reshape([n, d]);
    let (src, tgt) = (t("src").require_grad(), t("tgt").require_grad());
    let out = rotate_to(src.clone(), tgt.clone());
    close("out", &values(out.clone()), &floats(&f["out"]));
    // The value is the target's exactly: the trick changes only the gradient.
    close("out = tgt", &values(out.clone()), &floats(&f["tgt"]));
    let grads = (out * t("g")).sum().backward();
    close(
        "grad src",
        &values(src.grad(&grads).unwrap()),
        &floats(&f["grad_src"]),
    );
    let gt = tgt.grad(&grads).map(values).unwrap_or(vec![0.0; n * d]);
    close("grad tgt", &gt, &floats(&f["grad_tgt"]));
}

#[test]
fn simvq_matches_vector_quantize_pytorch() {
    let f = load("simvq.json");
    let device = Device::flex().autodiff();
    let (d, k) = (
        f["dim"].as_u64().unwrap() as usize,
        f["codebook_size"].as_u64().unwrap() as usize,
    );
    let o = VqOptions {
        commitment: f["commitment"].as_f64().unwrap(),
        ..VqOptions::simvq()
    };
    o.validate().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut vq = VectorQuantizer::simvq(k, d, &mut rng, &device);
    let t = |key: &str, rows| {
        Tensor::<1>::from_floats(floats(&f[key]).as_slice(), &device).reshape([rows, d])
    };
    vq.codebook = Param::from_tensor(t("frozen_codebook", k)).set_require_grad(false);
    vq.transform = Some(Param::from_tensor(t("w", d)));
    let params = FamilyParams::Codebook(vq.clone());
    let x = grid(&f, "x", &device).require_grad();
    let q = o.quantize(step(), Some(&params), x.clone(), None);
    close("out", &values(q.z_q.clone()), &floats(&f["out"]));
    assert_eq!(int_values(q.indices.clone().unwrap()), ints(&f["indices"]));
    close(
        "commit loss",
        &[scalar(q.latent_loss.clone())],
        &[f["commit_loss"].as_f64().unwrap() as f32],
    );
    let grads = (q.latent_loss + (q.z_q * grid(&f, "g", &device)).sum()).backward();
    close(
        "grad x",
        &values(x.grad(&grads).unwrap()),
        &floats(&f["grad_x"]),
    );
    let w = vq.transform.as_ref().unwrap().val();
    close(
        "grad w",
        &values(w.grad(&grads).unwrap()),
        &floats(&f["grad_w"]),
    );
    // The frozen codebook gets no gradient.
    assert!(vq.codebook.val().grad(&grads).is_none());
}

#[test]
fn fsq_levels_for_powers_of_two_make_that_many_codes() {
    for bits in 3..=16 {
        let k = 1usize << bits;
        let levels = levels_for(k).unwrap();
        assert_eq!(levels.iter().product::<usize>(), k, "{levels:?}");
        assert!(levels.iter().all(|&l| l == 8 || l == 4), "{levels:?}");
    }
    assert_eq!(levels_for(512).unwrap(), vec![8, 8, 8]);
    assert_eq!(levels_for(1000), None);
}
