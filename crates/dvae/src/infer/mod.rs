//! A CPU inference path in channels-last (NHWC) layout: convolutions as tiled im2col +
//! GEMM on the `gemm` crate, with the bias, ReLU and residual additions fused into each
//! tile, and the encoder's last layer fused with the argmax so the logits never exist as
//! a whole tensor.
//!
//! Encoding and decoding on the CPU go through here ([`DalleNet`] for the DALL·E models,
//! [`BenchNet`] for `dvae bench`'s reference model); training runs the same kernels as Burn
//! operations (`model::cpu_conv`, `model::cpu_softmax`); the other backends keep Burn's
//! generic operations. Every layer is pinned to Burn's by tests (1e-4).

pub mod bench_net;
pub mod conv;
pub mod conv_transpose;
pub mod dalle;
pub mod math;
mod pool;
pub mod softmax;
pub mod winograd;

use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

pub use bench_net::BenchNet;
pub use conv::{Conv, ConvOpts};
pub use conv_transpose::ConvTranspose;
pub use dalle::DalleNet;

/// A batch of feature maps, channels last: `data[((n·h + y)·w + x)·c + ch]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Act {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

/// A borrowed batch of feature maps in [`Act`]'s layout (channels last): what the kernels
/// read, so that maps held elsewhere (a tensor's buffer) need no copy.
#[derive(Clone, Copy, Debug)]
pub struct Maps<'a> {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: &'a [f32],
}

impl<'a> Maps<'a> {
    /// NHWC values of the given shape.
    pub fn new(data: &'a [f32], [n, h, w, c]: [usize; 4]) -> Self {
        assert_eq!(data.len(), n * h * w * c, "NHWC values");
        Self { n, h, w, c, data }
    }

    /// Values of one image.
    pub fn image(&self, i: usize) -> &'a [f32] {
        let len = self.h * self.w * self.c;
        &self.data[i * len..(i + 1) * len]
    }

    /// The values in NCHW order.
    pub fn to_nchw_vec(&self) -> Vec<f32> {
        let (h, w, c) = (self.h, self.w, self.c);
        let mut data = vec![0.0; self.data.len()];
        data.par_chunks_mut(c * h * w)
            .zip(self.data.par_chunks(h * w * c))
            .for_each(|(dst, src)| transpose(src, dst, h * w, c));
        data
    }
}

/// Maps the kernels can read: an [`Act`] or a borrowed [`Maps`].
pub trait AsMaps {
    fn maps(&self) -> Maps<'_>;
}

impl AsMaps for Act {
    fn maps(&self) -> Maps<'_> {
        Maps {
            n: self.n,
            h: self.h,
            w: self.w,
            c: self.c,
            data: &self.data,
        }
    }
}

impl AsMaps for Maps<'_> {
    fn maps(&self) -> Maps<'_> {
        *self
    }
}

impl Drop for Act {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.data));
    }
}

impl Act {
    /// A map of the given shape whose values are unspecified (a recycled buffer's, or
    /// zeros): for outputs that are written whole.
    pub fn scratch(n: usize, h: usize, w: usize, c: usize) -> Self {
        Self {
            n,
            h,
            w,
            c,
            data: pool::take(n * h * w * c),
        }
    }

    /// Values of one image.
    pub fn image(&self, i: usize) -> &[f32] {
        let len = self.h * self.w * self.c;
        &self.data[i * len..(i + 1) * len]
    }

    /// From a Burn tensor in NCHW layout.
    ///
    /// # Shapes
    /// `[N, C, H, W]` → NHWC
    pub fn from_nchw(t: Tensor<4>) -> Self {
        let dims = t.dims();
        Self::from_nchw_slice(&crate::pipeline::float_values(t), dims)
    }

    /// From NCHW values.
    pub fn from_nchw_slice(v: &[f32], [n, c, h, w]: [usize; 4]) -> Self {
        assert_eq!(v.len(), n * c * h * w, "NCHW values");
        let mut data = pool::take(v.len());
        data.par_chunks_mut(h * w * c)
            .zip(v.par_chunks(c * h * w))
            .for_each(|(dst, src)| transpose(src, dst, c, h * w));
        Self { n, h, w, c, data }
    }

    /// The values in NHWC order, moved out (no copy).
    pub fn into_nhwc_vec(mut self) -> Vec<f32> {
        std::mem::take(&mut self.data)
    }

    /// Back to a Burn tensor in NCHW layout on `device`.
    ///
    /// # Shapes
    /// NHWC → `[N, C, H, W]`
    pub fn to_nchw(&self, device: &Device) -> Tensor<4> {
        let shape = [self.n, self.c, self.h, self.w];
        Tensor::from_data(TensorData::new(self.to_nchw_vec(), shape), device)
    }

