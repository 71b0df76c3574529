//! `Tokenizer::logits`: the dVAE's encoder output, whose argmax is `encode`'s tokens, on
//! both engines; a family without logits is refused.

use burn::prelude::*;
use dvae::Tokenizer;
use dvae::config::{ModelConfig, Recipe, TrainConfig};
use dvae::data::ImageSet;
use dvae::kernels::engine::Engine;
use dvae::kernels::host::{float_values, int_values};
use dvae::model::Network;
use dvae::model::family::FamilyConfig;
use dvae::run_config::{FORMAT_VERSION, RunConfig};

fn tokenizer(family: &str, engine: Engine) -> Tokenizer {
    let device = Device::flex();
    let model = ModelConfig::preset("tiny").unwrap();
    let config = RunConfig {
        format_version: FORMAT_VERSION,
        preset: "tiny".into(),
        bottleneck: FamilyConfig::of(family, Recipe::Default, 10).unwrap(),
        train: TrainConfig::recipe(Recipe::Default, 10),
        data: "default".into(),
        model: model.clone(),
    };
    let net = Network::new(&model, &config.bottleneck, 3, &device, engine);
    Tokenizer::from_model(config, net, &device)
}

#[test]
fn logits_argmax_is_the_tokens_on_both_engines() {
    let images = ImageSet::procedural(3, 64).batch(&[0, 1, 2], &Device::flex());
    let mut per_engine = Vec::new();
    for engine in [Engine::Kernels, Engine::Generic] {
        let tok = tokenizer("dvae", engine);
        let logits = tok.logits(images.clone()).unwrap();
        assert_eq!(logits.dims(), [3, 512, 8, 8]);
        let tokens = int_values(tok.encode(images.clone()).unwrap());
        let argmax = int_values(logits.clone().argmax(1).squeeze_dim::<3>(1));
        assert_eq!(argmax, tokens, "{engine:?}");
        per_engine.push(float_values(logits));
    }
    let worst = per_engine[0]
        .iter()
        .zip(&per_engine[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "kernels vs generic logits differ by {worst}");
}

#[test]
fn a_family_without_logits_is_refused() {
    let images = ImageSet::procedural(1, 64).batch(&[0], &Device::flex());
    let e = tokenizer("vqvae", Engine::Kernels)
        .logits(images)
        .unwrap_err()
        .to_string();
    assert!(e.contains("vqvae model") && e.contains("not logits"), "{e}");
}
