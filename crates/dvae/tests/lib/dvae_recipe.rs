//! The dVAE's recipe options: the logit scale the sampler and the regularisers see, and
//! the straight-through estimator whose codebook gradient is the soft sample's.

use burn::prelude::*;
use dvae::config::{ModelConfig, Recipe};
use dvae::kernels::engine::Engine;
use dvae::loss;
use dvae::model::family::FamilyConfig;
use dvae::model::family::api::{Family, Step};
use dvae::model::family::dvae::DvaeOptions;
use dvae::model::{Network, gumbel, pixels::map_pixels};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::common::values;

/// 8×8 images, a 4×4 grid of 32 codes: one image draws at most 16 of them.
fn config() -> ModelConfig {
    ModelConfig {
        vocab_size: 32,
        ..crate::common::micro_model()
    }
}

fn options(o: DvaeOptions) -> DvaeOptions {
    DvaeOptions {
        hard: true,
        tau_start: 0.7,
        tau_end: 0.7,
        ..o
    }
}

fn step(step: usize) -> Step {
    Step {
        step,
        engine: Engine::Generic,
    }
}

/// The decoder's output and the gradients of its NLL for the encoder's first weight and
/// the codebook, with the tokens drawn.
fn run(o: DvaeOptions, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<i64>) {
    let device = Device::flex().autodiff();
    let c = config();
    let model: Network = crate::common::net_of(&c, &FamilyConfig::Dvae(options(o)), 3, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = map_pixels(gumbel::uniform_noise([1, 3, 8, 8], &mut rng, &device));
    let g = gumbel::gumbel_noise([1, 32, 4, 4], &mut rng, &device);
    let (_, q, out) = model.forward_train(x.clone(), 0, Some(g));
    let tokens = q.indices.clone().unwrap();
    let drawn = match &q.hard {
        Some(h) => h.tokens.clone(),
        None => q.z_q.clone().argmax(1).squeeze_dim::<3>(1),
    };
    assert_eq!(values(tokens.float()).len(), 16);
    let grads = loss::logit_laplace_nll(out.clone(), x).backward();
    let g_enc = values(model.encoder.input.weight.val().grad(&grads).unwrap());
    let g_cb = values(model.decoder.input.weight.val().grad(&grads).unwrap());
    let drawn = drawn.into_data().iter::<i64>().collect();
    (values(out), g_enc, g_cb, drawn)
}

#[test]
fn soft_codebook_gradient_moves_every_code_and_keeps_the_forward_pass() {
    let base = DvaeOptions::recipe(Recipe::Default, 10);
    let (out_st, enc_st, cb_st, drawn_st) = run(base.clone(), 11);
    let soft = DvaeOptions {
        soft_codebook_grad: true,
        ..base
    };
    let (out_soft, enc_soft, cb_soft, drawn_soft) = run(soft, 11);

    // The same codes drawn, the same image, the same gradient for the logits (so for the
    // encoder).
    assert_eq!(drawn_st, drawn_soft);
    let close = |a: &[f32], b: &[f32], what: &str| {
        let diff = crate::common::max_rel_diff(a, b);
        assert!(diff < 1e-5, "{what}: {diff}");
    };
    close(&out_soft, &out_st, "decoder output");
    close(&enc_soft, &enc_st, "encoder gradient");

    // The codebook weight is [n_init, K, 1, 1]: code k's vector is column k.
    let c = config();
    let (n_init, k) = (c.n_init, c.vocab_size);
    let column = |g: &[f32], code: usize| (0..n_init).map(|c| g[c * k + code]).collect::<Vec<_>>();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let undrawn: Vec<usize> = (0..k)
        .filter(|c| !drawn_st.contains(&(*c as i64)))
        .collect();
    assert!(undrawn.len() >= 16, "{undrawn:?}");
    let largest = (0..k)
        .map(|c| norm(&column(&cb_st, c)))
        .fold(0f32, f32::max);
    for &code in &undrawn {
        // Straight-through: a code nobody drew gets no gradient (up to the rounding of
        // `one_hot − soft + soft`); through the soft sample it gets its share.
        let (st, soft) = (norm(&column(&cb_st, code)), norm(&column(&cb_soft, code)));
        assert!(st < 1e-6 * largest, "code {code}: {st} of {largest}");
        assert!(soft > 1e-4 * largest, "code {code}: {soft} of {largest}");
    }
    // Each cell's weights sum to 1 (one-hot or soft), so the codebook gradients summed over
    // the codes agree: Σ_k ∂L/∂e_k = Σ_cells ∂L/∂h either way.
    let sum_over_codes = |g: &[f32]| {
        (0..n_init)
            .map(|c| (0..k).map(|code| g[c * k + code]).sum::<f32>())
            .collect::<Vec<_>>()
    };
    close(
        &sum_over_codes(&cb_soft),
        &sum_over_codes(&cb_st),
        "Σ_k codebook gradient",
    );
    assert!(crate::common::max_rel_diff(&cb_soft, &cb_st) > 1e-3);
}

#[test]
fn the_logit_scale_is_what_is_sampled_and_regularised() {
    let o = DvaeOptions {
        logit_scale_end: 4.0,
        tau_steps: 10,
        ..DvaeOptions::recipe(Recipe::Default, 10)
    };
    assert_eq!(o.logit_scale(0), 1.0);
    assert_eq!(o.logit_scale(10), 4.0);
    assert_eq!(o.logit_scale(1000), 4.0);
    let mid = o.logit_scale(5);
    assert!((mid - 2.5).abs() < 1e-9, "cosine midpoint {mid}");

    let device = Device::flex();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let logits = gumbel::gumbel_noise([2, 32, 4, 4], &mut rng, &device) * 0.5;
    let g = gumbel::gumbel_noise([2, 32, 4, 4], &mut rng, &device);
    for (s, a) in [(0, 1.0), (10, 4.0)] {
        let q = o.quantize(step(s), None, logits.clone(), Some(g.clone()));
        // The per-cell KL is that of softmax(a·logits)…
        let want = loss::kl_to_uniform(Engine::Generic, logits.clone() * a).into_scalar::<f32>();
        let got = q.latent_loss.into_scalar::<f32>();
        assert!((got - want).abs() < 1e-5, "step {s}: KL {got} vs {want}");
        // …and the hard sample is the Gumbel-Max draw from it.
        let drawn = q.z_q.argmax(1).squeeze_dim::<3>(1);
        let gm = gumbel::gumbel_max(logits.clone() * a, g.clone());
        assert_eq!(values(drawn.float()), values(gm.float()), "step {s}");
    }
    // The draws at a = 4 differ from those at a = 1: the scale does something.
    let d1 = gumbel::gumbel_max(logits.clone(), g.clone());
    let d4 = gumbel::gumbel_max(logits * 4.0, g);
    assert_ne!(values(d1.float()), values(d4.float()));
}

#[test]
fn the_new_options_are_checked_and_absent_from_old_configs() {
    let default = DvaeOptions::recipe(Recipe::Dalle, 10);
    let json = serde_json::to_value(&default).unwrap();
    assert!(json.get("logit_scale_end").is_none(), "{json}");
    assert!(json.get("soft_codebook_grad").is_none(), "{json}");
    let back: DvaeOptions = serde_json::from_value(json).unwrap();
    assert_eq!(back.logit_scale_end, 1.0);
    assert!(!back.soft_codebook_grad);

    let bad = DvaeOptions {
        logit_scale_end: 0.0,
        ..default.clone()
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("logit_scale_end"), "{e}");
    let soft_without_hard = DvaeOptions {
        soft_codebook_grad: true,
        hard: false,
        ..default
    };
    let e = soft_without_hard.validate().unwrap_err().to_string();
    assert!(
        e.contains("soft_codebook_grad") && e.contains("hard"),
        "{e}"
    );
}
