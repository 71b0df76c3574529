//! The weight gradient of a [`Conv`]: `Σ im2col(x)ᵀ · dy` by GEMMs over runs of pixels, or
//! by Winograd's algorithm for the kernels whose forward pass takes it.

use rayon::prelude::*;

use super::conv::{Conv, WINOGRAD_MIN_CHANNELS};
use super::gemm::{ALL, COLS, TILE_PIXELS, gemm_at_b, put_scratch, take_scratch};
use super::maps::{AsMaps, Maps};

/// Output pixels per GEMM of the weight gradient (the GEMM's inner dimension).
const GRAD_PIXELS: usize = 4096;

impl Conv {
    /// The gradient of the weights, `[cout, cin, kh, kw]`, for input `x` and output gradient
    /// `dy` (`[N, Ho, Wo, cout]`): `Σ_pixels im2col(x)ᵀ · dy`, one GEMM per run of pixels.
    ///
    /// 3×3 stride-1 kernels (from [`WINOGRAD_MIN_CHANNELS`] input channels) take it by
    /// Winograd's algorithm ([`super::winograd::weight_grad`]), 4×4 stride-2 ones by it
    /// over the space-to-depth input (as their forward pass), unless [`direct`](Self::direct).
    pub fn weight_grad(&self, x: &(impl AsMaps + ?Sized), dy: &(impl AsMaps + ?Sized)) -> Vec<f32> {
        self.weight_grad_of(x, dy, false)
    }

    /// [`weight_grad`](Self::weight_grad) of the convolution of `relu(x)` when
    /// `input_relu` (the ReLU taken while reading `x`, as the forward pass's
    /// [`ConvOpts::input_relu`](super::gemm::ConvOpts::input_relu)).
    pub fn weight_grad_of(
        &self,
        x: &(impl AsMaps + ?Sized),
        dy: &(impl AsMaps + ?Sized),
        input_relu: bool,
    ) -> Vec<f32> {
        let (x, dy) = (&x.maps(), &dy.maps());
        let [kh, kw] = self.kernel;
        let (cin, cout) = (self.cin, self.cout);
        let [ho, wo] = self.out_size(x.h, x.w);
        assert_eq!(
            (dy.n, dy.h, dy.w, dy.c),
            (x.n, ho, wo, cout),
            "weight_grad: dy shape"
        );
        let k = kh * kw * cin;
        let winograd =
            self.winograd_allowed && self.stride == [1, 1] && cin >= WINOGRAD_MIN_CHANNELS;
        if winograd && self.kernel == [3, 3] {
            let pad = [self.pad[0], self.pad[1]];
            let dw = super::winograd::weight_grad(x, dy, pad, input_relu);
            return transpose_to_oihw(&dw, [cout, cin, 9]);
        }
        if self.winograd_allowed
            && self.kernel == [4, 4]
            && self.stride == [2, 2]
            && 4 * cin >= WINOGRAD_MIN_CHANNELS
        {
            return self.s2d_weight_grad(x, dy, [ho, wo], input_relu);
        }
        let mut dw = vec![0.0; k * cout];
        if self.is_pointwise() && !input_relu {
            // im2col of a 1×1 convolution is the input as it lies.
            gemm_at_b(&mut dw, x.data, dy.data, [k, x.n * ho * wo, cout], ALL);
            return transpose_to_oihw(&dw, [cout, cin, 1]);
        }
        // Whole images per GEMM, as many as GRAD_PIXELS allows (at least one): a long inner
        // dimension, and dy's rows for them are contiguous.
        let per_gemm = (GRAD_PIXELS / (ho * wo)).max(1);
        let mut cols = take_scratch(&COLS, per_gemm.min(x.n) * ho * wo * k);
        for img0 in (0..x.n).step_by(per_gemm) {
            let imgs = per_gemm.min(x.n - img0);
            let rows = imgs * ho * wo;
            let cols = &mut cols[..rows * k];
            cols.par_chunks_mut(ho * wo * k)
                .enumerate()
                .for_each(|(i, c)| {
                    c.par_chunks_mut(TILE_PIXELS * k)
                        .enumerate()
                        .for_each(|(t, c)| {
                            self.gather(x, 1, img0 + i, wo, t * TILE_PIXELS, input_relu, c)
                        })
                });
            let g = &dy.data[img0 * ho * wo * cout..(img0 + imgs) * ho * wo * cout];
            gemm_at_b(&mut dw, cols, g, [k, rows, cout], ALL);
        }
        put_scratch(&COLS, cols);
        transpose_to_oihw(&dw, [cout, cin, kh * kw])
    }

    /// [`weight_grad`](Self::weight_grad) of a 4×4 stride-2 kernel: the 3×3 gradient of
    /// [`Conv::s2d_equivalent`] over the space-to-depth input, its 2×2 taps put back.
    fn s2d_weight_grad(&self, x: &Maps, dy: &Maps, [ho, wo]: [usize; 2], relu: bool) -> Vec<f32> {
        let (cin, cout, c4) = (self.cin, self.cout, 4 * self.cin);
        let s = self.space_to_depth(x, [ho, wo], relu);
        // Rows (a·3 + b)·4cin + q·cin + ci, for tap (2a + py, 2b + px), q = 2py + px.
        let dw3 = super::winograd::weight_grad(&s, dy, [0, 0], false);
        let mut oihw = vec![0.0; cout * cin * 16];
        for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            for q in 0..4 {
                let (ky, kx) = (2 * a + q / 2, 2 * b + q % 2);
                for ci in 0..cin {
                    let row = &dw3[((a * 3 + b) * c4 + q * cin + ci) * cout..][..cout];
                    for (co, &v) in row.iter().enumerate() {
                        oihw[((co * cin + ci) * 4 + ky) * 4 + kx] = v;
                    }
                }
            }
        }
        oihw
    }
}

/// `[taps·cin, cout]` (row `tap·cin + ci`) → PyTorch's `[cout, cin, taps]`.
fn transpose_to_oihw(dw: &[f32], [cout, cin, taps]: [usize; 3]) -> Vec<f32> {
    let mut oihw = vec![0.0; dw.len()];
    for (row, vals) in dw.chunks_exact(cout).enumerate() {
        let (tap, ci) = (row / cin, row % cin);
        for (co, &v) in vals.iter().enumerate() {
            oihw[(co * cin + ci) * taps + tap] = v;
        }
    }
    oihw
}
