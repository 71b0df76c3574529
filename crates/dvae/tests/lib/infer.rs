//! The channels-last inference path (`dvae::infer`) against Burn's generic operations and,
//! through OpenAI's modules, against PyTorch: layer by layer and whole networks.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use burn::tensor::activation::relu;
use dvae::bench::model::BenchModelConfig;
use dvae::config::ModelConfig;
use dvae::config::Recipe;
use dvae::kernels::conv::Conv;
use dvae::kernels::conv_transpose::ConvTranspose;
use dvae::kernels::engine::Engine;
use dvae::kernels::gemm::ConvOpts;
use dvae::kernels::maps::Act;
use dvae::kernels::ops::layout::Layout;
use dvae::kernels::ops::{conv as conv_ops, softmax as softmax_ops};
use dvae::model::family::FamilyConfig;
use dvae::model::gumbel;
use dvae::model::host_ops::HostOps;
use dvae::model::latent::DecoderInput;
use dvae::model::ops::Ops;
use dvae::model::pixels::map_pixels;
use dvae::model::tensor_ops::TensorOps;

/// Burn's own operations.
const GENERIC: TensorOps = TensorOps {
    engine: Engine::Generic,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::*;

fn normal(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape(shape)
}

fn ids(t: Tensor<3, Int>) -> Vec<i64> {
    t.into_data().iter::<i64>().collect()
}

/// Kernel, stride, padding (top, left, bottom, right), channels and input size, including
/// odd sizes, asymmetric padding and a map of 400 pixels (two tiles).
/// Kernel, stride, padding, `[cin, cout]`, `[h, w]`.
type ConvCase = ([usize; 2], [usize; 2], [usize; 4], [usize; 2], [usize; 2]);

const CONVS: [ConvCase; 7] = [
    ([7, 7], [1, 1], [3, 3, 3, 3], [3, 8], [9, 11]),
    ([4, 4], [2, 2], [1, 1, 1, 1], [5, 6], [10, 10]),
    ([1, 1], [1, 1], [0; 4], [4, 7], [5, 6]),
    ([3, 3], [1, 1], [1, 1, 1, 1], [6, 5], [20, 20]),
    ([3, 3], [2, 2], [0; 4], [3, 4], [7, 9]),
    ([3, 2], [1, 2], [2, 0, 1, 1], [2, 3], [6, 7]),
    ([1, 1], [2, 1], [0; 4], [4, 3], [6, 5]),
];

/// Every convolution and every fused option (input ReLU, output ReLU, residual) within 1e-5
/// of Burn's `relu?(conv2d(relu?(x)) + r)`.
#[test]
fn convolutions_match_burn() {
    let device = Device::flex();
    for (i, (kernel, stride, [t, l, b, r], [cin, cout], [h, w])) in CONVS.into_iter().enumerate() {
        let burn_conv = Conv2dConfig::new([cin, cout], kernel)
            .with_stride(stride)
            .with_padding(PaddingConfig2d::Explicit(t, l, b, r))
            .init(&device);
        let conv = Conv::from_burn(&burn_conv, 1.0).unwrap();
        let x = normal([2, cin, h, w], i as u64, &device);
        let plain = burn_conv.forward(x.clone());
        let [_, _, ho, wo] = plain.dims();
        assert_eq!(conv.out_size(h, w), [ho, wo], "case {i}: output size");
        let res = normal([2, cout, ho, wo], 100 + i as u64, &device);
        let res_act = Act::from_nchw(res.clone());
        for (input_relu, output_relu, residual) in [
            (false, false, false),
            (true, false, false),
            (false, true, true),
            (true, true, true),
        ] {
            let xin = if input_relu {
                relu(x.clone())
            } else {
                x.clone()
            };
            let mut want = burn_conv.forward(xin);
            if residual {
                want = want + res.clone();
            }
            if output_relu {
                want = relu(want);
            }
            let opts = ConvOpts {
                input_relu,
                output_relu,
                residual: residual.then_some(&res_act),
                upsample: false,
            };
            let got = conv
                .forward(&Act::from_nchw(x.clone()), opts)
                .to_nchw(&device);
            let d = max_rel_diff(&values(got), &values(want));
            assert!(d < 1e-5, "case {i} {opts:?}: relative difference {d}");
        }
        // Argmax fused into the tiles: the argmax of the same logits.
        let logits = conv.forward(&Act::from_nchw(x.clone()), ConvOpts::default());
        let want: Vec<u32> = logits
            .data
            .chunks_exact(cout)
            .map(dvae::kernels::math::argmax)
            .collect();
        assert_eq!(
            conv.forward_argmax(&Act::from_nchw(x), false),
            want,
            "case {i}: argmax"
        );
    }
}

/// 3×3 stride-1 convolutions by Winograd's F(4×4, 3×3) (sizes that are not multiples of 4,
/// asymmetric and no padding, fused options) within 1e-5 of Burn's, relative to the largest
/// output; below 16 input channels they stay direct.
#[test]
fn winograd_convolutions_match_burn() {
    let device = Device::flex();
    let cases = [
        ([1, 1, 1, 1], [16, 24], [16, 16]),
        ([1, 1, 1, 1], [32, 16], [13, 7]),
        ([0, 0, 0, 0], [16, 8], [9, 10]),
        ([2, 0, 1, 1], [24, 17], [5, 11]),
        ([1, 1, 1, 1], [128, 128], [16, 16]),
    ];
    for (i, ([t, l, b, r], [cin, cout], [h, w])) in cases.into_iter().enumerate() {
        let burn_conv = Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(t, l, b, r))
            .init(&device);
        let conv = Conv::from_burn(&burn_conv, 1.0).unwrap();
        assert!(conv.is_winograd(), "case {i}");
        let x = normal([3, cin, h, w], 20 + i as u64, &device);
        let want = burn_conv.forward(relu(x.clone()));
        let [_, _, ho, wo] = want.dims();
        let res = normal([3, cout, ho, wo], 30 + i as u64, &device);
        let want = relu(want + res.clone());
        let res = Act::from_nchw(res);
        let opts = ConvOpts {
            input_relu: true,
            output_relu: true,
            residual: Some(&res),
            upsample: false,
        };
        let got = conv.forward(&Act::from_nchw(x.clone()), opts);
        let d = max_rel_diff(&values(got.to_nchw(&device)), &values(want));
        assert!(d < 1e-5, "case {i}: relative difference {d}");
        let direct = conv.clone().direct().forward(&Act::from_nchw(x), opts);
        assert!(
            max_rel_diff(&got.data, &direct.data) < 1e-5,
            "case {i}: against direct"
        );
    }
    let small = Conv2dConfig::new([8, 8], [3, 3]).init(&device);
    assert!(!Conv::from_burn(&small, 1.0).unwrap().is_winograd());
}

