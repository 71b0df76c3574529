//! [`Ops`] on the kernels' host maps: inference on the CPU. Each layer's weights are packed
//! for the kernels the first time the layer runs (keyed by its weight's parameter id) and
//! kept; [`HostOps::packed_params`] says how many parameters that covers, so a test can
//! check that a network's inference path used every one of its layers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::module::ParamId;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

use super::ops::{Fuse, Ops};
use crate::kernels::conv::Conv;
use crate::kernels::conv_transpose::ConvTranspose;
use crate::kernels::gemm::ConvOpts;
use crate::kernels::host::{int_values, one_hot_rows, tokens_tensor};
use crate::kernels::maps::Act;

/// A host map, possibly still to be upsampled ×2: the next convolution reads it upsampled
/// without building it.
#[derive(Debug)]
pub struct HostMap {
    act: Act,
    upsampled: bool,
}

impl HostMap {
    /// The map as it is meant, the pending upsampling done.
    fn built(self) -> Act {
        if self.upsampled {
            self.act.upsample2()
        } else {
            self.act
        }
    }

    /// [`built`](Self::built) of a borrowed map: the map itself when nothing is pending.
    fn read(&self) -> Cow<'_, Act> {
        if self.upsampled {
            Cow::Owned(self.act.upsample2())
        } else {
            Cow::Borrowed(&self.act)
        }
    }
}

/// Packed weights of the layers run so far (one layer may be packed two ways: the decoder's
/// input convolution as a convolution and as lookup rows).
#[derive(Default)]
struct Packed {
    convs: HashMap<ParamId, Arc<Conv>>,
    transposed: HashMap<ParamId, Arc<ConvTranspose>>,
    rows: HashMap<ParamId, Arc<(Vec<f32>, usize)>>,
    /// The layers packed at least once, by weight id, with their parameter counts.
    layers: HashMap<ParamId, usize>,
}

/// The layers on host maps, with their packed weights.
pub struct HostOps {
    device: Device,
    packed: Mutex<Packed>,
}

impl HostOps {
    /// Layers whose outputs are returned as tensors on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            packed: Mutex::new(Packed::default()),
        }
    }

    /// Parameters (weights and biases) of the layers packed so far.
    pub fn packed_params(&self) -> usize {
        self.lock().layers.values().sum()
    }

    /// Forgets every packed layer (after the weights changed).
    pub fn clear(&self) {
        *self.lock() = Packed::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Packed> {
        self.packed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The packing of the layer whose weight is `id` (of `params` parameters) in the cache
    /// `slot`, made by `make` the first time; the networks' layers are all ones the kernels
    /// cover, so a `None` from `make` is a bug, reported with `what`.
    fn packed<T>(
        &self,
        slot: fn(&mut Packed) -> &mut HashMap<ParamId, Arc<T>>,
        (id, params): (ParamId, usize),
        make: impl FnOnce() -> Option<T>,
        what: &dyn std::fmt::Debug,
    ) -> Arc<T> {
        let mut p = self.lock();
        if let Some(t) = slot(&mut p).get(&id) {
            return t.clone();
        }
        let t =
            Arc::new(make().unwrap_or_else(|| panic!("not a layer the kernels cover: {what:?}")));
        slot(&mut p).insert(id, t.clone());
        p.layers.insert(id, params);
        t
    }

    fn conv_of(&self, layer: &Conv2d, scale: f64) -> Arc<Conv> {
        let key = (layer.weight.id, layer.num_params());
        let make = || Conv::from_burn(layer, scale as f32);
        self.packed(|p| &mut p.convs, key, make, layer)
    }

    fn transposed_of(&self, layer: &ConvTranspose2d) -> Arc<ConvTranspose> {
        let key = (layer.weight.id, layer.num_params());
        self.packed(
            |p| &mut p.transposed,
            key,
            || ConvTranspose::from_burn(layer),
            layer,
        )
    }

    fn rows_of(&self, layer: &Conv2d) -> Arc<(Vec<f32>, usize)> {
        let key = (layer.weight.id, layer.num_params());
        self.packed(|p| &mut p.rows, key, || one_hot_rows(layer), layer)
    }

    /// The options of a kernel call for `f` (a pending upsampling of the residual done in
    /// `residual`, since the kernels add a residual as it lies).
    fn opts<'a>(
        f: &Fuse<'a, HostMap>,
        residual: &'a Option<Cow<'a, Act>>,
        upsample: bool,
    ) -> ConvOpts<'a> {
        ConvOpts {
            input_relu: f.input_relu,
            output_relu: f.output_relu,
            residual: residual.as_deref(),
            upsample,
        }
    }
}

