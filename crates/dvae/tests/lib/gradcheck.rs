//! Autodiff gradients of the full training loss against central finite differences.

use burn::module::Param;
use burn::prelude::*;
use dvae::config::{ModelConfig, Recipe, ReconLoss};
use dvae::model::family::FamilyConfig;
use dvae::model::family::dvae::DvaeOptions;
use dvae::loss;
use dvae::model::{Network, gumbel, pixels::map_pixels};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::common::values;

fn config() -> ModelConfig {
    ModelConfig {
        image_size: 8,
        input_channels: 3,
        group_count: 2,
        n_hid: 8,
        n_blk_per_group: 1,
        vocab_size: 8,
        n_init: 4,
        recon_loss: ReconLoss::LogitLaplace,
        code_dim: 64,
    }
}

#[test]
fn gradients_match_finite_differences() {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let c = config();
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
