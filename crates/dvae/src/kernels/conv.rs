//! 2-D convolution, channels last, as tiled im2col + GEMM.
//!
//! Each work item is a run of output pixels of one image: its receptive fields are gathered
//! into a `[pixels, kh·kw·cin]` matrix (skipped for a plain 1×1 convolution, whose input rows
//! already are that matrix), the output tile is pre-filled with the bias and any residual,
//! one GEMM accumulates into it, and a ReLU follows while the tile is in the cache.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use rayon::prelude::*;

use super::gemm::{
    COLS, ConvOpts, LOGITS, TILE_PIXELS, copy, fill_bias, for_each_tile, gemm_acc,
    inner_parallelism, put_scratch, relu, take_scratch,
};
use super::host::float_values;
use super::maps::{Act, AsMaps, Maps};
use super::math::argmax;
use super::winograd::Winograd;

/// Input channels from which a 3×3 stride-1 convolution goes through Winograd's algorithm
/// (below, its transforms cost more than the multiplications they save).
pub const WINOGRAD_MIN_CHANNELS: usize = 16;

/// A convolution with dilation 1 and one group.
#[derive(Clone, Debug)]
pub struct Conv {
    pub cin: usize,
    pub cout: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Top, left, bottom, right.
    pub pad: [usize; 4],
    /// `[kh·kw·cin, cout]`: row `(ky·kw + kx)·cin + ci`.
    pub(super) weight: Vec<f32>,
    pub(super) bias: Vec<f32>,
    /// The same convolution by Winograd's F(4×4, 3×3), for 3×3 stride-1 kernels.
    pub(super) winograd: Option<Winograd>,
    /// For a 4×4 stride-2 kernel: the same convolution as a 3×3 stride-1 one (by Winograd)
    /// over the space-to-depth rearranged input; see [`Conv::s2d_equivalent`].
    pub(super) s2d: Option<Box<Conv>>,
    /// Whether the forward pass and the weight gradient may use Winograd's algorithm.
    pub(super) winograd_allowed: bool,
}

impl Conv {
    /// From PyTorch-layout weights `[cout, cin, kh, kw]`, scaled by `gain` (bias too).
    pub fn new(
        [cin, cout]: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
        weight_oihw: &[f32],
        bias: Option<&[f32]>,
        gain: f32,
    ) -> Self {
        let [kh, kw] = kernel;
        assert_eq!(weight_oihw.len(), cout * cin * kh * kw, "conv weight size");
        // Row (tap·cin + ci) gathers its cout values, rows on all threads (training repacks
        // the weights at every step).
        let mut weight = vec![0.0; weight_oihw.len()];
        weight
            .par_chunks_mut(cout)
            .enumerate()
            .for_each(|(row, dst)| {
                let (tap, ci) = (row / cin, row % cin);
                for (co, d) in dst.iter_mut().enumerate() {
                    *d = weight_oihw[(co * cin + ci) * kh * kw + tap] * gain;
                }
            });
        let bias = bias.map_or(vec![0.0; cout], |b| b.iter().map(|v| v * gain).collect());
        let square = kernel[0] == kernel[1] && (kernel[0] == 2 || kernel[0] == 3);
        let winograd = (square && stride == [1, 1] && cin >= WINOGRAD_MIN_CHANNELS)
            .then(|| Winograd::new(kernel[0], cin, cout, [pad[0], pad[1]], &weight));
        let s2d = (kernel == [4, 4] && stride == [2, 2] && 4 * cin >= WINOGRAD_MIN_CHANNELS)
            .then(|| Box::new(Self::s2d_equivalent([cin, cout], weight_oihw, &bias, gain)));
        Self {
            cin,
            cout,
            kernel,
            stride,
            pad,
            weight,
            bias,
            winograd,
            s2d,
            winograd_allowed: true,
        }
    }