/// Weight gradients by Winograd's algorithm (3×3 stride 1, and 4×4 stride 2 over the
/// space-to-depth input) equal the direct `im2col(x)ᵀ · dy` within 1e-5 of the largest:
/// paddings 0 to 2, sizes that are not multiples of 4, and a batch of more tiles than one
/// pass takes (1,080).
#[test]
fn winograd_weight_gradients_match_direct() {
    let device = Device::flex();
    let cases = [
        ([3, 3], [1, 1], [1, 1, 1, 1], [16, 24], [13, 7], 3),
        ([3, 3], [1, 1], [0; 4], [20, 8], [9, 10], 2),
        ([3, 3], [1, 1], [2, 2, 2, 2], [16, 16], [5, 6], 2),
        ([3, 3], [1, 1], [1, 1, 1, 1], [16, 8], [12, 12], 120),
        ([4, 4], [2, 2], [1, 1, 1, 1], [5, 6], [10, 12], 3),
        ([4, 4], [2, 2], [1, 1, 1, 1], [64, 32], [15, 16], 2),
    ];
    for (i, (kernel, stride, pad, [cin, cout], [h, w], n)) in cases.into_iter().enumerate() {
        let conv = Conv::geometry([cin, cout], kernel, stride, pad);
        let [ho, wo] = conv.out_size(h, w);
        let x = Act::from_nchw(normal([n, cin, h, w], 40 + i as u64, &device));
        let dy = Act::from_nchw(normal([n, cout, ho, wo], 60 + i as u64, &device));
        let got = conv.weight_grad(&x, &dy);
        let want = conv.clone().direct().weight_grad(&x, &dy);
        let d = max_rel_diff(&got, &want);
        assert!(d < 1e-5, "case {i}: relative difference {d}");
    }
}

