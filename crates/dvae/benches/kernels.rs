//! Criterion benches of the hot kernels at the `bench` workload's shapes (batch 8 to keep
//! them quick): convolutions forward and backward, Gumbel-softmax, nearest-code search, and
//! the channels-last inference path's layers.
//!
//!     cargo bench -p dvae --bench kernels [-- FILTER]

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use dvae::kernels::engine::Engine;
use dvae::kernels::ops::conv1x1::conv1x1;
use dvae::kernels::ops::layout::Layout;
use dvae::model::family::codebook as vq;
use dvae::model::gumbel;

const BATCH: usize = 8;

/// (name, in channels, out channels, kernel, stride, padding, input side): the convolutions
/// of torch_bench.py's model at 64×64 input, hidden 128, K = 512.
const CONVS: [(&str, usize, usize, usize, usize, usize, usize); 6] = [
    ("enc_in1 3-64 k4s2 64px", 3, 64, 4, 2, 1, 64),
    ("enc_in2 64-128 k4s2 32px", 64, 128, 4, 2, 1, 32),
    ("res 128-128 k3 16px", 128, 128, 3, 1, 1, 16),
    ("res 128-128 k1 16px", 128, 128, 1, 1, 0, 16),
    ("enc_out 128-512 k1 16px", 128, 512, 1, 1, 0, 16),
    ("codebook 512-128 k1 16px", 512, 128, 1, 1, 0, 16),
];

/// (name, in channels, out channels, input side) of the decoder's k4 s2 transposed convs.
const CONV_TS: [(&str, usize, usize, usize); 2] = [
    ("dec_up1 128-64 16px", 128, 64, 16),
    ("dec_up2 64-3 32px", 64, 3, 32),
];

fn rand<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn convolutions(c: &mut Criterion) {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let mut g = c.benchmark_group("conv2d");
    g.sample_size(10);
    for (name, ci, co, k, s, p, side) in CONVS {
        let opts = || ConvOptions::new([s, s], [p, p], [1, 1], 1);
        let x = rand([BATCH, ci, side, side], &device);
        let w = rand([co, ci, k, k], &device);
        let b = rand([co], &device);
        g.bench_function(format!("forward {name}"), |bench| {
            bench.iter(|| conv2d(x.clone(), w.clone(), Some(b.clone()), opts()).into_data())
        });
        let xa = rand([BATCH, ci, side, side], &ad).require_grad();
        let wa = rand([co, ci, k, k], &ad).require_grad();
        let ba = rand([co], &ad).require_grad();
        g.bench_function(format!("forward+backward {name}"), |bench| {
            bench.iter(|| {
                let y = conv2d(xa.clone(), wa.clone(), Some(ba.clone()), opts());
                let grads = y.sum().backward();
                (
                    xa.grad(&grads).map(|t| t.into_data()),
                    wa.grad(&grads).map(|t| t.into_data()),
                )
            })
        });
        if k == 3 && s == 1 {
            let conv = burn::nn::conv::Conv2dConfig::new([ci, co], [3, 3])
                .with_padding(burn::nn::PaddingConfig2d::Explicit(p, p, p, p))
                .init(&ad);
            g.bench_function(format!("cpu_conv forward+backward {name}"), |bench| {
                bench.iter(|| {
                    let y = dvae::kernels::ops::conv::conv2d(
                        Engine::Kernels,
                        Layout::Nchw,
                        &conv,
                        xa.clone(),
                        false,
                    );
                    let grads = y.sum().backward();
                    let gx = xa.grad(&grads).map(|t| t.into_data());
                    (gx, conv.weight.grad(&grads).map(|t| t.into_data()))
                })
            });
        }
        if k == 1 {
            g.bench_function(format!("conv1x1 forward+backward {name}"), |bench| {
                bench.iter(|| {
                    let y = conv1x1(xa.clone(), wa.clone(), Some(ba.clone()));
                    let grads = y.sum().backward();
                    let gx = xa.grad(&grads).map(|t| t.into_data());
                    (gx, wa.grad(&grads).map(|t| t.into_data()))
                })
            });
        }
    }
    for (name, ci, co, side) in CONV_TS {
        let opts = || ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        let x = rand([BATCH, ci, side, side], &device);
        let w = rand([ci, co, 4, 4], &device);
        g.bench_function(format!("transposed forward {name}"), |bench| {
            bench.iter(|| conv_transpose2d(x.clone(), w.clone(), None, opts()).into_data())
        });
    }
    g.finish();
}

