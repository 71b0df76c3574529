//! Transposed 2-D convolution, channels last, by output phase.
//!
//! With stride s, the output pixels whose `(o + pad) mod s` is the same (one of s² phases)
//! each see the same kernel taps: `o + pad = s·q + r` takes input `q − j` with kernel index
//! `s·j + r`. So every phase is an ordinary small convolution — gather, one GEMM with that
//! phase's `[taps·cin, cout]` weights, scatter — and no zero-stuffed input or col2im is needed.

use burn::nn::conv::ConvTranspose2d;

use super::gemm::{
    ConvOpts, TILE_PIXELS, copy, fill_bias, gemm_acc, inner_parallelism, put_scratch, relu,
    take_scratch,
};
use super::host::float_values;
use super::maps::{Act, AsMaps, Maps};

/// Up to this many output columns (`cout·kh·kw`), a transposed convolution goes through
/// [`ConvTranspose::forward_scatter`].
const SCATTER_MAX_COLUMNS: usize = 64;

/// One output phase `(ry, rx)`.
#[derive(Clone, Debug)]
struct Phase {
    /// `(output row, q)` for every output row of this phase.
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
    /// Taps `j` per axis.
    taps: [usize; 2],
    /// `[taps_y·taps_x·cin, cout]`.
    weight: Vec<f32>,
}

/// A transposed convolution with dilation 1 and one group.
#[derive(Clone, Debug)]
pub struct ConvTranspose {
    pub cin: usize,
    pub cout: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub pad_out: [usize; 2],
    /// PyTorch-layout weights `[cin, cout, kh, kw]`.
    weight_iohw: Vec<f32>,
    bias: Vec<f32>,
}

impl ConvTranspose {
    /// From PyTorch-layout weights `[cin, cout, kh, kw]`.
    pub fn new(
        [cin, cout]: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        pad_out: [usize; 2],
        weight_iohw: &[f32],
        bias: Option<&[f32]>,
    ) -> Self {
        assert_eq!(
            weight_iohw.len(),
            cin * cout * kernel[0] * kernel[1],
            "convT weight size"
        );
        Self {
            cin,
            cout,
            kernel,
            stride,
            pad,
            pad_out,
            weight_iohw: weight_iohw.to_vec(),
            bias: bias.map_or(vec![0.0; cout], <[f32]>::to_vec),
        }
    }

    /// From a Burn transposed convolution; `None` for groups or dilation.
    pub fn from_burn(c: &ConvTranspose2d) -> Option<Self> {
        if c.groups != 1 || c.dilation != [1, 1] {
            return None;
        }
        let [cin, cout, kh, kw] = c.weight.val().dims();
        let w = float_values(c.weight.val());
        let b = c.bias.as_ref().map(|b| float_values(b.val()));
        Some(Self::new(
            [cin, cout],
            [kh, kw],
            c.stride,
            c.padding,
            c.padding_out,
            &w,
            b.as_deref(),
        ))
    }

    /// Output height and width for an `h`×`w` input.
    pub fn out_size(&self, h: usize, w: usize) -> [usize; 2] {
        let o = |i: usize, a: usize| {
            (i - 1) * self.stride[a] + self.kernel[a] + self.pad_out[a] - 2 * self.pad[a]
        };
        [o(h, 0), o(w, 1)]
    }

    /// Output positions `(o, q)` of phase `r` along axis `a`, and its tap count.
    fn axis(&self, a: usize, r: usize, out: usize) -> (Vec<(usize, usize)>, usize) {
        let (s, p, k) = (self.stride[a], self.pad[a], self.kernel[a]);
        let pos = (0..out)
            .filter(|o| (o + p) % s == r)
            .map(|o| (o, (o + p) / s))
            .collect();
        (pos, k.saturating_sub(r).div_ceil(s))
    }

    fn phases(&self, [ho, wo]: [usize; 2]) -> Vec<Phase> {
        let [sy, sx] = self.stride;
        let [kh, kw] = self.kernel;
        let (cin, cout) = (self.cin, self.cout);
        let mut phases = Vec::with_capacity(sy * sx);
        for ry in 0..sy {
            for rx in 0..sx {
                let (rows, ty) = self.axis(0, ry, ho);
                let (cols, tx) = self.axis(1, rx, wo);
                let mut weight = vec![0.0; ty * tx * cin * cout];
                for jy in 0..ty {
                    for jx in 0..tx {
                        let (ky, kx) = (sy * jy + ry, sx * jx + rx);
                        for ci in 0..cin {
                            for co in 0..cout {
                                let v = self.weight_iohw[((ci * cout + co) * kh + ky) * kw + kx];
                                weight[((jy * tx + jx) * cin + ci) * cout + co] = v;
                            }
                        }
                    }
                }
                phases.push(Phase {
                    rows,
                    cols,
                    taps: [ty, tx],
                    weight,
                });
            }
        }
        phases
    }

