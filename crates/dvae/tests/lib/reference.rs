//! The encoder, decoder, losses and pixel mapping against openai/DALL-E in PyTorch
//! (`tools/make_fixtures.py`, fixture `dalle_small.safetensors`).

use std::collections::HashMap;

use burn::prelude::*;
use dvae::config::{ModelConfig, ReconLoss};
use dvae::import::dalle_names::{self, HostTensor};
use dvae::loss;
use dvae::model::{self, Network};

use crate::common::*;

fn small_model(device: &Device) -> (Network, HashMap<String, HostTensor>) {
    let (tensors, meta) = read_safetensors(&fixture("dalle_small.safetensors"));
    let c = ModelConfig {
        image_size: meta["image_size"].parse().unwrap(),
        input_channels: 3,
        group_count: meta["group_count"].parse().unwrap(),
        n_hid: meta["n_hid"].parse().unwrap(),
        n_blk_per_group: meta["n_blk_per_group"].parse().unwrap(),
        vocab_size: meta["vocab_size"].parse().unwrap(),
        n_init: meta["n_init"].parse().unwrap(),
        recon_loss: ReconLoss::LogitLaplace,
        code_dim: 64,
    };
    let mut model = crate::common::net(&c, 0, device);
    let mut params = HashMap::new();
    let mut data = HashMap::new();
    for (k, v) in tensors {
        match dalle_names::from_dalle(&k) {
            Some(ours) => {
                params.insert(ours, v);
            }
            None => {
                data.insert(k, v);
            }
        }
    }
    dalle_names::load_tensors(&mut model, &params, "dalle_small.safetensors").unwrap();
    (model, data)
}

#[test]
fn encoder_decoder_match_pytorch() {
    let device = Device::flex();
    let (model, data) = small_model(&device);
    let x: Tensor<4> = to_tensor(&data["x"], &device);
    let logits = model.encode(model::pixels::map_pixels(x));
    let rel = max_rel_diff(&values(logits.clone()), &data["logits"].data);
    assert!(rel < 1e-4, "logits differ from PyTorch by {rel} (relative)");

    let tokens = model::gumbel::argmax_tokens(logits);
    let ours: Vec<f32> = tokens
        .clone()
        .into_data()
        .convert::<i64>()
        .iter::<i64>()
        .map(|v| v as f32)
        .collect();
    assert_eq!(ours, data["tokens"].data, "argmax tokens differ");

    // Both decode paths: the 1×1 convolution over a one-hot tensor and the embedding lookup.
    let one_hot = model::gumbel::one_hot_dim1(tokens.clone(), model.config.vocab_size);
    let out_conv = model.decode(dvae::model::latent::DecoderInput::Dense(one_hot));
    let out_embed = model.decode_tokens(tokens);
    for out in [out_conv, out_embed] {
        let rel = max_rel_diff(&values(out.clone()), &data["dec_out"].data);
        assert!(rel < 1e-4, "decoder output differs by {rel}");
        let recon = model::pixels::output_to_pixels(out, 3);
        let diff = max_rel_diff(&values(recon), &data["recon"].data);
        assert!(diff < 1e-4, "decoded pixels differ by {diff}");
    }
}

#[test]
fn logit_laplace_and_kl_match_pytorch() {
    let device = Device::flex();
    let (_, data) = small_model(&device);
    let x: Tensor<4> = to_tensor(&data["x"], &device);
    let out: Tensor<4> = to_tensor(&data["dec_out"], &device);
    let nll = loss::logit_laplace_nll(out, model::pixels::map_pixels(x)).into_scalar::<f32>();
    let want = data["nll"].data[0];
    assert!(
        (nll - want).abs() < 1e-5 * (1.0 + want.abs()),
        "nll {nll} vs PyTorch {want}"
    );
    let logits: Tensor<4> = to_tensor(&data["logits"], &device);
    let kl =
        loss::kl_to_uniform(dvae::kernels::engine::Engine::Kernels, logits).into_scalar::<f32>();
    let want = data["kl"].data[0];
    assert!((kl - want).abs() < 1e-5, "kl {kl} vs PyTorch {want}");
}
