//! Architecture: parameter counts against openai/DALL-E, shapes per preset.

use burn::prelude::*;
use dvae::config::ModelConfig;

#[test]
fn parameter_counts_match_openai_dalle() {
    // Counted from dall_e.Encoder()/Decoder() in PyTorch (53.8M + 43.8M) and the same
    // classes at the tiny sizes.
    let device = Device::flex();
    for (preset, enc, dec) in [
        ("dalle", 53_786_240, 43_829_766),
        ("tiny", 399_368, 402_350),
    ] {
        let m = crate::common::net(&ModelConfig::preset(preset).unwrap(), 0, &device);
        assert_eq!(m.encoder.num_params(), enc, "{preset} encoder");
        assert_eq!(m.decoder.num_params(), dec, "{preset} decoder");
    }
}

#[test]
fn shapes_per_preset_and_group_count() {
    let device = Device::flex();
    let mut configs: Vec<ModelConfig> = ["tiny", "small"]
        .iter()
        .map(|p| ModelConfig::preset(p).unwrap())
        .collect();
    let mut two = ModelConfig::preset("tiny").unwrap();
    two.group_count = 2;
    two.image_size = 16;
    configs.push(two);
    for c in configs {
        let m = crate::common::net(&c, 1, &device);
        let s = c.image_size;
        let x = Tensor::<4>::zeros([2, 3, s, s], &device);
        let logits = m.encode(x);
        let g = c.grid_size();
        assert_eq!(logits.dims(), [2, c.vocab_size, g, g]);
        let tokens = Tensor::<3, Int>::zeros([2, g, g], &device);
        assert_eq!(
            m.decode_tokens(tokens).dims(),
            [2, c.output_channels(), s, s]
        );
    }
}

#[test]
fn same_seed_same_weights() {
    let device = Device::flex();
    let c = ModelConfig::preset("tiny").unwrap();
    let w = |seed| {
        crate::common::values(
            crate::common::net(&c, seed, &device)
                .encoder
                .input
                .weight
                .val(),
        )
    };
    assert_eq!(w(3), w(3));
    assert_ne!(w(3), w(4));
    // DALL·E's init: std 1/sqrt(n_in·k²) = 1/sqrt(3·49).
    let v = w(3);
    let std = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    assert!((std - 1.0 / 147f32.sqrt()).abs() < 0.01, "init std {std}");
}
