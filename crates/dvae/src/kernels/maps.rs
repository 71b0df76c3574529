//! Feature maps on the host, channels last: owned ([`Act`]) and borrowed ([`Maps`]), with
//! the layout changes and the cheap layers (pooling, upsampling, lookup) the kernels need.

use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::host::float_values;
use super::pool;

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
        Self::from_nchw_slice(&float_values(t), dims)
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