    /// The values in NCHW order.
    pub fn to_nchw_vec(&self) -> Vec<f32> {
        self.maps().to_nchw_vec()
    }

    /// 2×2 max pooling with stride 2 (odd edges dropped, as Burn and PyTorch do).
    pub fn max_pool2(&self) -> Self {
        let (h2, w2, c) = (self.h / 2, self.w / 2, self.c);
        let mut out = Self::scratch(self.n, h2, w2, c);
        out.data
            .par_chunks_mut(h2 * w2 * c)
            .enumerate()
            .for_each(|(i, dst)| {
                let src = self.image(i);
                let at = |y: usize, x: usize| &src[(y * self.w + x) * c..(y * self.w + x + 1) * c];
                for y in 0..h2 {
                    for x in 0..w2 {
                        let d = &mut dst[(y * w2 + x) * c..(y * w2 + x + 1) * c];
                        let (a, b) = (at(2 * y, 2 * x), at(2 * y, 2 * x + 1));
                        let (e, f) = (at(2 * y + 1, 2 * x), at(2 * y + 1, 2 * x + 1));
                        for k in 0..c {
                            d[k] = a[k].max(b[k]).max(e[k].max(f[k]));
                        }
                    }
                }
            });
        out
    }

    /// Nearest-neighbour ×2 upsampling.
    pub fn upsample2(&self) -> Self {
        let (w, c) = (self.w, self.c);
        let mut out = Self::scratch(self.n, 2 * self.h, 2 * w, c);
        out.data
            .par_chunks_mut(4 * self.h * w * c)
            .enumerate()
            .for_each(|(i, dst)| {
                let src = self.image(i);
                for (y, row) in src.chunks_exact(w * c).enumerate() {
                    let out_row = &mut dst[2 * y * 2 * w * c..(2 * y + 1) * 2 * w * c];
                    for (x, px) in row.chunks_exact(c).enumerate() {
                        out_row[2 * x * c..(2 * x + 1) * c].copy_from_slice(px);
                        out_row[(2 * x + 1) * c..(2 * x + 2) * c].copy_from_slice(px);
                    }
                    dst.copy_within(
                        2 * y * 2 * w * c..(2 * y + 1) * 2 * w * c,
                        (2 * y + 1) * 2 * w * c,
                    );
                }
            });
        out
    }

    /// Rows of `table` (`[rows, c]`) picked by `ids`, as an `[n, h, w, c]` batch.
    pub fn lookup(ids: &[u32], [n, h, w]: [usize; 3], table: &[f32], c: usize) -> Self {
        let mut out = Self::scratch(n, h, w, c);
        out.data
            .par_chunks_mut(c)
            .zip(ids.par_iter())
            .for_each(|(dst, &id)| {
                let id = id as usize;
                dst.copy_from_slice(&table[id * c..(id + 1) * c]);
            });
        out
    }
}

/// `dst[j][i] = src[i][j]` for a row-major `rows × cols` matrix `src`, by 8×8 blocks held
/// in registers, so that both sides move whole cache lines.
fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    const B: usize = 8;
    let (rb, cb) = (rows / B * B, cols / B * B);
    for i0 in (0..rb).step_by(B) {
        for j0 in (0..cb).step_by(B) {
            let mut t = [[0f32; B]; B];
            for (a, r) in t.iter_mut().enumerate() {
                r.copy_from_slice(&src[(i0 + a) * cols + j0..][..B]);
            }
            for b in 0..B {
                let d = &mut dst[(j0 + b) * rows + i0..][..B];
                for (a, v) in d.iter_mut().enumerate() {
                    *v = t[a][b];
                }
            }
        }
    }
    for i in 0..rows {
        let from = if i < rb { cb } else { 0 };
        for j in from..cols {
            dst[j * rows + i] = src[i * cols + j];
        }
    }
}

/// The rows a 1×1 convolution `K → c` gives for one-hot inputs: `[K, c]`, row k being
/// the weight's column k plus the bias (the codebook lookup that replaces the convolution
/// over one-hot tokens). `None` for a larger kernel.
pub fn one_hot_rows(conv: &burn::nn::conv::Conv2d) -> Option<(Vec<f32>, usize)> {
    let [c, k, kh, kw] = conv.weight.val().dims();
    if [kh, kw] != [1, 1] {
        return None;
    }
    let w = crate::pipeline::float_values(conv.weight.val());
    let b = conv
        .bias
        .as_ref()
        .map_or(vec![0.0; c], |b| crate::pipeline::float_values(b.val()));
    let rows = (0..k)
        .flat_map(|code| (0..c).map(move |ch| (code, ch)))
        .map(|(code, ch)| w[ch * k + code] + b[ch])
        .collect();
    Some((rows, c))
}