fn quantizers(c: &mut Criterion) {
    let device = Device::flex();
    let mut g = c.benchmark_group("quantizer");
    g.sample_size(10);
    let logits = rand([BATCH, 512, 16, 16], &device);
    let noise = gumbel::gumbel_from_uniform(Tensor::random(
        logits.shape(),
        Distribution::Uniform(1e-6, 1.0 - 1e-6),
        &device,
    ));
    g.bench_function("gumbel_softmax K512 16px", |bench| {
        bench.iter(|| {
            gumbel::gumbel_softmax(Engine::Kernels, logits.clone(), noise.clone(), 1.0, false)
                .into_data()
        })
    });
    g.bench_function("argmax_tokens K512 16px", |bench| {
        bench.iter(|| gumbel::argmax_tokens(logits.clone()).into_data())
    });
    let z = rand([BATCH * 16 * 16, 64], &device);
    let codes = rand([512, 64], &device);
    g.bench_function("nearest code K512 d64", |bench| {
        bench.iter(|| vq::nearest(z.clone(), codes.clone()).into_data())
    });
    g.finish();
}

/// The same layers on the channels-last inference path (`dvae::infer`): Winograd for the
/// 3×3 convolutions, the direct im2col path beside it, the fused argmax, both kinds of
/// transposed convolution.
fn channels_last(c: &mut Criterion) {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use dvae::kernels::conv::Conv;
    use dvae::kernels::conv_transpose::ConvTranspose;
    use dvae::kernels::gemm::ConvOpts;
    use dvae::kernels::maps::Act;
    let device = Device::flex();
    let mut g = c.benchmark_group("infer");
    g.sample_size(10);
    let o = ConvOpts::default();
    for (name, ci, co, k, s, p, side) in CONVS {
        let conv = Conv2dConfig::new([ci, co], [k, k])
            .with_stride([s, s])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .init(&device);
        let conv = Conv::from_burn(&conv, 1.0).expect("a plain convolution");
        let x = Act::from_nchw(rand([BATCH, ci, side, side], &device));
        if conv.is_winograd() {
            let w: Vec<f32> = rand([co, ci, k, k], &device)
                .into_data()
                .try_to_vec()
                .unwrap();
            let pad = [p; 4];
            g.bench_function(format!("prepare weights {name}"), |b| {
                b.iter(|| Conv::new([ci, co], [k, k], [s, s], pad, &w, None, 1.0))
            });
            let [ho, wo] = conv.out_size(side, side);
            let dy = Act::from_nchw(rand([BATCH, co, ho, wo], &device));
            let geometry = Conv::geometry([ci, co], [k, k], [s, s], pad);
            g.bench_function(format!("weight gradient {name}"), |b| {
                b.iter(|| geometry.weight_grad(&x, &dy))
            });
            let im2col = geometry.clone().direct();
            g.bench_function(format!("weight gradient direct {name}"), |b| {
                b.iter(|| im2col.weight_grad(&x, &dy))
            });
            let direct = conv.clone().direct();
            g.bench_function(format!("direct {name}"), |b| {
                b.iter(|| direct.forward(&x, o))
            });
        }
        g.bench_function(format!("forward {name}"), |b| {
            b.iter(|| conv.forward(&x, o))
        });
        if co == 512 {
            g.bench_function(format!("argmax {name}"), |b| {
                b.iter(|| conv.forward_argmax(&x, false))
            });
        }
    }
    for (name, ci, co, side) in CONV_TS {
        let conv = ConvTranspose2dConfig::new([ci, co], [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(&device);
        let conv = ConvTranspose::from_burn(&conv).expect("a plain transposed convolution");
        let x = Act::from_nchw(rand([BATCH, ci, side, side], &device));
        g.bench_function(format!("transposed {name}"), |b| {
            b.iter(|| conv.forward(&x, o))
        });
    }
    g.finish();
}

criterion_group!(benches, convolutions, quantizers, channels_last);
criterion_main!(benches);
