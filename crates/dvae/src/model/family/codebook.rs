//! A codebook of vectors: nearest-code lookup, and the field's remedies against codebook
//! collapse (EMA updates, k-means initialisation, dead-code restart) on its host copy.
//!
//! The codebook and its EMA statistics are parameters of the module, so they are saved,
//! averaged and restored with the rest of the model and a resumed run continues exactly.

use burn::module::Param;
use burn::prelude::*;
use rand::Rng;
use rand::seq::index::sample;

use crate::kernels::host::{float_values, int_values};

/// A codebook of K vectors of dimension D with its EMA state.
#[derive(Module, Debug)]
pub struct VectorQuantizer {
    /// The codes `[K, D]`.
    pub codebook: Param<Tensor<2>>,
    /// EMA of how many encoder vectors chose each code `[K]`.
    pub ema_count: Param<Tensor<1>>,
    /// EMA of the sum of the encoder vectors that chose each code `[K, D]`.
    pub ema_sum: Param<Tensor<2>>,
    /// Step at which each code was last chosen `[K]`.
    pub last_used: Param<Tensor<1>>,
    /// SimVQ's learned linear map `W [D, D]`: the codes are `codebook·Wᵀ`, the codebook
    /// a frozen random basis (none: the codes are the codebook).
    pub transform: Option<Param<Tensor<2>>>,
}

/// The codebook's state on the host, for the updates done between optimizer steps.
#[derive(Clone, Debug, PartialEq)]
pub struct HostCodebook {
    /// Codes, row-major `[K, D]`.
    pub codes: Vec<f32>,
    /// `[K]`.
    pub count: Vec<f32>,
    /// `[K, D]`.
    pub sum: Vec<f32>,
    /// `[K]`.
    pub last_used: Vec<f32>,
    /// Vector dimension D.
    pub dim: usize,
}

/// L2-normalises rows (for the cosine-similarity codebook).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Index of the nearest code (squared L2) for each row of `z`.
///
/// # Shapes
/// z `[N, D]`, codes `[K, D]` → `[N]`
pub fn nearest(z: Tensor<2>, codes: Tensor<2>) -> Tensor<1, Int> {
    let n = z.dims()[0];
    let z2 = z.clone().powi_scalar(2).sum_dim(1); // [N, 1]
    let e2 = codes.clone().powi_scalar(2).sum_dim(1).transpose(); // [1, K]
    let dist = z2 - z.matmul(codes.transpose()) * 2.0 + e2;
    dist.argmin(1).reshape([n])
}

/// Row `t` of `codes` for each token `t`, channels first.
///
/// # Shapes
/// codes `[K, D]`, tokens `[B, h, w]` → `[B, D, h, w]`
pub fn lookup(codes: Tensor<2>, tokens: Tensor<3, Int>) -> Tensor<4> {
    let [b, h, w] = tokens.dims();
    let d = codes.dims()[1];
    codes
        .select(0, tokens.reshape([b * h * w]))
        .reshape([b, h, w, d])
        .permute([0, 3, 1, 2])
}

/// `[B, D, h, w]` → `[B·h·w, D]`, cells in raster order.
pub fn flatten_cells(z: Tensor<4>) -> Tensor<2> {
    let [b, d, h, w] = z.dims();
    z.permute([0, 2, 3, 1]).reshape([b * h * w, d])
}

/// Encoder outputs as the codebook compares them: one row per cell, l2-normalised with
/// `cosine`.
///
/// # Shapes
/// `[B, D, h, w]` → `[B·h·w, D]`
pub fn compared_rows(z_e: Tensor<4>, cosine: bool) -> Tensor<2> {
    let z = flatten_cells(z_e);
    if cosine { l2_normalize(z) } else { z }
}

/// Per-code count and sum of the rows of `z` (`[N, D]` row-major) assigned to them.
fn cluster_sums(z: &[f32], indices: &[u32], k: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    let mut counts = vec![0f32; k];
    let mut sums = vec![0f32; k * d];
    for (row, &i) in z.chunks(d).zip(indices) {
        let i = i as usize;
        counts[i] += 1.0;
        for (s, &x) in sums[i * d..(i + 1) * d].iter_mut().zip(row) {
            *s += x;
        }
    }
    (counts, sums)
}