impl Ops for HostOps {
    type Map = HostMap;

    fn input(&self, x: Tensor<4>) -> HostMap {
        HostMap {
            act: Act::from_nchw(x),
            upsampled: false,
        }
    }

    fn output(&self, m: HostMap) -> Tensor<4> {
        m.built().to_nchw(&self.device)
    }

    fn pixels(&self, m: HostMap, channels: usize) -> Tensor<4> {
        use rayon::prelude::*;
        let a = m.built();
        let (plane, c) = (a.h * a.w, a.c);
        let eps = super::pixels::LOGIT_LAPLACE_EPS as f32;
        let scale = (1.0 - 2.0 * super::pixels::LOGIT_LAPLACE_EPS) as f32;
        // One pass from the channels-last map to NCHW pixels, instead of a transpose of
        // every channel, a narrow, a sigmoid and the unmapping over Burn tensors.
        let mut px = vec![0f32; a.n * channels * plane];
        px.par_chunks_mut(channels * plane)
            .zip(a.data.par_chunks(plane * c))
            .for_each(|(dst, src)| {
                for (p, cell) in src.chunks_exact(c).enumerate() {
                    for (ch, &mu) in cell[..channels].iter().enumerate() {
                        // Burn's flex sigmoid, step for step, so both engines give the
                        // same bits.
                        let s = if mu >= 0.0 {
                            1.0 / (1.0 + (-mu).exp())
                        } else {
                            let e = mu.exp();
                            e / (1.0 + e)
                        };
                        dst[ch * plane + p] = ((s - eps) / scale).clamp(0.0, 1.0);
                    }
                }
            });
        let shape = [a.n, channels, a.h, a.w];
        Tensor::from_data(burn::tensor::TensorData::new(px, shape), &self.device)
    }

    fn conv(&self, layer: &Conv2d, x: &HostMap, f: Fuse<'_, HostMap>) -> HostMap {
        let conv = self.conv_of(layer, f.scale);
        let residual = f.residual.map(HostMap::read);
        HostMap {
            // A pending upsampling of the input is read in place by the convolution.
            act: conv.forward(&x.act, Self::opts(&f, &residual, x.upsampled)),
            upsampled: false,
        }
    }

    fn conv_transpose(
        &self,
        layer: &ConvTranspose2d,
        x: &HostMap,
        f: Fuse<'_, HostMap>,
    ) -> HostMap {
        let conv = self.transposed_of(layer);
        let residual = f.residual.map(HostMap::read);
        HostMap {
            act: conv.forward(&*x.read(), Self::opts(&f, &residual, false)),
            upsampled: false,
        }
    }

    fn conv_argmax(&self, layer: &Conv2d, x: &HostMap, input_relu: bool) -> Tensor<3, Int> {
        let conv = self.conv_of(layer, 1.0);
        let input = x.read();
        let ids = conv.forward_argmax(&*input, input_relu);
        tokens_tensor(ids, [input.n, input.h, input.w], &self.device)
    }

    fn lookup(&self, layer: &Conv2d, tokens: Tensor<3, Int>) -> HostMap {
        let rows = self.rows_of(layer);
        let [n, h, w] = tokens.dims();
        HostMap {
            act: Act::lookup(&int_values(tokens), [n, h, w], &rows.0, rows.1),
            upsampled: false,
        }
    }

    fn max_pool2(&self, x: HostMap) -> HostMap {
        HostMap {
            act: x.built().max_pool2(),
            upsampled: false,
        }
    }

    fn upsample2(&self, x: HostMap) -> HostMap {
        HostMap {
            act: x.built(),
            upsampled: true,
        }
    }
}