/// Token ids as a Burn tensor.
///
/// # Shapes
/// `n·h·w` ids → `[n, h, w]`
pub fn tokens_tensor(ids: Vec<u32>, [n, h, w]: [usize; 3], device: &Device) -> Tensor<3, Int> {
    let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
    Tensor::from_data(TensorData::new(ids, [n, h, w]), device)
}

/// Whether the channels-last CPU kernels run for tensors on `device`: the flex device,
/// plain or autodiff, unless the environment sets `DVAE_GENERIC=1` (Burn's generic
/// operations everywhere, for comparison).
pub fn runs_on(device: &Device) -> bool {
    let generic = std::env::var("DVAE_GENERIC").is_ok_and(|v| v == "1");
    !generic && device.clone().inner() == Device::flex()
}

/// `grad` where `x > 0`, zero elsewhere: the gradient through `relu(x)` (values of the
/// same length), on all threads.
pub fn relu_mask(grad: &mut [f32], x: &[f32]) {
    assert_eq!(grad.len(), x.len(), "relu_mask: lengths");
    grad.par_chunks_mut(1 << 14)
        .zip(x.par_chunks(1 << 14))
        .for_each(|(g, x)| {
            for (g, &x) in g.iter_mut().zip(x) {
                *g = if x > 0.0 { *g } else { 0.0 };
            }
        });
}

/// Index of the largest value (the first of equal ones; NaNs are never the largest).
/// Sixteen lanes each keep their own maximum and its first index, so that the loop
/// vectorises (compare and blend); the lanes are merged at the end.
pub fn argmax(row: &[f32]) -> u32 {
    const L: usize = 16;
    let mut max = [f32::NEG_INFINITY; L];
    let mut at = [u32::MAX; L];
    let chunks = row.chunks_exact(L);
    let tail = chunks.remainder();
    for (i, c) in chunks.enumerate() {
        for l in 0..L {
            let better = c[l] > max[l];
            max[l] = if better { c[l] } else { max[l] };
            at[l] = if better { (i * L + l) as u32 } else { at[l] };
        }
    }
    let (mut best, mut best_at) = (f32::NEG_INFINITY, u32::MAX);
    for l in 0..L {
        if max[l] > best || (max[l] == best && at[l] < best_at) {
            (best, best_at) = (max[l], at[l]);
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        if v > best {
            (best, best_at) = (v, (row.len() - tail.len() + j) as u32);
        }
    }
    // All −∞ or NaN: the first index, as a scan from it would give.
    if best_at == u32::MAX { 0 } else { best_at }
}

/// Images to tokens and back: a model on Burn's generic path or one laid out for this one.
pub trait TokenCodec {
    /// # Shapes
    /// model input `[B, C, S, S]` → tokens `[B, s, s]`
    fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int>;
    /// # Shapes
    /// tokens `[B, s, s]` → model output `[B, C', S, S]`
    fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4>;
}

impl TokenCodec for DalleNet {
    fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        DalleNet::encode_tokens(self, x)
    }
    fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        DalleNet::decode_tokens(self, tokens)
    }
}

impl TokenCodec for BenchNet {
    fn encode_tokens(&self, x: Tensor<4>) -> Tensor<3, Int> {
        BenchNet::encode_tokens(self, x)
    }
    fn decode_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        BenchNet::decode_tokens(self, tokens)
    }
}

#[cfg(test)]
mod tests {
    /// The first index of the largest value, by a plain scan.
    fn scan(row: &[f32]) -> u32 {
        let mut best = 0;
        for (i, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = i;
            }
        }
        best as u32
    }

    /// The lane-wise argmax equals a plain scan on rows of every length up to 70 with many
    /// ties (values from a set of five), on rows of −∞ and on a row led by NaN.
    #[test]
    fn argmax_is_the_first_largest() {
        let mut state = 12345u32;
        for len in 1..70 {
            for _ in 0..20 {
                let row: Vec<f32> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        ((state >> 24) % 5) as f32 - 2.0
                    })
                    .collect();
                assert_eq!(super::argmax(&row), scan(&row), "{row:?}");
            }
            let row = vec![f32::NEG_INFINITY; len];
            assert_eq!(super::argmax(&row), 0);
        }
        let mut row = vec![1.0f32; 40];
        row[0] = f32::NAN;
        row[33] = 3.0;
        assert_eq!(super::argmax(&row), 33);
    }
}
