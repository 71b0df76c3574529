//! 3×3 stride-1 convolutions by Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray,
//! 2016): each (m+2)×(m+2) input tile and each filter are transformed, the (m+2)² transformed
//! positions become independent `[tiles, cin] · [cin, cout]` GEMMs, and an output transform
//! gives m×m outputs. F(4×4, 3×3) does 36 multiplications where the direct convolution does
//! 144 (4× fewer), at the cost of a rounding error a few times larger (tests: < 1e-5
//! relative on unit-scale data). 2×2 kernels (the space-to-depth form of 4×4 stride-2
//! convolutions) go through F(4×4, 2×2) the same way: 25 multiplications instead of 64.
//! The weight gradient of 3×3 kernels ([`weight_grad`]) runs through F(4×4, 3×3) too.

use rayon::prelude::*;

use super::gemm::{ConvOpts, gemm_set, put_scratch, take_scratch};
use super::maps::{Act, AsMaps, Maps};
use super::winograd_transforms::{A, G, M, a6, alpha, at, bt, g_at};

/// Tiles per work item: the rows of each of the α² GEMMs.
const TILES: usize = 64;

/// Transformed weights of one 3×3 (F(4×4, 3×3), α = 6) or 2×2 (F(4×4, 2×2), α = 5)
/// convolution.
#[derive(Clone, Debug)]
pub struct Winograd {
    /// Kernel side r: 3 or 2.
    r: usize,
    cin: usize,
    cout: usize,
    /// Top and left padding.
    pad: [usize; 2],
    /// `[α², cin, cout]`: `U = G g Gᵀ` per input and output channel.
    u: Vec<f32>,
}

impl Winograd {
    /// From an r×r kernel (r = 3 or 2) in the direct path's layout `[r²·cin, cout]` (row
    /// `(ky·r + kx)·cin + ci`).
    pub fn new(r: usize, cin: usize, cout: usize, pad: [usize; 2], weight: &[f32]) -> Self {
        assert!(r == 2 || r == 3, "Winograd kernels are 2×2 or 3×3");
        let a = alpha(r);
        // U[i][j] = Σ_ky Σ_kx G[i][ky] g[ky][kx] G[j][kx], as rows over the output channels:
        // first t = G g per input channel (`[cin][α][r][cout]`), then U = t Gᵀ per
        // transformed position, both on all threads (this runs at every training step).
        let mut t = vec![0.0f32; cin * a * r * cout];
        t.par_chunks_mut(a * r * cout)
            .enumerate()
            .for_each(|(ci, t)| {
                let g = |ky: usize, kx: usize| {
                    let at = ((ky * r + kx) * cin + ci) * cout;
                    &weight[at..at + cout]
                };
                for i in 0..a {
                    for kx in 0..r {
                        let row = &mut t[(i * r + kx) * cout..(i * r + kx + 1) * cout];
                        for ky in 0..r {
                            let c = g_at(r, i, ky);
                            if c != 0.0 {
                                for (o, w) in row.iter_mut().zip(g(ky, kx)) {
                                    *o += c * w;
                                }
                            }
                        }
                    }
                }
            });
        let mut u = vec![0.0; a * a * cin * cout];
        u.par_chunks_mut(cin * cout)
            .enumerate()
            .for_each(|(xi, u)| {
                let (i, j) = (xi / a, xi % a);
                for (ci, out) in u.chunks_exact_mut(cout).enumerate() {
                    for kx in 0..r {
                        let c = g_at(r, j, kx);
                        if c != 0.0 {
                            let at = ((ci * a + i) * r + kx) * cout;
                            for (o, v) in out.iter_mut().zip(&t[at..at + cout]) {
                                *o += c * v;
                            }
                        }
                    }
                }
            });
        Self {
            r,
            cin,
            cout,
            pad,
            u,
        }
    }