/// A convolution reading its input upsampled ×2 without building it (direct 3×3, Winograd
/// 3×3, 1×1) equals Burn's convolution of the upsampled map.
#[test]
fn upsampled_inputs_match_burn() {
    let device = Device::flex();
    for (i, (k, [cin, cout])) in [(3, [6, 5]), (3, [16, 12]), (1, [8, 16])]
        .into_iter()
        .enumerate()
    {
        let p = k / 2;
        let burn_conv = Conv2dConfig::new([cin, cout], [k, k])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .init(&device);
        let conv = Conv::from_burn(&burn_conv, 1.0).unwrap();
        let x = normal([2, cin, 5, 7], 40 + i as u64, &device);
        let want = relu(burn_conv.forward(relu(
            GENERIC.output(GENERIC.upsample2(GENERIC.input(x.clone()))),
        )));
        let opts = ConvOpts {
            input_relu: true,
            output_relu: true,
            residual: None,
            upsample: true,
        };
        let got = conv.forward(&Act::from_nchw(x), opts).to_nchw(&device);
        assert_eq!(got.dims(), want.dims(), "case {i}");
        let d = max_rel_diff(&values(got), &values(want));
        assert!(d < 1e-5, "case {i}: relative difference {d}");
    }
}

/// Transposed convolutions (stride 2 kernel 4 as in the bench model, output padding,
/// stride 3, stride 1) within 1e-5 of Burn's.
#[test]
fn transposed_convolutions_match_burn() {
    let device = Device::flex();
    let cases = [
        ([4, 4], [2, 2], [1, 1], [0, 0], [6, 3], [8, 8]),
        ([3, 3], [2, 2], [1, 1], [1, 1], [3, 4], [5, 7]),
        ([5, 4], [3, 2], [2, 1], [0, 1], [2, 5], [4, 6]),
        ([2, 2], [1, 1], [0, 0], [0, 0], [4, 4], [6, 5]),
        ([4, 4], [2, 2], [1, 1], [0, 0], [8, 6], [24, 24]),
    ];
    for (i, (kernel, stride, pad, pad_out, [cin, cout], [h, w])) in cases.into_iter().enumerate() {
        let burn_conv = ConvTranspose2dConfig::new([cin, cout], kernel)
            .with_stride(stride)
            .with_padding(pad)
            .with_padding_out(pad_out)
            .init(&device);
        let conv = ConvTranspose::from_burn(&burn_conv).unwrap();
        let x = normal([3, cin, h, w], 10 + i as u64, &device);
        for (input_relu, output_relu) in [(false, false), (true, true)] {
            let xin = if input_relu {
                relu(x.clone())
            } else {
                x.clone()
            };
            let mut want = burn_conv.forward(xin);
            if output_relu {
                want = relu(want);
            }
            let opts = ConvOpts {
                input_relu,
                output_relu,
                ..ConvOpts::default()
            };
            let got = conv
                .forward(&Act::from_nchw(x.clone()), opts)
                .to_nchw(&device);
            assert_eq!(got.dims(), want.dims(), "case {i}: shape");
            let d = max_rel_diff(&values(got), &values(want));
            assert!(d < 1e-5, "case {i} {opts:?}: relative difference {d}");
        }
    }
}

/// Layout round trip, 2×2 max pooling (odd sizes) and ×2 nearest upsampling equal Burn's.
#[test]
fn layout_pooling_and_upsampling_match_burn() {
    let device = Device::flex();
    let x = normal([2, 5, 7, 9], 3, &device);
    let a = Act::from_nchw(x.clone());
    assert_eq!(values(a.to_nchw(&device)), values(x.clone()));
    let pool = MaxPool2dConfig::new([2, 2]).init();
    assert_eq!(
        values(a.max_pool2().to_nchw(&device)),
        values(pool.forward(x.clone()))
    );
    assert_eq!(
        values(a.upsample2().to_nchw(&device)),
        values(GENERIC.output(GENERIC.upsample2(GENERIC.input(x))))
    );
}

fn assert_tokens_close(got: Vec<i64>, want: Vec<i64>, logits: &[f32], k: usize, what: &str) {
    // Summation order differs, so a cell whose two best logits are within 1e-4 may flip.
    for (cell, (g, w)) in got.iter().zip(&want).enumerate() {
        if g != w {
            let row = &logits[cell * k..(cell + 1) * k];
            let gap = (row[*g as usize] - row[*w as usize]).abs();
            assert!(
                gap < 1e-4,
                "{what}: cell {cell} token {g} vs {w}, logit gap {gap}"
            );
        }
    }
}