impl VectorQuantizer {
    /// K codes of dimension D drawn from U(−1/K, 1/K), as the VQ-VAE reference code does;
    /// EMA counts start at 1 and sums at the codes, so an unused code keeps its value.
    pub fn new(k: usize, d: usize, rng: &mut impl Rng, device: &Device) -> Self {
        let bound = 1.0 / k as f32;
        let codes: Vec<f32> = (0..k * d)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let host = HostCodebook {
            count: vec![1.0; k],
            sum: codes.clone(),
            codes,
            last_used: vec![0.0; k],
            dim: d,
        };
        let t2 = |v: &[f32]| Tensor::<1>::from_floats(v, device).reshape([k, d]);
        let t1 = |v: &[f32]| Tensor::<1>::from_floats(v, device);
        Self {
            codebook: Param::from_tensor(t2(&host.codes)),
            ema_count: Param::from_tensor(t1(&host.count)).set_require_grad(false),
            ema_sum: Param::from_tensor(t2(&host.sum)).set_require_grad(false),
            last_used: Param::from_tensor(t1(&host.last_used)).set_require_grad(false),
            transform: None,
        }
    }

    /// K codes of dimension D drawn from N(0, std²), trained by gradient (the dVAE's codebook
    /// when its logits are computed against one); the EMA state is unused.
    pub fn normal(k: usize, d: usize, std: f64, rng: &mut impl Rng, device: &Device) -> Self {
        let normal =
            rand_distr::Normal::new(0.0f32, std as f32).expect("std is finite and positive");
        let codes: Vec<f32> = (0..k * d).map(|_| rng.sample(normal)).collect();
        let mut vq = Self::new(k, d, rng, device);
        let t = Tensor::<1>::from_floats(codes.as_slice(), device).reshape([k, d]);
        vq.codebook = Param::from_tensor(t);
        vq
    }

    /// SimVQ's codebook (Zhu et al. 2024): K frozen codes drawn from N(0, 1/D) seen through
    /// a learned `W [D, D]` drawn as PyTorch's `nn.Linear(D, D, bias=False)` is,
    /// U(−1/√D, 1/√D).
    pub fn simvq(k: usize, d: usize, rng: &mut impl Rng, device: &Device) -> Self {
        let normal = rand_distr::Normal::new(0.0f32, (1.0 / d as f32).sqrt())
            .expect("a positive standard deviation");
        let frozen: Vec<f32> = (0..k * d).map(|_| rng.sample(normal)).collect();
        let bound = 1.0 / (d as f32).sqrt();
        let w: Vec<f32> = (0..d * d)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let mut vq = Self::new(k, d, rng, device);
        let t2 = |v: &[f32], rows| Tensor::<1>::from_floats(v, device).reshape([rows, d]);
        vq.codebook = Param::from_tensor(t2(&frozen, k)).set_require_grad(false);
        vq.transform = Some(Param::from_tensor(t2(&w, d)));
        vq
    }

    /// Number of codes K.
    pub fn size(&self) -> usize {
        self.codebook.dims()[0]
    }

    /// The codes as compared and looked up: l2-normalised with `cosine`.
    ///
    /// # Shapes
    /// `[K, D]`
    pub fn codes(&self, cosine: bool) -> Tensor<2> {
        let codes = match &self.transform {
            Some(w) => self.codebook.val().detach().matmul(w.val().transpose()),
            None => self.codebook.val(),
        };
        if cosine { l2_normalize(codes) } else { codes }
    }

    /// The nearest code of each cell: the tokens of `z_e`.
    ///
    /// # Shapes
    /// `z_e [B, D, h, w]` → tokens `[B, h, w]`
    pub fn tokens(&self, z_e: Tensor<4>, cosine: bool) -> Tensor<3, Int> {
        let [b, _, h, w] = z_e.dims();
        nearest(compared_rows(z_e, cosine), self.codes(cosine)).reshape([b, h, w])
    }

    /// Looks codes up by id.
    ///
    /// # Shapes
    /// tokens `[B, h, w]` → `[B, D, h, w]`
    pub fn embed(&self, tokens: Tensor<3, Int>, cosine: bool) -> Tensor<4> {
        lookup(self.codes(cosine), tokens)
    }

    /// The codebook state on the host.
    pub fn to_host(&self) -> HostCodebook {
        let v = |t: Tensor<2>| float_values(t);
        HostCodebook {
            codes: v(self.codebook.val()),
            count: float_values(self.ema_count.val()),
            sum: v(self.ema_sum.val()),
            last_used: float_values(self.last_used.val()),
            dim: self.codebook.dims()[1],
        }
    }

