//! The dVAE's recipe options: the logit scale the sampler and the regularisers see, the
//! straight-through estimator whose codebook gradient is the soft sample's, and logits
//! computed against a codebook the decoder shares.

use burn::prelude::*;
use dvae::config::{ModelConfig, Recipe};
use dvae::kernels::engine::Engine;
use dvae::loss;
use dvae::model::family::FamilyConfig;
use dvae::model::family::api::{Family, FamilyParams, Step};
use dvae::model::family::dvae::{CodeLogits, DvaeOptions};
use dvae::model::latent::DecoderInput;
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

/// `o` with DALL·E's logits, the encoder's K-channel head.
fn head(o: DvaeOptions) -> DvaeOptions {
    DvaeOptions {
        logits: CodeLogits::Head,
        ..o
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
    let base = head(DvaeOptions::recipe(Recipe::Default, 10));
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
        ..head(DvaeOptions::recipe(Recipe::Default, 10))
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

/// A dVAE whose logits are computed against a codebook (`logits = dot | distance`).
fn tied(kind: CodeLogits) -> (ModelConfig, FamilyConfig) {
    let c = ModelConfig {
        code_dim: 6,
        ..config()
    };
    let o = DvaeOptions {
        logits: kind,
        ..options(DvaeOptions::recipe(Recipe::Default, 10))
    };
    (c, FamilyConfig::Dvae(o))
}

fn codebook(model: &Network) -> Tensor<2> {
    match &model.bottleneck {
        Some(FamilyParams::Codebook(vq)) => vq.codebook.val(),
        None => panic!("a tied dVAE has a codebook"),
    }
}

#[test]
fn logits_against_the_codebook_are_scaled_dot_products_and_distances() {
    let device = Device::flex();
    for kind in [CodeLogits::Dot, CodeLogits::Distance] {
        let (c, f) = tied(kind);
        let model = crate::common::net_of(&c, &f, 3, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let x = map_pixels(gumbel::uniform_noise([2, 3, 8, 8], &mut rng, &device));
        let ops = model.tensor_ops();
        let z = values(model.encoder_output_with(&ops, x.clone())); // [2, 6, 4, 4]
        let codes = values(codebook(&model)); // [32, 6]
        let logits = values(model.logits_with(&ops, x.clone()).unwrap()); // [2, 32, 4, 4]
        assert_eq!((z.len(), codes.len(), logits.len()), (192, 192, 1024));
        let (d, k, cells) = (6, 32, 16);
        let mut want = vec![0f32; logits.len()];
        for b in 0..2 {
            for cell in 0..cells {
                let zc: Vec<f32> = (0..d).map(|i| z[(b * d + i) * cells + cell]).collect();
                for code in 0..k {
                    let e = &codes[code * d..(code + 1) * d];
                    let v: f32 = match kind {
                        CodeLogits::Dot => zc.iter().zip(e).map(|(a, b)| a * b).sum(),
                        _ => -zc
                            .iter()
                            .zip(e)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum::<f32>(),
                    };
                    want[(b * k + code) * cells + cell] = v / (d as f32).sqrt();
                }
            }
        }
        let diff = crate::common::max_rel_diff(&logits, &want);
        assert!(diff < 1e-5, "{kind}: {diff}");
        // The tokens are the logits' argmax, and they decode to the codes' vectors.
        let tokens = model.tokens_with(&ops, x).unwrap();
        let argmax = Tensor::<1>::from_floats(logits.as_slice(), &device)
            .reshape([2, 32, 4, 4])
            .argmax(1)
            .squeeze_dim::<3>(1);
        assert_eq!(
            values(tokens.clone().float()),
            values(argmax.float()),
            "{kind}"
        );
        let ids: Vec<usize> = values(tokens.clone().float())
            .iter()
            .map(|&t| t as usize)
            .collect();
        match model.token_input(tokens) {
            DecoderInput::Dense(v) => {
                let v = values(v); // [2, 6, 4, 4]
                for (n, &id) in ids.iter().enumerate() {
                    let (b, cell) = (n / cells, n % cells);
                    for i in 0..d {
                        assert_eq!(v[(b * d + i) * cells + cell], codes[id * d + i]);
                    }
                }
            }
            _ => panic!("{kind}: the decoder takes the codes' vectors"),
        }
    }
}

#[test]
fn the_tied_straight_through_sample_is_the_drawn_code_and_trains_encoder_and_codebook() {
    let device = Device::flex().autodiff();
    let (c, f) = tied(CodeLogits::Dot);
    let model: Network = crate::common::net_of(&c, &f, 3, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x = map_pixels(gumbel::uniform_noise([1, 3, 8, 8], &mut rng, &device));
    let g = gumbel::gumbel_noise([1, 32, 4, 4], &mut rng, &device);
    let (_, q, out) = model.forward_train(x.clone(), 0, Some(g.clone()));
    assert!(
        q.hard.is_none(),
        "the codes are looked up inside the family"
    );
    // The decoder's input is the code of the Gumbel-Max draw from softmax(a·logits), a = 1
    // at step 0.
    let logits = model.logits_with(&model.tensor_ops(), x.clone()).unwrap();
    let drawn = gumbel::gumbel_max(logits, g);
    let codes = values(codebook(&model));
    let z_q = values(q.z_q.clone());
    for (cell, &id) in values(drawn.float()).iter().enumerate() {
        for i in 0..6 {
            let (got, want) = (z_q[i * 16 + cell], codes[id as usize * 6 + i]);
            assert!((got - want).abs() < 1e-5, "cell {cell}: {got} vs {want}");
        }
    }
    let grads = loss::logit_laplace_nll(out, x).backward();
    let norm = |v: Vec<f32>| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let g_enc = norm(values(
        model.encoder.input.weight.val().grad(&grads).unwrap(),
    ));
    let Some(FamilyParams::Codebook(vq)) = &model.bottleneck else {
        unreachable!()
    };
    let g_cb = norm(values(vq.codebook.val().grad(&grads).unwrap()));
    assert!(
        g_enc > 1e-6 && g_cb > 1e-6,
        "encoder {g_enc}, codebook {g_cb}"
    );
}

#[test]
fn the_logits_option_is_named_checked_and_absent_from_old_configs() {
    // DALL·E's recipe keeps the head, and its configuration has no `logits` (as every
    // configuration written before the option); the default recipe's are distances.
    let dalle = DvaeOptions::recipe(Recipe::Dalle, 10);
    let json = serde_json::to_value(&dalle).unwrap();
    assert!(json.get("logits").is_none(), "{json}");
    assert_eq!(
        serde_json::from_value::<DvaeOptions>(json).unwrap().logits,
        CodeLogits::Head
    );
    let default = serde_json::to_value(DvaeOptions::recipe(Recipe::Default, 10)).unwrap();
    assert_eq!(default["logits"], "distance");
    let dot = DvaeOptions {
        logits: CodeLogits::Dot,
        ..dalle.clone()
    };
    let json = serde_json::to_value(&dot).unwrap();
    assert_eq!(json["logits"], "dot");
    assert_eq!(serde_json::from_value::<DvaeOptions>(json).unwrap(), dot);
    assert_eq!(
        "distance".parse::<CodeLogits>().unwrap(),
        CodeLogits::Distance
    );
    let e = "dots".parse::<CodeLogits>().unwrap_err().to_string();
    assert!(e.contains("logits") && e.contains("head"), "{e}");
    let e = DvaeOptions {
        soft_codebook_grad: true,
        hard: true,
        ..dot
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(e.contains("soft_codebook_grad") && e.contains("dot"), "{e}");
}