/// NCHW logits `[n, k, h, w]` as rows per cell.
fn cell_rows(t: Tensor<4>) -> (Vec<f32>, usize) {
    let k = t.dims()[1];
    (values(t.permute([0, 2, 3, 1])), k)
}

/// The bench model: logits, tokens and decoded images as Burn computes them.
#[test]
fn bench_model_on_the_kernels_matches_burn() {
    let device = Device::flex();
    let c = BenchModelConfig::new()
        .with_codes(64)
        .with_hidden(32)
        .with_image_size(32);
    let m = c.init(&device);
    let host = HostOps::new(&device);
    let x = normal([3, 3, 32, 32], 7, &device);
    let want = m.encode(&GENERIC, x.clone());
    let d = max_rel_diff(&values(m.encode(&host, x.clone())), &values(want.clone()));
    assert!(d < 1e-4, "logits: relative difference {d}");
    let (rows, k) = cell_rows(want);
    let tokens = m.encode_tokens(&host, x.clone());
    assert_tokens_close(
        ids(tokens.clone()),
        ids(m.encode_tokens(&GENERIC, x)),
        &rows,
        k,
        "bench",
    );
    let d = max_rel_diff(
        &values(m.decode_tokens(&host, tokens.clone())),
        &values(m.decode_tokens(&GENERIC, tokens)),
    );
    assert!(d < 1e-4, "decoded: relative difference {d}");
    // Every layer ran on the kernels: their packed parameters are all the model's.
    assert_eq!(host.packed_params(), m.num_params());
}

/// A DALL·E dVAE (max pooling, upsampling, identity convs, post-gain) on the kernels' host
/// path against Burn's operations; the other families' encoders and decoders too.
#[test]
fn dalle_network_on_the_kernels_matches_burn() {
    let device = Device::flex();
    let mut c = ModelConfig::preset("tiny").unwrap();
    c.image_size = 32;
    let m = crate::common::net(&c, 3, &device);
    let host = HostOps::new(&device);
    let x = map_pixels(normal([2, 3, 32, 32], 9, &device).abs());
    let want = m.encoder.forward(&GENERIC, x.clone());
    let got = m.encoder.forward(&host, x.clone());
    let d = max_rel_diff(&values(got.clone()), &values(want.clone()));
    assert!(d < 1e-4, "logits: relative difference {d}");
    let (rows, k) = cell_rows(want);
    let tokens = m.tokens_with(&host, x.clone()).unwrap();
    // The fused argmax picks the largest of the kernels' own logits.
    assert_eq!(ids(tokens.clone()), ids(gumbel::argmax_tokens(got)));
    assert_tokens_close(
        ids(tokens),
        ids(m.tokens_with(&GENERIC, x.clone()).unwrap()),
        &rows,
        k,
        "dalle",
    );
    // Tokens spread over the codebook, so the lookup is exercised beyond a few rows.
    let g = c.grid_size();
    let spread: Vec<i64> = (0..2 * g * g)
        .map(|i| (i * 37 % c.vocab_size) as i64)
        .collect();
    let spread = Tensor::<1, Int>::from_ints(spread.as_slice(), &device).reshape([2, g, g]);
    let want_out = m.decode_with(&GENERIC, m.token_input(spread.clone()));
    let d = max_rel_diff(
        &values(m.decode_with(&host, m.token_input(spread.clone()))),
        &values(want_out.clone()),
    );
    assert!(d < 1e-4, "decoded: relative difference {d}");
    // The images: the kernels map the last layer to pixels in one pass, with the same
    // bits as output_to_pixels of their own output (what `dvae eval` scores), and within
    // 1e-5 of Burn's engine.
    let to_px = |out| values(dvae::model::pixels::output_to_pixels(out, 3));
    let fused = m.decode_pixels_with(&host, m.token_input(spread.clone()), 3);
    assert_eq!(fused.dims(), [2, 3, 32, 32]);
    let fused = values(fused);
    assert!(fused.iter().all(|v| (0.0..=1.0).contains(v)));
    let own = to_px(m.decode_with(&host, m.token_input(spread.clone())));
    assert!(
        fused == own,
        "the fused pixels differ from output_to_pixels"
    );
    let generic = values(m.decode_pixels_with(&GENERIC, m.token_input(spread.clone()), 3));
    assert!(
        generic == to_px(want_out),
        "Burn's engine runs output_to_pixels"
    );
    let worst = fused
        .iter()
        .zip(&generic)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "the engines' pixels differ by {worst}");
    // The inference path used every parameter of the encoder and decoder: no layer of the
    // one definition is left out of it.
    assert_eq!(
        host.packed_params(),
        m.encoder.num_params() + m.decoder.num_params()
    );
    // The vector families: encoder outputs and their decoders on both engines.
    for name in ["vqvae", "vae", "ae"] {
        let family = FamilyConfig::of(name, Recipe::Default, 10).unwrap();
        let m = crate::common::net_of(&c, &family, 3, &device);
        let host = HostOps::new(&device);
        let z = m.encoder.forward(&GENERIC, x.clone());
        let d = max_rel_diff(
            &values(m.encoder.forward(&host, x.clone())),
            &values(z.clone()),
        );
        assert!(d < 1e-4, "{name} encoder: relative difference {d}");
        let z = z.narrow(1, 0, c.code_dim);
        let want = m.decode_with(&GENERIC, DecoderInput::Dense(z.clone()));
        let d = max_rel_diff(
            &values(m.decode_with(&host, DecoderInput::Dense(z))),
            &values(want),
        );
        assert!(d < 1e-4, "{name} decoder: relative difference {d}");
    }
}

