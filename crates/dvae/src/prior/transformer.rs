//! A decoder-only transformer over raster-ordered tokens (GPT-style, pre-LayerNorm), with a
//! key/value cache for sampling one token at a time.
//!
//! The input sequence is `[s, x_0, …, x_{T-2}]`, where the start token `s` carries the class
//! (id `K + c`, with `c = C` meaning "no class"); the output at position `t` is the logits of
//! `x_t`.

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, softmax};
use rand::Rng;

use super::config::{PriorConfig, normal_param};

/// GPT-2's initialisation scale.
const INIT_STD: f64 = 0.02;

fn linear(d_in: usize, d_out: usize, std: f64, rng: &mut impl Rng, device: &Device) -> Linear {
    Linear {
        weight: normal_param([d_in, d_out], std, rng, device),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

/// One pre-LayerNorm block: causal self-attention, then a GELU MLP, each residual.
#[derive(Module, Debug)]
pub struct Block {
    ln_1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    ln_2: LayerNorm,
    fc: Linear,
    fc_proj: Linear,
    heads: usize,
}

/// Keys and values of the positions seen so far, per block.
///
/// # Shapes
/// each key and value `[B, heads, t, width / heads]`
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    /// Positions already in the cache.
    pub len: usize,
}

impl Block {
    fn new(c: &PriorConfig, rng: &mut impl Rng, device: &Device) -> Self {
        let d = c.width;
        // Residual projections scaled down with depth, as in GPT-2.
        let out_std = INIT_STD / (2.0 * c.layers as f64).sqrt();
        Self {
            ln_1: LayerNormConfig::new(d).init(device),
            qkv: linear(d, 3 * d, INIT_STD, rng, device),
            proj: linear(d, d, out_std, rng, device),
            ln_2: LayerNormConfig::new(d).init(device),
            fc: linear(d, 4 * d, INIT_STD, rng, device),
            fc_proj: linear(4 * d, d, out_std, rng, device),
            heads: c.heads,
        }
    }

    /// Splits `[B, L, 3·d]` into queries, keys and values `[B, heads, L, d/heads]`.
    fn split_heads(&self, qkv: Tensor<3>) -> [Tensor<4>; 3] {
        let [b, l, d3] = qkv.dims();
        let d = d3 / 3;
        let dh = d / self.heads;
        [0, 1, 2].map(|i| {
            qkv.clone()
                .narrow(2, i * d, d)
                .reshape([b, l, self.heads, dh])
                .swap_dims(1, 2)
        })
    }

    /// Attention of `q` over `k`, `v`, plus an additive `bias` (`[L, Lk]`, −∞ where masked).
    fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Option<Tensor<2>>) -> Tensor<3> {
        let [b, h, l, dh] = q.dims();
        let mut scores = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt();
        if let Some(bias) = bias {
            let [lq, lk] = bias.dims();
            scores = scores + bias.reshape([1, 1, lq, lk]);
        }
        softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, l, h * dh])
    }

    fn mlp(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self
            .fc_proj
            .forward(gelu(self.fc.forward(self.ln_2.forward(x.clone()))));
        x + h
    }

    /// # Shapes
    /// `x` `[B, L, d]`, `mask` `[L, L]` → `[B, L, d]`
    fn forward(&self, x: Tensor<3>, mask: Tensor<2>) -> Tensor<3> {
        let [q, k, v] = self.split_heads(self.qkv.forward(self.ln_1.forward(x.clone())));
        let a = self.proj.forward(Self::attend(q, k, v, Some(mask)));
        self.mlp(x + a)
    }

    /// One new position per sequence, attending to the cached ones and itself.
    ///
    /// # Shapes
    /// `x` `[B, 1, d]` → `[B, 1, d]`
    fn step(&self, x: Tensor<3>, cache: &mut Option<(Tensor<4>, Tensor<4>)>) -> Tensor<3> {
        let [q, k, v] = self.split_heads(self.qkv.forward(self.ln_1.forward(x.clone())));
        let (k, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        let a = self.proj.forward(Self::attend(q, k, v, None));
        self.mlp(x + a)
    }
}

/// The transformer prior.
#[derive(Module, Debug)]
pub struct Transformer {
    /// Token embeddings: K codes, then one start token per class and one for "no class".
    tok: Embedding,
    /// Learned position embeddings `[T, d]`.
    pos: Param<Tensor<2>>,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Linear,
    vocab_size: usize,
}

/// `[L, L]` additive causal mask: 0 on and below the diagonal, a large negative above.
fn causal_mask(l: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0f32; l * l];
    for i in 0..l {
        for j in i + 1..l {
            m[i * l + j] = -1e9;
        }
    }
    Tensor::<1>::from_floats(m.as_slice(), device).reshape([l, l])
}

impl Transformer {
    /// A transformer for `c`, weights from `rng`.
    pub fn new(c: &PriorConfig, rng: &mut impl Rng, device: &Device) -> Self {
        let rows = c.vocab_size + c.classes + 1;
        Self {
            tok: Embedding {
                weight: normal_param([rows, c.width], INIT_STD, rng, device),
            },
            pos: normal_param([c.tokens(), c.width], INIT_STD, rng, device),
            blocks: (0..c.layers).map(|_| Block::new(c, rng, device)).collect(),
            ln_f: LayerNormConfig::new(c.width).init(device),
            head: linear(c.width, c.vocab_size, INIT_STD, rng, device),
            vocab_size: c.vocab_size,
        }
    }

    /// Logits of every position given the ones before it (teacher forcing).
    ///
    /// # Shapes
    /// `tokens` `[B, L]` (L ≤ T), `classes` `[B]` → `[B, L, K]`
    pub fn forward(&self, tokens: Tensor<2, Int>, classes: Tensor<1, Int>) -> Tensor<3> {
        let [b, l] = tokens.dims();
        let device = tokens.device();
        let start = (classes + self.vocab_size as i64).reshape([b, 1]);
        let inputs = if l == 1 {
            start
        } else {
            Tensor::cat(vec![start, tokens.narrow(1, 0, l - 1)], 1)
        };
        let d = self.pos.dims()[1];
        let mut x = self.tok.forward(inputs) + self.pos.val().narrow(0, 0, l).reshape([1, l, d]);
        let mask = causal_mask(l, &device);
        for block in &self.blocks {
            x = block.forward(x, mask.clone());
        }
        self.head.forward(self.ln_f.forward(x))
    }

    /// An empty cache for sampling.
    pub fn cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.blocks.len()],
            len: 0,
        }
    }

    /// Feeds one input per sequence at position `cache.len` (the start token `K + class`
    /// first, then each sampled token) and returns the logits of the token at that position.
    ///
    /// # Shapes
    /// `inputs` `[B]` → `[B, K]`
    pub fn step(&self, inputs: Tensor<1, Int>, cache: &mut KvCache) -> Tensor<2> {
        let [b] = inputs.dims();
        let d = self.pos.dims()[1];
        let pos = self.pos.val().narrow(0, cache.len, 1).reshape([1, 1, d]);
        let mut x = self.tok.forward(inputs.reshape([b, 1])) + pos;
        for (block, layer) in self.blocks.iter().zip(cache.layers.iter_mut()) {
            x = block.step(x, layer);
        }
        cache.len += 1;
        self.head
            .forward(self.ln_f.forward(x))
            .reshape([b, self.vocab_size])
    }

    /// The input id of the start token for `class` (`0..=C`).
    pub fn start_id(&self, class: u32) -> i64 {
        (self.vocab_size + class as usize) as i64
    }
}
