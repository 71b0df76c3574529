//! What every convolution kernel shares: the options of its fused epilogue, its tiles of
//! output pixels, per-thread scratch buffers and the GEMM wrappers over the `gemm` crate.

use rayon::prelude::*;

use super::maps::Act;

/// Output pixels per work item: enough rows to amortise packing the weights in the GEMM,
/// few enough that the gathered inputs stay in the cache.
pub const TILE_PIXELS: usize = 256;

/// A GEMM on all threads.
pub(crate) const ALL: gemm::Parallelism = gemm::Parallelism::Rayon(0);

/// What a convolution does around its GEMM.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConvOpts<'a> {
    /// ReLU of the input (applied while gathering, the input itself is not changed).
    pub input_relu: bool,
    /// ReLU of the output.
    pub output_relu: bool,
    /// Added to the output before the output ReLU (same shape as the output).
    pub residual: Option<&'a Act>,
    /// The input is the given map upsampled ×2 (nearest), read without being built.
    pub upsample: bool,
}

thread_local! {
    pub(crate) static COLS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    pub(crate) static LOGITS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A per-thread buffer of `len` values (contents unspecified). Taken out of the thread-local
/// slot, so a task that work-stealing runs on this thread meanwhile gets its own.
pub(crate) fn take_scratch(
    slot: &'static std::thread::LocalKey<std::cell::Cell<Vec<f32>>>,
    len: usize,
) -> Vec<f32> {
    let mut v = slot.with(|s| s.take());
    v.resize(len, 0.0);
    v
}

pub(crate) fn put_scratch(
    slot: &'static std::thread::LocalKey<std::cell::Cell<Vec<f32>>>,
    v: Vec<f32>,
) {
    slot.with(|s| s.set(v));
}

/// Runs `f(image, tile, chunk)` over `data` cut into images of `per_image` values and those
/// into tiles of `tile` values, in parallel.
pub(crate) fn for_each_tile<T: Send>(
    data: &mut [T],
    per_image: usize,
    tile: usize,
    f: impl Fn(usize, usize, &mut [T]) + Sync,
) {
    data.par_chunks_mut(per_image)
        .enumerate()
        .for_each(|(img, d)| {
            d.par_chunks_mut(tile)
                .enumerate()
                .for_each(|(t, chunk)| f(img, t, chunk))
        });
}

/// Threads for each GEMM: all of them when there are too few tiles to keep them busy.
pub(crate) fn inner_parallelism(tiles: usize) -> gemm::Parallelism {
    if tiles < 2 * rayon::current_num_threads() {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

pub(crate) fn fill_bias(dst: &mut [f32], bias: &[f32]) {
    for row in dst.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

pub(crate) fn relu(v: &mut [f32]) {
    for x in v {
        *x = x.max(0.0);
    }
}

pub(crate) fn copy(dst: &mut [f32], src: &[f32], relu: bool) {
    if relu {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.max(0.0);
        }
    } else {
        dst.copy_from_slice(src);
    }
}

/// `dst[m×n] += lhsᵀ · rhs` for `lhs` `[k×m]` and `rhs` `[k×n]`, row-major.
pub(crate) fn gemm_at_b(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    mkn: [usize; 3],
    par: gemm::Parallelism,
) {
    gemm_into(dst, true, lhs, true, rhs, mkn, par);
}

/// `dst[m×n] += lhs[m×k] · rhs[k×n]`, all row-major and contiguous.
pub(crate) fn gemm_acc(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    mkn: [usize; 3],
    par: gemm::Parallelism,
) {
    gemm_into(dst, true, lhs, false, rhs, mkn, par);
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (`dst`'s values are not read), all row-major.
pub(crate) fn gemm_set(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    mkn: [usize; 3],
    par: gemm::Parallelism,
) {
    gemm_into(dst, false, lhs, false, rhs, mkn, par);
}

/// `dst = [dst +] op(lhs) · rhs`, row-major, `op(lhs)` being `lhs` (`[m×k]`) or, with
/// `lhs_transposed`, the transpose of a `[k×m]` `lhs`.
fn gemm_into(
    dst: &mut [f32],
    read_dst: bool,
    lhs: &[f32],
    lhs_transposed: bool,
    rhs: &[f32],
    [m, k, n]: [usize; 3],
    par: gemm::Parallelism,
) {
    assert!(
        dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n,
        "gemm sizes"
    );
    // Column and row strides of op(lhs) as an m×k matrix.
    let (lhs_cs, lhs_rs) = if lhs_transposed { (m, 1) } else { (1, k) };
    // SAFETY: the three slices hold exactly the m×n, m×k (or k×m, read transposed) and k×n
    // row-major matrices the strides describe, and `dst` does not alias the inputs (it is a
    // unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            read_dst,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}