fn grads_of(
    y: Tensor<4>,
    x: &Tensor<4>,
    weight: &burn::module::Param<Tensor<4>>,
    bias: Option<&burn::module::Param<Tensor<1>>>,
    seed: u64,
) -> [Vec<f32>; 4] {
    let device = y.device();
    let r = normal(y.dims(), seed, &device);
    let grads = (y.clone() * r).sum().backward();
    let [n, c, h, w] = x.dims();
    [
        values(y.inner()),
        values(
            x.grad(&grads)
                .expect("input gradient")
                .reshape([n, c, h, w]),
        ),
        values(weight.grad(&grads).expect("weight gradient")),
        bias.map_or(Vec::new(), |b| {
            values(
                b.grad(&grads)
                    .expect("bias gradient")
                    .reshape([1, 1, 1, b.dims()[0]]),
            )
        }),
    ]
}

fn assert_grads_close(case: &str, fast: [Vec<f32>; 4], want: [Vec<f32>; 4]) {
    let names = [
        "output",
        "input gradient",
        "weight gradient",
        "bias gradient",
    ];
    for ((what, a), b) in names.iter().zip(&fast).zip(&want) {
        let d = max_rel_diff(a, b);
        assert!(d < 1e-4, "{case}: {what}: relative difference {d}");
    }
}

/// Convolutions that train on these kernels (`model::cpu_conv`), on NCHW and on
/// channels-last maps: output and the gradients of input, weight and bias within 1e-4 of
/// Burn's on the autodiff device — 3×3 by Winograd and direct, paddings 0 to 2, the 7×7
/// input conv, k4 s2 (input gradient by transposed convolution), a stride-2 map whose last
/// row the kernel never reaches, 1×1 with and without a bias; each also with the input's
/// ReLU fused in (against Burn's `conv(relu(x))`).
#[test]
fn trainable_convolutions_match_burn() {
    let device = Device::flex().autodiff();
    assert_eq!(
        Engine::resolve(&device),
        Engine::Kernels,
        "the kernels run on flex"
    );
    let cases = [
        ([16, 24], 3, 1, 1, [9, 10]),
        ([6, 5], 3, 1, 1, [8, 8]),
        ([20, 8], 3, 1, 0, [7, 9]),
        ([16, 16], 3, 1, 2, [5, 6]),
        ([3, 8], 7, 1, 3, [12, 11]),
        ([5, 6], 4, 2, 1, [10, 12]),
        ([4, 6], 3, 2, 0, [9, 8]),
        ([12, 20], 1, 1, 0, [6, 7]),
    ];
    for (i, ([cin, cout], k, s, p, [h, w])) in cases.into_iter().enumerate() {
        for with_bias in [true, false] {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(with_bias)
                .init(&device);
            let x = normal([2, cin, h, w], 50 + i as u64, &device).require_grad();
            let bias = conv.bias.as_ref();
            let want = grads_of(conv.forward(x.clone()), &x, &conv.weight, bias, 9);
            let want_relu = grads_of(conv.forward(relu(x.clone())), &x, &conv.weight, bias, 9);
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let y = conv_ops::conv2d(
                    Engine::Kernels,
                    layout,
                    &conv,
                    layout.from_nchw(x.clone()),
                    false,
                );
                let fast = grads_of(layout.to_nchw(y), &x, &conv.weight, bias, 9);
                let case = format!("conv case {i}, bias {with_bias}, {layout:?}");
                assert_grads_close(&case, fast, want.clone());
                // The ReLU fused into the convolution: the gradients of conv(relu(x)).
                let y = conv_ops::conv2d(
                    Engine::Kernels,
                    layout,
                    &conv,
                    layout.from_nchw(x.clone()),
                    true,
                );
                let fast = grads_of(layout.to_nchw(y), &x, &conv.weight, bias, 9);
                assert_grads_close(&format!("{case}, input ReLU"), fast, want_relu.clone());
            }
        }
    }
}