    /// # Shapes
    /// `[N, H, W, cin]` → `[N, Ho, Wo, cout]`
    pub fn forward(&self, x: &(impl AsMaps + ?Sized), o: ConvOpts) -> Act {
        let x = &x.maps();
        assert_eq!(x.c, self.cin, "transposed conv input channels");
        assert!(
            o.residual.is_none(),
            "no residual for a transposed convolution"
        );
        let [ho, wo] = self.out_size(x.h, x.w);
        if self.cout * self.kernel[0] * self.kernel[1] <= SCATTER_MAX_COLUMNS {
            return self.forward_scatter(x, o, [ho, wo]);
        }
        // Phase weights are rebuilt per call: cheap next to the convolution itself.
        let phases = self.phases([ho, wo]);
        let mut out = Act::scratch(x.n, ho, wo, self.cout);
        let inner = inner_parallelism(x.n * self.stride[0] * self.stride[1]);
        let cout = self.cout;
        use rayon::prelude::*;
        out.data
            .par_chunks_mut(ho * wo * cout)
            .enumerate()
            .for_each(|(img, dst)| {
                let src = x.image(img);
                for ph in &phases {
                    let n_px = ph.rows.len() * ph.cols.len();
                    for p0 in (0..n_px).step_by(TILE_PIXELS) {
                        let rows = TILE_PIXELS.min(n_px - p0);
                        self.phase_tile(x, src, ph, p0, rows, dst, o, inner);
                    }
                }
            });
        out
    }

    /// For few output channels (a last layer to RGB), where the phase GEMMs would have only
    /// `cout` columns: one GEMM per image to every output tap, `[h·w, cin] · [cin,
    /// kh·kw·cout]`, then each input pixel's taps are added into the output (col2im).
    fn forward_scatter(&self, x: &Maps, o: ConvOpts, [ho, wo]: [usize; 2]) -> Act {
        let (cin, cout, [kh, kw], [sy, sx], [py, px]) =
            (self.cin, self.cout, self.kernel, self.stride, self.pad);
        let taps = kh * kw * cout;
        let mut w2 = vec![0.0; cin * taps];
        for ci in 0..cin {
            for co in 0..cout {
                for k in 0..kh * kw {
                    w2[ci * taps + k * cout + co] =
                        self.weight_iohw[(ci * cout + co) * kh * kw + k];
                }
            }
        }
        let mut out = Act::scratch(x.n, ho, wo, cout);
        let inner = inner_parallelism(x.n);
        use rayon::prelude::*;
        out.data
            .par_chunks_mut(ho * wo * cout)
            .enumerate()
            .for_each(|(img, dst)| {
                let src = x.image(img);
                let pixels = x.h * x.w;
                let mut lhs = take_scratch(&COLS_T, if o.input_relu { pixels * cin } else { 0 });
                if o.input_relu {
                    copy(&mut lhs, src, true);
                }
                let a = if o.input_relu { &lhs[..] } else { src };
                let mut cols = take_scratch(&OUT_T, pixels * taps);
                cols.fill(0.0);
                gemm_acc(&mut cols, a, &w2, [pixels, cin, taps], inner);
                fill_bias(dst, &self.bias);
                for (p, c) in cols.chunks_exact(taps).enumerate() {
                    let (iy, ix) = (p / x.w, p % x.w);
                    for ky in 0..kh {
                        let Some(oy) = (iy * sy + ky).checked_sub(py).filter(|&v| v < ho) else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ox) = (ix * sx + kx).checked_sub(px).filter(|&v| v < wo)
                            else {
                                continue;
                            };
                            let d = &mut dst[(oy * wo + ox) * cout..(oy * wo + ox + 1) * cout];
                            let t = &c[(ky * kw + kx) * cout..(ky * kw + kx + 1) * cout];
                            for (d, t) in d.iter_mut().zip(t) {
                                *d += t;
                            }
                        }
                    }
                }
                if o.output_relu {
                    relu(dst);
                }
                put_scratch(&COLS_T, lhs);
                put_scratch(&OUT_T, cols);
            });
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn phase_tile(
        &self,
        x: &Maps,
        src: &[f32],
        ph: &Phase,
        p0: usize,
        rows: usize,
        dst: &mut [f32],
        o: ConvOpts,
        par: gemm::Parallelism,
    ) {
        let (cin, cout) = (self.cin, self.cout);
        let [ty, tx] = ph.taps;
        let k = ty * tx * cin;
        let mut cols = take_scratch(&COLS_T, rows * k);
        let n_cols = ph.cols.len();
        for (r, col) in cols.chunks_exact_mut(k).enumerate() {
            let (_, qy) = ph.rows[(p0 + r) / n_cols];
            let (_, qx) = ph.cols[(p0 + r) % n_cols];
            for jy in 0..ty {
                for jx in 0..tx {
                    let d = &mut col[(jy * tx + jx) * cin..(jy * tx + jx + 1) * cin];
                    match (qy.checked_sub(jy), qx.checked_sub(jx)) {
                        (Some(iy), Some(ix)) if iy < x.h && ix < x.w => {
                            let i = (iy * x.w + ix) * cin;
                            copy(d, &src[i..i + cin], o.input_relu);
                        }
                        _ => d.fill(0.0),
                    }
                }
            }
        }
        let mut tile = take_scratch(&OUT_T, rows * cout);
        fill_bias(&mut tile, &self.bias);
        gemm_acc(&mut tile, &cols, &ph.weight, [rows, k, cout], par);
        if o.output_relu {
            relu(&mut tile);
        }
        let wo = self.out_size(x.h, x.w)[1];
        for (r, v) in tile.chunks_exact(cout).enumerate() {
            let (oy, _) = ph.rows[(p0 + r) / n_cols];
            let (ox, _) = ph.cols[(p0 + r) % n_cols];
            dst[(oy * wo + ox) * cout..(oy * wo + ox + 1) * cout].copy_from_slice(v);
        }
        put_scratch(&COLS_T, cols);
        put_scratch(&OUT_T, tile);
    }
}

thread_local! {
    static COLS_T: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    static OUT_T: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}