    /// The convolution of `x` upsampled `up`× (1 or 2) into `out` (`[N, Ho, Wo, cout]`,
    /// already sized), with the bias and `o`'s fused operations.
    pub fn forward(
        &self,
        x: &(impl AsMaps + ?Sized),
        up: usize,
        bias: &[f32],
        o: ConvOpts,
        out: &mut Act,
    ) {
        let x = &x.maps();
        let (ho, wo) = (out.h, out.w);
        let (ty, tx) = (ho.div_ceil(M), wo.div_ceil(M));
        let per_image = ty * tx;
        let total = x.n * per_image;
        let dst = SharedOut(out.data.as_mut_ptr());
        (0..total.div_ceil(TILES))
            .into_par_iter()
            .for_each(|block| {
                let t0 = block * TILES;
                let tiles: Vec<[usize; 3]> = (t0..(t0 + TILES).min(total))
                    .map(|t| [t / per_image, (t % per_image) / tx, t % tx])
                    .collect();
                self.block(x, up, &tiles, bias, o, [ho, wo], &dst);
            });
    }

    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        x: &Maps,
        up: usize,
        tiles: &[[usize; 3]],
        bias: &[f32],
        o: ConvOpts,
        [ho, wo]: [usize; 2],
        dst: &SharedOut,
    ) {
        let (cin, cout, n, r) = (self.cin, self.cout, tiles.len(), self.r);
        let a = alpha(r);
        let mut v = take_scratch(&V, a * a * n * cin);
        input_tiles(r, x, up, self.pad, o.input_relu, tiles, &mut v);
        let mut m = take_scratch(&MM, a * a * n * cout);
        for xi in 0..a * a {
            gemm_set(
                &mut m[xi * n * cout..(xi + 1) * n * cout],
                &v[xi * n * cin..(xi + 1) * n * cin],
                &self.u[xi * cin * cout..(xi + 1) * cin * cout],
                [n, cin, cout],
                gemm::Parallelism::None,
            );
        }
        let mut y = vec![0.0f32; M * a * cout];
        let mut rows = vec![0.0f32; M * cout];
        for (t, &[img, by, bx]) in tiles.iter().enumerate() {
            // y = Aᵀ m (down each column), then each output row = y A (along each row).
            for j in 0..a {
                let k = (j * n + t) * cout;
                at(r, &m[k..], a * n * cout, &mut y[j * cout..], a * cout, cout);
            }
            for row in 0..M {
                let oy = by * M + row;
                if oy >= ho {
                    break;
                }
                at(r, &y[row * a * cout..], cout, &mut rows, cout, cout);
                for (b, tile) in rows.chunks_exact_mut(cout).enumerate() {
                    let ox = bx * M + b;
                    if ox >= wo {
                        break;
                    }
                    for (v, b) in tile.iter_mut().zip(bias) {
                        *v += b;
                    }
                    let at = ((img * ho + oy) * wo + ox) * cout;
                    if let Some(r) = o.residual {
                        for (o, r) in tile.iter_mut().zip(&r.data[at..at + cout]) {
                            *o += r;
                        }
                    }
                    if o.output_relu {
                        super::gemm::relu(tile);
                    }
                    // SAFETY: every output pixel belongs to exactly one tile, and tiles are
                    // split between work items without overlap, so no two writers touch
                    // the same `cout` values; `at + cout` is within `out.data`.
                    unsafe {
                        std::ptr::copy_nonoverlapping(tile.as_ptr(), dst.0.add(at), cout);
                    }
                }
            }
        }
        put_scratch(&V, v);
        put_scratch(&MM, m);
    }
}