    /// A 4×4 stride-2 convolution is a 2×2 stride-1 one over the input rearranged into
    /// 2×2 blocks of `4·cin` channels: with `S[u][v][(py·2 + px)·cin + c] = x[2u + py − top]
    /// [2v + px − left][c]`, `out[y][x] = Σ_{a,b<2} S[y + a][x + b] · w[·][·][2a + py][2b + px]`.
    /// The 2×2 kernel runs through Winograd's F(4×4, 2×2): 25 multiplications per 16
    /// outputs instead of 64.
    pub(super) fn s2d_equivalent(
        [cin, cout]: [usize; 2],
        weight_oihw: &[f32],
        bias: &[f32],
        gain: f32,
    ) -> Self {
        let c4 = 4 * cin;
        let mut w2 = vec![0.0; cout * c4 * 4];
        for co in 0..cout {
            for q in 0..4 {
                let (py, px) = (q / 2, q % 2);
                for ci in 0..cin {
                    for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let src = ((co * cin + ci) * 4 + 2 * a + py) * 4 + 2 * b + px;
                        let dst = ((co * c4 + q * cin + ci) * 2 + a) * 2 + b;
                        w2[dst] = weight_oihw[src] * gain;
                    }
                }
            }
        }
        Self::new([c4, cout], [2, 2], [1, 1], [0; 4], &w2, Some(bias), 1.0)
    }

    /// The input rearranged for [`Conv::s2d_equivalent`]: `[N, Ho + 1, Wo + 1, 4·cin]`.
    pub(super) fn space_to_depth(&self, x: &Maps, [ho, wo]: [usize; 2], relu: bool) -> Act {
        let (cin, [top, left, _, _]) = (self.cin, self.pad);
        let mut s = Act::scratch(x.n, ho + 1, wo + 1, 4 * cin);
        let per_image = (ho + 1) * (wo + 1) * 4 * cin;
        s.data
            .par_chunks_mut(per_image)
            .enumerate()
            .for_each(|(img, dst)| {
                let src = x.image(img);
                for (p, cell) in dst.chunks_exact_mut(4 * cin).enumerate() {
                    let (u, v) = (p / (wo + 1), p % (wo + 1));
                    for (q, d) in cell.chunks_exact_mut(cin).enumerate() {
                        let iy = (2 * u + q / 2) as isize - top as isize;
                        let ix = (2 * v + q % 2) as isize - left as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < x.h && (ix as usize) < x.w {
                            let i = (iy as usize * x.w + ix as usize) * cin;
                            copy(d, &src[i..i + cin], relu);
                        } else {
                            d.fill(0.0);
                        }
                    }
                }
            });
        s
    }

    /// The shape of a convolution without weights, for [`Conv::weight_grad`].
    pub fn geometry(
        [cin, cout]: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
    ) -> Self {
        Self {
            cin,
            cout,
            kernel,
            stride,
            pad,
            weight: Vec::new(),
            bias: Vec::new(),
            winograd: None,
            s2d: None,
            winograd_allowed: true,
        }
    }

    /// The same convolution computed directly (im2col + GEMM), never by Winograd.
    pub fn direct(mut self) -> Self {
        self.winograd = None;
        self.s2d = None;
        self.winograd_allowed = false;
        self
    }

    /// Whether [`forward`](Self::forward) uses Winograd's algorithm.
    pub fn is_winograd(&self) -> bool {
        self.winograd.is_some() || self.s2d.is_some()
    }

    /// From a Burn convolution; `None` for what this path does not cover (groups,
    /// dilation, `Same` padding).
    pub fn from_burn(c: &Conv2d, gain: f32) -> Option<Self> {
        if c.groups != 1 || c.dilation != [1, 1] {
            return None;
        }
        let pad = match c.padding {
            PaddingConfig2d::Valid => [0; 4],
            PaddingConfig2d::Explicit(t, l, b, r) => [t, l, b, r],
            PaddingConfig2d::Same => return None,
        };
        let [cout, cin, kh, kw] = c.weight.val().dims();
        let w = float_values(c.weight.val());
        let b = c.bias.as_ref().map(|b| float_values(b.val()));
        Some(Self::new(
            [cin, cout],
            [kh, kw],
            c.stride,
            pad,
            &w,
            b.as_deref(),
            gain,
        ))
    }

    /// Output height and width for an `h`×`w` input.
    pub fn out_size(&self, h: usize, w: usize) -> [usize; 2] {
        let [kh, kw] = self.kernel;
        let [t, l, b, r] = self.pad;
        [
            (h + t + b - kh) / self.stride[0] + 1,
            (w + l + r - kw) / self.stride[1] + 1,
        ]
    }

    pub(super) fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad == [0; 4]
    }

    /// # Shapes
    /// `[N, H, W, cin]` → `[N, Ho, Wo, cout]`
    pub fn forward(&self, x: &(impl AsMaps + ?Sized), o: ConvOpts) -> Act {
        let x = &x.maps();
        assert_eq!(x.c, self.cin, "conv input channels");
        let up = if o.upsample { 2 } else { 1 };
        if up == 2 && self.is_pointwise() {
            // A pointwise map commutes with nearest upsampling: 4× less work.
            assert!(
                o.residual.is_none(),
                "no residual for an upsampled 1×1 convolution"
            );
            let low = ConvOpts {
                upsample: false,
                ..o
            };
            return self.forward(x, low).upsample2();
        }
        let [ho, wo] = self.out_size(up * x.h, up * x.w);
        let mut out = Act::scratch(x.n, ho, wo, self.cout);
        if let Some(r) = o.residual {
            assert_eq!((r.n, r.h, r.w, r.c), (x.n, ho, wo, self.cout), "residual");
        }
        if let Some(w) = &self.winograd {
            w.forward(x, up, &self.bias, o, &mut out);
            return out;
        }
        if let (Some(inner), 1) = (&self.s2d, up) {
            drop(out);
            let s = self.space_to_depth(x, [ho, wo], o.input_relu);
            let rest = ConvOpts {
                input_relu: false,
                ..o
            };
            return inner.forward(&s, rest);
        }
        let per_image = ho * wo * self.cout;
        let tiles = x.n * (ho * wo).div_ceil(TILE_PIXELS);
        let inner = inner_parallelism(tiles);
        for_each_tile(
            &mut out.data,
            per_image,
            TILE_PIXELS * self.cout,
            |img, t, dst| {
                let p0 = t * TILE_PIXELS;
                let rows = dst.len() / self.cout;
                match o.residual {
                    Some(r) => {
                        let src = &r.image(img)[p0 * self.cout..(p0 + rows) * self.cout];
                        for (d, (s, b)) in
                            dst.iter_mut().zip(src.iter().zip(self.bias.iter().cycle()))
                        {
                            *d = s + b;
                        }
                    }
                    None => fill_bias(dst, &self.bias),
                }
                self.accumulate(x, up, img, [ho, wo], p0, dst, o.input_relu, inner);
                if o.output_relu {
                    relu(dst);
                }
            },
        );
        out
    }

    /// The argmax over output channels of each output pixel (the output itself is never
    /// stored whole).
    ///
    /// # Shapes
    /// `[N, H, W, cin]` → `N·Ho·Wo` ids
    pub fn forward_argmax(&self, x: &(impl AsMaps + ?Sized), input_relu: bool) -> Vec<u32> {
        let x = &x.maps();
        let [ho, wo] = self.out_size(x.h, x.w);
        let mut ids = vec![0u32; x.n * ho * wo];
        let tiles = x.n * (ho * wo).div_ceil(TILE_PIXELS);
        let inner = inner_parallelism(tiles);
        for_each_tile(&mut ids, ho * wo, TILE_PIXELS, |img, t, dst| {
            let p0 = t * TILE_PIXELS;
            let mut logits = take_scratch(&LOGITS, dst.len() * self.cout);
            fill_bias(&mut logits, &self.bias);
            self.accumulate(x, 1, img, [ho, wo], p0, &mut logits, input_relu, inner);
            for (id, row) in dst.iter_mut().zip(logits.chunks_exact(self.cout)) {
                *id = argmax(row);
            }
            put_scratch(&LOGITS, logits);
        });
        ids
    }

    /// The receptive fields of output pixels `p0 ..` (`cols.len() / (kh·kw·cin)` of them) of
    /// image `img`, one row each: `cols[r][(ky·kw + kx)·cin + ci]` (im2col), zeros where the
    /// kernel overlaps the padding.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gather(
        &self,
        x: &Maps,
        up: usize,
        img: usize,
        wo: usize,
        p0: usize,
        input_relu: bool,
        cols: &mut [f32],
    ) {
        let [kh, kw] = self.kernel;
        let k = kh * kw * self.cin;
        let src = x.image(img);
        let (cin, [sy, sx], [top, left, _, _]) = (self.cin, self.stride, self.pad);
        let (lh, lw) = ((up * x.h) as isize, up * x.w);
        for (r, col) in cols.chunks_exact_mut(k).enumerate() {
            let (oy, ox) = ((p0 + r) / wo, (p0 + r) % wo);
            let ix0 = (ox * sx) as isize - left as isize;
            for ky in 0..kh {
                let seg = &mut col[ky * kw * cin..(ky + 1) * kw * cin];
                let iy = (oy * sy + ky) as isize - top as isize;
                if iy < 0 || iy >= lh {
                    seg.fill(0.0);
                    continue;
                }
                let src_y = iy as usize / up;
                let row = &src[src_y * x.w * cin..(src_y + 1) * x.w * cin];
                if up == 1 && ix0 >= 0 && ix0 as usize + kw <= x.w {
                    let i = ix0 as usize * cin;
                    copy(seg, &row[i..i + kw * cin], input_relu);
                    continue;
                }
                for kx in 0..kw {
                    let d = &mut seg[kx * cin..(kx + 1) * cin];
                    let ix = ix0 + kx as isize;
                    if ix < 0 || ix >= lw as isize {
                        d.fill(0.0);
                    } else {
                        let i = ix as usize / up * cin;
                        copy(d, &row[i..i + cin], input_relu);
                    }
                }
            }
        }
    }

    /// `dst += im2col(x)[p0..] · weight` for the output pixels `p0 .. p0 + dst.len() / cout`
    /// of image `img`, `x` upsampled `up`× (1 or 2).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accumulate(
        &self,
        x: &Maps,
        up: usize,
        img: usize,
        [_, wo]: [usize; 2],
        p0: usize,
        dst: &mut [f32],
        input_relu: bool,
        par: gemm::Parallelism,
    ) {
        let rows = dst.len() / self.cout;
        let src = x.image(img);
        if self.is_pointwise() && !input_relu && up == 1 {
            let lhs = &src[p0 * self.cin..(p0 + rows) * self.cin];
            gemm_acc(dst, lhs, &self.weight, [rows, self.cin, self.cout], par);
            return;
        }
        let k = self.kernel[0] * self.kernel[1] * self.cin;
        let mut cols = take_scratch(&COLS, rows * k);
        self.gather(x, up, img, wo, p0, input_relu, &mut cols);
        gemm_acc(dst, &cols, &self.weight, [rows, k, self.cout], par);
        put_scratch(&COLS, cols);
    }
}