/// Transposed convolutions that train on these kernels, on NCHW and channels-last maps:
/// the bench model's k4 s2 layers, an output padding, stride 1.
#[test]
fn trainable_transposed_convolutions_match_burn() {
    let device = Device::flex().autodiff();
    let cases = [
        ([8, 6], 4, 2, 1, 0, [6, 7]),
        ([6, 3], 4, 2, 1, 0, [8, 8]),
        ([5, 4], 3, 2, 1, 1, [5, 6]),
        ([4, 5], 3, 1, 1, 0, [6, 6]),
    ];
    for (i, ([cin, cout], k, s, p, po, [h, w])) in cases.into_iter().enumerate() {
        let conv = ConvTranspose2dConfig::new([cin, cout], [k, k])
            .with_stride([s, s])
            .with_padding([p, p])
            .with_padding_out([po, po])
            .init(&device);
        let x = normal([2, cin, h, w], 70 + i as u64, &device).require_grad();
        let bias = conv.bias.as_ref();
        let want = grads_of(conv.forward(x.clone()), &x, &conv.weight, bias, 11);
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let y = conv_ops::conv_transpose2d(
                Engine::Kernels,
                layout,
                &conv,
                layout.from_nchw(x.clone()),
            );
            let fast = grads_of(layout.to_nchw(y), &x, &conv.weight, bias, 11);
            let case = format!("transposed case {i}, {layout:?}");
            assert_grads_close(&case, fast, want.clone());
        }
    }
}

/// The fused Gumbel-softmax and per-cell KL (`model::cpu_softmax`), over dimension 1 of
/// NCHW and the last of channels-last logits, against Burn's composed operations: values
/// and logit gradients within 1e-5 (relative to the largest), at τ 1 and 0.25, with
/// spread-out logits.
#[test]
fn fused_softmax_and_kl_match_burn() {
    use burn::tensor::activation::{log_softmax, softmax};
    let device = Device::flex().autodiff();
    let shape = [3, 37, 5, 70];
    let logits = (normal(shape, 80, &device) * 4.0).detach().require_grad();
    let noise = gumbel::gumbel_from_uniform(normal(shape, 81, &device).abs() * 0.98 + 0.01);
    let r = normal(shape, 82, &device);
    let grad_of = |y: Tensor<4>, r: Tensor<4>| {
        let grads = (y.clone() * r).sum().backward();
        (values(y.inner()), values(logits.grad(&grads).unwrap()))
    };
    // (τ, the logit scale a): softmax((a·logits + g) / τ).
    for ((tau, a), layout) in [(1.0, 1.0), (0.25, 1.7)]
        .into_iter()
        .flat_map(|t| [Layout::Nchw, Layout::Nhwc].map(|l| (t, l)))
    {
        let y = softmax_ops::gumbel_softmax(
            Engine::Kernels,
            layout,
            layout.from_nchw(logits.clone()),
            layout.from_nchw(noise.clone()),
            [a, tau],
        );
        let fast = grad_of(layout.to_nchw(y), r.clone());
        let want = grad_of(
            softmax((logits.clone() * a + noise.clone()) / tau, 1),
            r.clone(),
        );
        for (what, a, b) in [("sample", &fast.0, &want.0), ("gradient", &fast.1, &want.1)] {
            let d = max_rel_diff(a, b);
            assert!(
                d < 1e-5,
                "gumbel-softmax τ {tau}, {layout:?}: {what}: relative difference {d}"
            );
        }
    }
    let rk = normal([3, 1, 5, 70], 83, &device);
    let log_q = log_softmax(logits.clone(), 1);
    let kl = (log_q.clone().exp() * (log_q + 37f64.ln())).sum_dim(1);
    let want = grad_of(kl, rk.clone());
    for layout in [Layout::Nchw, Layout::Nhwc] {
        let cells = softmax_ops::kl_to_uniform_cells(
            Engine::Kernels,
            layout,
            layout.from_nchw(logits.clone()),
        );
        let fast = grad_of(layout.to_nchw(cells), rk.clone());
        for (what, a, b) in [("KL", &fast.0, &want.0), ("gradient", &fast.1, &want.1)] {
            let d = max_rel_diff(a, b);
            assert!(d < 1e-5, "KL, {layout:?}: {what}: relative difference {d}");
        }
    }
}