/// The α×α input tiles `tiles` (`[image, tile row, tile column]`) of `x` upsampled `up`×,
/// read from `pad` above and left of the image (zeros outside it), transformed:
/// `v[ξ][t][ci]` = `(Bᵀ d_t B)[ξ]` for channel `ci`, `v` holding `α²·tiles·cin` values.
fn input_tiles(
    r: usize,
    x: &Maps,
    up: usize,
    pad: [usize; 2],
    relu: bool,
    tiles: &[[usize; 3]],
    v: &mut [f32],
) {
    let (cin, n, a) = (x.c, tiles.len(), alpha(r));
    let mut d = take_scratch(&D, a * a * cin);
    let mut tmp = take_scratch(&TMP, a * a * cin);
    let (lh, lw) = ((up * x.h) as isize, (up * x.w) as isize);
    for (t, &[img, by, bx]) in tiles.iter().enumerate() {
        // Gather the α×α input tile (zeros outside the image).
        let src = x.image(img);
        for row in 0..a {
            for c in 0..a {
                let cell = &mut d[(row * a + c) * cin..(row * a + c + 1) * cin];
                let iy = (by * M + row) as isize - pad[0] as isize;
                let ix = (bx * M + c) as isize - pad[1] as isize;
                if iy < 0 || ix < 0 || iy >= lh || ix >= lw {
                    cell.fill(0.0);
                } else {
                    let i = (iy as usize / up * x.w + ix as usize / up) * cin;
                    super::gemm::copy(cell, &src[i..i + cin], relu);
                }
            }
        }
        // tmp = Bᵀ d (down each column), then V = tmp B (along each row), written to
        // V[ξ][t][·]: 6 values in, 6 out, per channel.
        for l in 0..a {
            bt(r, &d[l * cin..], a * cin, &mut tmp[l * cin..], a * cin, cin);
        }
        for i in 0..a {
            let k = (i * a * n + t) * cin;
            bt(r, &tmp[i * a * cin..], cin, &mut v[k..], n * cin, cin);
        }
    }
    put_scratch(&D, d);
    put_scratch(&TMP, tmp);
}

/// The m×m output-gradient tiles `tiles` of `dy` (`[N, Ho, Wo, cout]`, zeros past its
/// edges) taken back through the output transform: `g[ξ][t][co]` = `(A dY_t Aᵀ)[ξ]`, the
/// gradient of the transformed products the forward pass summed.
fn output_grad_tiles(dy: &Maps, tiles: &[[usize; 3]], g: &mut [f32]) {
    let (cout, n) = (dy.c, tiles.len());
    let mut d = take_scratch(&D, M * M * cout);
    let mut tmp = take_scratch(&TMP, A * M * cout);
    for (t, &[img, by, bx]) in tiles.iter().enumerate() {
        let src = dy.image(img);
        for r in 0..M {
            for c in 0..M {
                let cell = &mut d[(r * M + c) * cout..(r * M + c + 1) * cout];
                let (oy, ox) = (by * M + r, bx * M + c);
                if oy < dy.h && ox < dy.w {
                    let i = (oy * dy.w + ox) * cout;
                    cell.copy_from_slice(&src[i..i + cout]);
                } else {
                    cell.fill(0.0);
                }
            }
        }
        // tmp = A dY (down each column, 4 → 6 rows), then tmp Aᵀ (along each row, 4 → 6).
        for c in 0..M {
            a6(
                &d[c * cout..],
                M * cout,
                &mut tmp[c * cout..],
                M * cout,
                cout,
            );
        }
        for k in 0..A {
            let at = (k * A * n + t) * cout;
            a6(&tmp[k * M * cout..], cout, &mut g[at..], n * cout, cout);
        }
    }
    put_scratch(&D, d);
    put_scratch(&TMP, tmp);
}

/// Tiles per pass of [`weight_grad`] (bounds its transformed buffers).
const GRAD_TILES: usize = 1024;