    /// Writes `host` back into the parameters, keeping their ids (and so the optimizer state).
    pub fn set_host(self, host: &HostCodebook) -> Self {
        let k = host.count.len();
        let d = host.dim;
        let put2 = |p: Param<Tensor<2>>, v: &[f32]| {
            p.map(|t| {
                let (dev, grad) = (t.device(), t.is_require_grad());
                Tensor::<1>::from_floats(v, &dev)
                    .reshape([k, d])
                    .set_require_grad(grad)
            })
        };
        let put1 = |p: Param<Tensor<1>>, v: &[f32]| {
            p.map(|t| {
                let (dev, grad) = (t.device(), t.is_require_grad());
                Tensor::<1>::from_floats(v, &dev).set_require_grad(grad)
            })
        };
        Self {
            codebook: put2(self.codebook, &host.codes),
            ema_count: put1(self.ema_count, &host.count),
            ema_sum: put2(self.ema_sum, &host.sum),
            last_used: put1(self.last_used, &host.last_used),
            transform: self.transform,
        }
    }
}

impl HostCodebook {
    /// Number of codes K.
    pub fn size(&self) -> usize {
        self.count.len()
    }

    /// Marks the codes in `indices` as used at `step`.
    pub fn mark_used(&mut self, indices: &[u32], step: usize) {
        for &i in indices {
            self.last_used[i as usize] = step as f32;
        }
    }

    /// The EMA codebook update of the VQ-VAE paper (appendix) with Laplace smoothing, as
    /// Sonnet's `VectorQuantizerEMA`: `N ← γN + (1−γ)n`, `m ← γm + (1−γ)Σz`,
    /// `e = m / Ñ` with `Ñ = (N + ε)/(ΣN + Kε)·ΣN`. `z` is `[N, D]` row-major.
    pub fn ema_update(&mut self, z: &[f32], indices: &[u32], decay: f32, eps: f32) {
        let (k, d) = (self.size(), self.dim);
        let (counts, sums) = cluster_sums(z, indices, k, d);
        for (c, n) in self.count.iter_mut().zip(&counts) {
            *c = decay * *c + (1.0 - decay) * n;
        }
        for (m, s) in self.sum.iter_mut().zip(&sums) {
            *m = decay * *m + (1.0 - decay) * s;
        }
        let total: f32 = self.count.iter().sum();
        for i in 0..k {
            let smoothed = (self.count[i] + eps) / (total + k as f32 * eps) * total;
            for j in 0..d {
                self.codes[i * d + j] = self.sum[i * d + j] / smoothed;
            }
        }
    }

    /// Re-seeds every code unused for `after` steps (as of `step`) with a random row of
    /// `z` (`[N, D]`), resetting its EMA state. Returns how many were restarted.
    pub fn restart_dead(
        &mut self,
        z: &[f32],
        step: usize,
        after: usize,
        rng: &mut impl Rng,
    ) -> usize {
        let d = self.dim;
        let rows = z.len() / d;
        let dead: Vec<usize> = (0..self.size())
            .filter(|&i| step as f32 - self.last_used[i] >= after as f32)
            .collect();
        if rows == 0 {
            return 0;
        }
        for &i in &dead {
            let r = rng.random_range(0..rows);
            let row = &z[r * d..(r + 1) * d];
            self.codes[i * d..(i + 1) * d].copy_from_slice(row);
            self.sum[i * d..(i + 1) * d].copy_from_slice(row);
            self.count[i] = 1.0;
            self.last_used[i] = step as f32;
        }
        dead.len()
    }

    /// k-means (Lloyd, `iters` rounds) of the rows of `z` into the codes, seeded with
    /// distinct random rows (rows are reused when there are fewer than K). EMA state is
    /// reset to the new codes.
    pub fn kmeans_init(&mut self, z: &[f32], iters: usize, rng: &mut impl Rng, device: &Device) {
        let (k, d) = (self.size(), self.dim);
        let rows = z.len() / d;
        if rows == 0 {
            return;
        }
        let picks: Vec<usize> = if rows >= k {
            sample(rng, rows, k).into_vec()
        } else {
            (0..k).map(|_| rng.random_range(0..rows)).collect()
        };
        for (i, &r) in picks.iter().enumerate() {
            self.codes[i * d..(i + 1) * d].copy_from_slice(&z[r * d..(r + 1) * d]);
        }
        let zt = Tensor::<1>::from_floats(z, device).reshape([rows, d]);
        for _ in 0..iters {
            let codes = Tensor::<1>::from_floats(self.codes.as_slice(), device).reshape([k, d]);
            let idx: Vec<u32> = int_values(nearest(zt.clone(), codes));
            let (counts, sums) = cluster_sums(z, &idx, k, d);
            for i in 0..k {
                if counts[i] > 0.0 {
                    for j in 0..d {
                        self.codes[i * d + j] = sums[i * d + j] / counts[i];
                    }
                }
            }
        }
        self.sum.copy_from_slice(&self.codes);
        self.count.iter_mut().for_each(|c| *c = 1.0);
    }
}