/// The bench model's training loss with channels-last maps (what `loss` runs on flex)
/// equals the NCHW one: the loss within 1e-5 and every parameter's gradient within 1e-4.
#[test]
fn bench_model_trains_the_same_on_both_engines() {
    let device = Device::flex().autodiff();
    let cfg = BenchModelConfig::new()
        .with_codes(24)
        .with_hidden(16)
        .with_image_size(16);
    let model = cfg.init(&device);
    let x = normal([3, 3, 16, 16], 90, &device);
    let g = gumbel::gumbel_from_uniform(normal([3, 24, 4, 4], 91, &device).abs() * 0.98 + 0.01);
    // `loss` reads the noise in the engine's layout order: the kernels get the same values
    // channels-last.
    let g_nhwc = g.clone().permute([0, 2, 3, 1]).reshape([3, 24, 4, 4]);
    let run = |engine: Engine, g: Tensor<4>| {
        let loss = model.loss(engine, x.clone(), g, 0.5, 0.1);
        let grads = loss.backward();
        (values(loss.inner()), param_grads(&model, &grads))
    };
    let (want_loss, want) = run(Engine::Generic, g);
    let (loss, got) = run(Engine::Kernels, g_nhwc);
    assert!(
        max_rel_diff(&loss, &want_loss) < 1e-5,
        "loss {loss:?} vs {want_loss:?}"
    );
    assert_eq!(got.len(), want.len());
    // Weights and biases of 14 layers, and the bias-free codebook.
    assert_eq!(got.len(), 14 * 2 + 1);
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let d = max_rel_diff(a, b);
        assert!(d < 1e-4, "parameter {i}: gradient relative difference {d}");
    }
}

/// The DALL·E encoder and decoder on the kernels (channels-last maps, what they train on
/// flex) equal them on Burn's operations: logits and output within 1e-5, every parameter's
/// gradient within 1e-4 (the `tiny` preset at 32×32: pooling, upsampling, 1×1 projections,
/// 7×7 input).
#[test]
fn dalle_network_trains_the_same_on_both_engines() {
    let device = Device::flex().autodiff();
    let mut c = ModelConfig::preset("tiny").unwrap();
    c.vocab_size = 24;
    let model = crate::common::net(&c, 5, &device);
    let x = normal([2, 3, 32, 32], 100, &device);
    let z = normal([2, 24, 4, 4], 101, &device);
    let run = |engine: Engine| {
        let ops = TensorOps { engine };
        let logits = model.encoder.forward(&ops, x.clone());
        let out = model.decoder.forward(&ops, DecoderInput::Dense(z.clone()));
        let r1 = normal(logits.dims(), 102, &device);
        let r2 = normal(out.dims(), 103, &device);
        let loss = (logits.clone() * r1).sum() + (out.clone() * r2).sum();
        let grads = loss.backward();
        (
            values(logits.inner()),
            values(out.inner()),
            param_grads(&model, &grads),
        )
    };
    let (want_logits, want_out, want) = run(Engine::Generic);
    let (logits, out, got) = run(Engine::Kernels);
    assert_eq!(logits.len(), 2 * 24 * 4 * 4, "a 4×4 grid of 24 logits");
    assert!(max_rel_diff(&logits, &want_logits) < 1e-5, "logits");
    assert!(max_rel_diff(&out, &want_out) < 1e-5, "decoder output");
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let d = max_rel_diff(a, b);
        assert!(d < 1e-4, "parameter {i}: gradient relative difference {d}");
    }
}