/// The weight gradient of the 3×3 stride-1 convolution of `x` with `pad` rows and columns
/// of zeros above and left (the output `dy`'s size sets the rest), of `relu(x)` when
/// `input_relu`, by the same algorithm:
/// `dU[ξ] = Σ_tiles V[ξ]ᵀ · (A dY Aᵀ)[ξ]`, α² GEMMs over the tiles, then `dg = Gᵀ dU G`.
/// 36 multiplications per 16 output pixels and weight, where the direct gradient does 144.
///
/// # Shapes
/// x `[N, H, W, cin]`, dy `[N, Ho, Wo, cout]` → `[9·cin, cout]` (row `(ky·3 + kx)·cin + ci`)
pub fn weight_grad(
    x: &(impl AsMaps + ?Sized),
    dy: &(impl AsMaps + ?Sized),
    pad: [usize; 2],
    input_relu: bool,
) -> Vec<f32> {
    let (x, dy) = (&x.maps(), &dy.maps());
    let (cin, cout) = (x.c, dy.c);
    assert_eq!(x.n, dy.n, "weight_grad: batch");
    let tx = dy.w.div_ceil(M);
    let per_image = dy.h.div_ceil(M) * tx;
    let total = x.n * per_image;
    let tile_at = |t: usize| [t / per_image, (t % per_image) / tx, t % tx];
    // Recycled buffers: fresh ones of these sizes cost a page fault per 4 KiB each call.
    let mut du = super::pool::take(A * A * cin * cout);
    du.fill(0.0);
    let mut v = super::pool::take(GRAD_TILES.min(total) * A * A * cin);
    let mut g = super::pool::take(GRAD_TILES.min(total) * A * A * cout);
    for p0 in (0..total).step_by(GRAD_TILES) {
        let p1 = (p0 + GRAD_TILES).min(total);
        let blocks: Vec<usize> = (p0..p1).step_by(TILES).collect();
        // Per block of TILES tiles: V `[ξ][t][cin]` and the output gradient `[ξ][t][cout]`.
        let (v, g) = (
            &mut v[..(p1 - p0) * A * A * cin],
            &mut g[..(p1 - p0) * A * A * cout],
        );
        v.par_chunks_mut(TILES * A * A * cin)
            .zip(g.par_chunks_mut(TILES * A * A * cout))
            .zip(&blocks)
            .for_each(|((v, g), &b0)| {
                let tiles: Vec<[usize; 3]> = (b0..(b0 + TILES).min(p1)).map(tile_at).collect();
                input_tiles(3, x, 1, pad, input_relu, &tiles, v);
                output_grad_tiles(dy, &tiles, g);
            });
        du.par_chunks_mut(cin * cout)
            .enumerate()
            .for_each(|(xi, du)| {
                for &b0 in &blocks {
                    let n = TILES.min(p1 - b0);
                    let (vb, gb) = ((b0 - p0) * A * A * cin, (b0 - p0) * A * A * cout);
                    let vx = &v[vb + xi * n * cin..][..n * cin];
                    let gx = &g[gb + xi * n * cout..][..n * cout];
                    super::gemm::gemm_at_b(du, vx, gx, [cin, n, cout], gemm::Parallelism::None);
                }
            });
    }
    // dg[ky][kx] = Σ_i Σ_j G[i][ky] dU[i][j] G[j][kx], as rows over the output channels.
    let mut dw = vec![0.0f32; 9 * cin * cout];
    dw.par_chunks_mut(cin * cout)
        .enumerate()
        .for_each(|(tap, out)| {
            let (ky, kx) = (tap / 3, tap % 3);
            for i in 0..A {
                for j in 0..A {
                    let c = G[i][ky] * G[j][kx];
                    if c != 0.0 {
                        let src = &du[(i * A + j) * cin * cout..][..cin * cout];
                        for (o, &u) in out.iter_mut().zip(src) {
                            *o += c * u;
                        }
                    }
                }
            }
        });
    for buffer in [du, v, g] {
        super::pool::give(buffer);
    }
    dw
}

/// The output buffer, written by several work items at disjoint pixels.
struct SharedOut(*mut f32);
// SAFETY: writers touch disjoint ranges (see `Winograd::block`).
unsafe impl Sync for SharedOut {}
unsafe impl Send for SharedOut {}

thread_local! {
    static V: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    static D: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    static TMP: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    static MM: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}
