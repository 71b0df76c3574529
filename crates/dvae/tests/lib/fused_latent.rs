//! The dVAE's fused training operations on the kernels, pinned to Burn's operations: the
//! two regularisers of `softmax(a·logits)` in one pass, and the straight-through input of
//! the decoder's codebook (the lookup forward, `Wᵀ·dy` into the soft sample backward),
//! which must equal the 1×1 convolution of `one_hot + soft − stop_grad(soft)`.

use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use dvae::kernels::engine::Engine;
use dvae::kernels::ops::straight_through::straight_through;
use dvae::loss;
use dvae::model::gumbel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::{max_rel_diff, values};

fn normal(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape(shape)
}

fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    let d = max_rel_diff(a, b);
    assert!(d < tol, "{what}: relative difference {d}");
}

/// Values and gradients of the fused pair against Burn's `kl_to_uniform` and
/// `marginal_kl_to_uniform` of `a·logits`, with a code that no cell uses (its q̄ below the
/// floor) and H·W over one block of positions.
#[test]
fn fused_regularisers_match_burn() {
    let device = Device::flex().autodiff();
    let shape = [3, 37, 5, 70];
    let mut logits = normal(shape, 90, &device) * 4.0;
    // Code 5 is never likely: its q̄ underflows the floor at a = 3.
    let mask = Tensor::<1>::from_floats(
        (0..37)
            .map(|c| if c == 5 { -200.0 } else { 0.0 })
            .collect::<Vec<f32>>()
            .as_slice(),
        &device,
    )
    .reshape([1, 37, 1, 1]);
    logits = (logits + mask).detach();
    for (a, w) in [(1.0, [1.0, 0.0]), (3.0, [0.4, 1.3])] {
        let run = |engine: Engine| {
            let x = logits.clone().require_grad();
            let pair = loss::dvae_regularisers(engine, x.clone(), a, true);
            let weights = Tensor::<1>::from_floats(w.as_slice(), &device);
            let g = (pair.clone() * weights).sum().backward();
            (values(pair.inner()), values(x.grad(&g).unwrap()))
        };
        let (fast, burn) = (run(Engine::Kernels), run(Engine::Generic));
        close(&format!("a = {a}: values"), &fast.0, &burn.0, 1e-5);
        close(&format!("a = {a}: gradient"), &fast.1, &burn.1, 1e-4);
        assert!(
            fast.0[0] > 0.1 && fast.0[1] > 0.01,
            "both terms are live: {:?}",
            fast.0
        );
    }
}

/// The decoder input of a straight-through sample, `lookup(tokens) + straight_through(soft)`,
/// against the 1×1 convolution of `one_hot − stop_grad(soft) + soft` on Burn's operations:
/// the output, the soft sample's gradient, the weight's and the bias's, on both engines.
#[test]
fn straight_through_equals_the_one_hot_convolution() {
    let device = Device::flex().autodiff();
    device.seed(3);
    let [b, k, h, w, co] = [2, 29, 3, 5, 6];
    let conv = Conv2dConfig::new([k, co], [1, 1]).init(&device);
    let logits = normal([b, k, h, w], 91, &device) * 3.0;
    let soft0 = burn::tensor::activation::softmax(logits, 1).detach();
    let tokens = gumbel::argmax_tokens(soft0.clone());
    let r = normal([b, co, h, w], 92, &device);
    let grads_of = |out: Tensor<4>, soft: &Tensor<4>| {
        let g = (out.clone() * r.clone()).sum().backward();
        [
            values(out.inner()),
            values(soft.grad(&g).unwrap()),
            values(conv.weight.val().grad(&g).unwrap()),
            values(conv.bias.as_ref().unwrap().val().grad(&g).unwrap()),
        ]
    };
    let want = {
        let soft = soft0.clone().require_grad();
        let one_hot = gumbel::one_hot_dim1(tokens.clone(), k);
        let z = one_hot - soft.clone().detach() + soft.clone();
        grads_of(conv.forward(z), &soft)
    };
    for engine in [Engine::Kernels, Engine::Generic] {
        let soft = soft0.clone().require_grad();
        let lookup = dvae::kernels::ops::conv1x1::one_hot_forward(&conv, tokens.clone());
        let out = lookup + straight_through(engine, &conv, soft.clone());
        let got = grads_of(out, &soft);
        for (what, (g, wv)) in ["output", "dsoft", "dweight", "dbias"]
            .iter()
            .zip(got.iter().zip(&want))
        {
            close(&format!("{engine:?}: {what}"), g, wv, 1e-5);
        }
        // The soft sample does get a gradient: this is not the lookup alone.
        assert!(
            got[1].iter().any(|v| v.abs() > 1e-3),
            "{engine:?}: dsoft is zero"
        );
    }
}

/// A whole training forward pass of the default recipe's dVAE (hard straight-through
/// sample, logit scale, diversity and cell-entropy terms) gives the same loss and the same
/// gradient for every parameter on the kernels (fused operations, channels-last maps) as on
/// Burn's operations, mid-schedule (a ≠ 1, τ < 1).
#[test]
fn default_dvae_step_is_the_same_on_both_engines() {
    use dvae::config::{ModelConfig, Recipe};
    use dvae::model::Network;
    use dvae::model::family::FamilyConfig;
    let device = Device::flex().autodiff();
    let mut c = ModelConfig::preset("tiny").unwrap();
    c.image_size = 32;
    c.vocab_size = 40;
    let family = FamilyConfig::of("dvae", Recipe::Default, 20).unwrap();
    let x = dvae::model::pixels::map_pixels(normal([2, 3, 32, 32], 110, &device).abs());
    let mut rng = ChaCha8Rng::seed_from_u64(111);
    let g = gumbel::gumbel_noise([2, 40, 4, 4], &mut rng, &device);
    let step = 9;
    let run = |engine: Engine| {
        let model = Network::new(&c, &family, 5, &device, engine);
        let (z_e, q, out) = model.forward_train(x.clone(), step, Some(g.clone()));
        let recon = loss::logit_laplace_nll(out, x.clone());
        let term = family.family().latent_term(&c, step, &z_e, &q).unwrap();
        let total = recon + term;
        let grads = total.backward();
        (
            values(total.inner()),
            crate::common::param_grads(&model, &grads),
        )
    };
    let (want_loss, want) = run(Engine::Generic);
    let (loss, got) = run(Engine::Kernels);
    close("loss", &loss, &want_loss, 1e-5);
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        close(&format!("parameter {i}: gradient"), a, b, 1e-4);
    }
}
