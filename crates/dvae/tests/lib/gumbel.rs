//! Gumbel-softmax, Gumbel-Max and the KL term against closed forms.

use burn::prelude::*;
use dvae::kernels::engine::Engine::Kernels;
use dvae::loss;
use dvae::model::gumbel::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::common::values;

fn logits(device: &Device) -> Tensor<4> {
    // [1, 4, 1, 2]: two cells with different distributions over 4 codes.
    Tensor::<1>::from_floats([0.5, -1.0, 1.0, 2.0, 0.0, 0.3, 0.1, -2.0], device)
        .reshape([1, 4, 1, 2])
}

#[test]
fn rows_sum_to_one_and_approach_one_hot() {
    let device = Device::flex();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let g = gumbel_from_uniform(uniform_noise([1, 4, 1, 2], &mut rng, &device));
    for tau in [2.0, 1.0, 0.1, 0.01] {
        let y = gumbel_softmax(Kernels, logits(&device), g.clone(), tau, false);
        let sums = values(y.clone().sum_dim(1));
        assert!(
            sums.iter().all(|s| (s - 1.0).abs() < 1e-5),
            "tau {tau}: {sums:?}"
        );
        if tau <= 0.01 {
            let v = values(y.clone());
            let max = values(y.max_dim(1));
            assert!(
                max.iter().all(|m| *m > 0.999),
                "tau {tau}: not one-hot: {v:?}"
            );
        }
    }
    // The τ→0 limit is the Gumbel-Max sample.
    let y = gumbel_softmax(Kernels, logits(&device), g.clone(), 1e-3, false);
    let arg = values(y.argmax(1).float());
    let gm = values(gumbel_max(logits(&device), g).float().unsqueeze_dim::<4>(1));
    assert_eq!(arg, gm);
}

#[test]
fn straight_through_is_one_hot_forward_soft_backward() {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let g = gumbel_from_uniform(uniform_noise([1, 4, 1, 2], &mut rng, &device));
    let weights = Tensor::<1>::from_floats([1.0, -2.0, 3.0, 0.5], &device).reshape([1, 4, 1, 1]);
    let l_hard = logits(&device).require_grad();
    let hard = gumbel_softmax(Kernels, l_hard.clone(), g.clone(), 0.7, true);
    let v = values(hard.clone().inner());
    assert!(
        v.iter().all(|x| x.abs() < 1e-6 || (x - 1.0).abs() < 1e-6),
        "{v:?}"
    );
    let l_soft = logits(&device).require_grad();
    let soft = gumbel_softmax(Kernels, l_soft.clone(), g, 0.7, false);
    let gh = (hard * weights.clone()).sum().backward();
    let gs = (soft * weights).sum().backward();
    let a = values(l_hard.grad(&gh).unwrap());
    let b = values(l_soft.grad(&gs).unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn gumbel_max_frequencies_match_softmax() {
    // 20000 samples of one 5-way categorical; chi-square with 4 degrees of freedom.
    let device = Device::flex();
    let l = [1.0f32, 0.0, -1.0, 2.0, 0.5];
    let n = 20_000;
    let logits = Tensor::<1>::from_floats(l, &device)
        .reshape([1, 5, 1, 1])
        .expand([n, 5, 1, 1]);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let g = gumbel_from_uniform(uniform_noise([n, 5, 1, 1], &mut rng, &device));
    let samples = gumbel_max(logits, g);
    let mut counts = [0f64; 5];
    for s in samples.into_data().iter::<i64>() {
        counts[s as usize] += 1.0;
    }
    let z: f32 = l.iter().map(|v| v.exp()).sum();
    let chi2: f64 = (0..5)
        .map(|k| {
            let expected = n as f64 * (l[k].exp() / z) as f64;
            (counts[k] - expected).powi(2) / expected
        })
        .sum();
    // 99.9th percentile of chi-square(4) is 18.47.
    assert!(chi2 < 18.47, "chi2 {chi2}, counts {counts:?}");
}

#[test]
fn kl_to_uniform_closed_form() {
    let device = Device::flex();
    // Equal logits: q is uniform, KL 0.
    let flat = Tensor::<4>::ones([2, 8, 3, 3], &device);
    assert!(
        loss::kl_to_uniform(Kernels, flat)
            .into_scalar::<f32>()
            .abs()
            < 1e-6
    );
    // General logits: KL = Σ q ln q + ln K, averaged over cells, computed here in f64.
    let l = logits(&device);
    let got = loss::kl_to_uniform(Kernels, l.clone()).into_scalar::<f32>() as f64;
    let v = values(l);
    let mut want = 0.0;
    for cell in 0..2 {
        let xs: Vec<f64> = (0..4).map(|k| v[k * 2 + cell] as f64).collect();
        let z: f64 = xs.iter().map(|x| x.exp()).sum();
        want += xs
            .iter()
            .map(|x| (x.exp() / z) * ((x.exp() / z).ln() + 4f64.ln()))
            .sum::<f64>()
            / 2.0;
    }
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn marginal_kl_is_zero_for_confident_cells_spread_over_every_code() {
    let device = Device::flex();
    // Four cells, each sure of a different one of four codes: per-cell KL is near ln 4,
    // but the batch marginal is uniform, so the diversity term is near 0.
    let mut v = vec![0.0f32; 4 * 4];
    for cell in 0..4 {
        v[cell * 4 + cell] = 30.0;
    }
    let l = Tensor::<1>::from_floats(v.as_slice(), &device).reshape([4, 4, 1, 1]);
    let cell_kl = loss::kl_to_uniform(Kernels, l.clone()).into_scalar::<f32>() as f64;
    assert!((cell_kl - 4f64.ln()).abs() < 1e-4, "{cell_kl}");
    let marg = loss::marginal_kl_to_uniform(l).into_scalar::<f32>() as f64;
    assert!(marg.abs() < 1e-4, "{marg}");
    // Identical cells: the marginal is each cell's q, so both terms agree.
    let same = logits(&device).narrow(3, 0, 1).repeat_dim(0, 3);
    let a = loss::kl_to_uniform(Kernels, same.clone()).into_scalar::<f32>();
    let b = loss::marginal_kl_to_uniform(same).into_scalar::<f32>();
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
}
