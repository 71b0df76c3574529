//! [`Ops`] on the kernels' host maps: inference on the CPU. Each layer's weights are packed
//! for the kernels the first time the layer runs (keyed by its weight's parameter id) and
//! kept; [`HostOps::packed_params`] says how many parameters that covers, so a test can
//! check that a network's inference path used every one of its layers.

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
}

/// Packed weights of the layers run so far.
#[derive(Default)]
struct Packed {
    convs: HashMap<ParamId, Arc<Conv>>,
    transposed: HashMap<ParamId, Arc<ConvTranspose>>,
    rows: HashMap<ParamId, Arc<(Vec<f32>, usize)>>,
    params: usize,
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
        self.lock().params
    }

    /// Forgets every packed layer (after the weights changed).
    pub fn clear(&self) {
        *self.lock() = Packed::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Packed> {
        self.packed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn conv_of(&self, layer: &Conv2d, scale: f64) -> Arc<Conv> {
        let mut p = self.lock();
        if let Some(c) = p.convs.get(&layer.weight.id) {
            return c.clone();
        }
        let c = Arc::new(Conv::from_burn(layer, scale as f32).unwrap_or_else(|| {
            panic!("the kernels cover every convolution of the networks: {layer:?}")
        }));
        p.params += layer.num_params();
        p.convs.insert(layer.weight.id, c.clone());
        c
    }

    fn transposed_of(&self, layer: &ConvTranspose2d) -> Arc<ConvTranspose> {
        let mut p = self.lock();
        if let Some(c) = p.transposed.get(&layer.weight.id) {
            return c.clone();
        }
        let c = Arc::new(ConvTranspose::from_burn(layer).unwrap_or_else(|| {
            panic!("the kernels cover every transposed convolution of the networks: {layer:?}")
        }));
        p.params += layer.num_params();
        p.transposed.insert(layer.weight.id, c.clone());
        c
    }

    fn rows_of(&self, layer: &Conv2d) -> Arc<(Vec<f32>, usize)> {
        let mut p = self.lock();
        if let Some(r) = p.rows.get(&layer.weight.id) {
            return r.clone();
        }
        let r =
            Arc::new(one_hot_rows(layer).unwrap_or_else(|| {
                panic!("a token lookup goes through a 1×1 convolution: {layer:?}")
            }));
        p.params += layer.num_params();
        p.rows.insert(layer.weight.id, r.clone());
        r
    }

    /// The options of a kernel call for `f`, reading `x` (upsampled if pending).
    fn run<'a>(f: &Fuse<'a, HostMap>, x: &HostMap, up_residual: &'a Option<Act>) -> ConvOpts<'a> {
        ConvOpts {
            input_relu: f.input_relu,
            output_relu: f.output_relu,
            residual: up_residual.as_ref().or(f.residual.map(|r| &r.act)),
            upsample: x.upsampled,
        }
    }
}

/// A residual that is still to be upsampled, built (the kernels add a residual as it lies).
fn built_residual(f: &Fuse<'_, HostMap>) -> Option<Act> {
    f.residual
        .filter(|r| r.upsampled)
        .map(|r| r.act.upsample2())
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

    fn conv(&self, layer: &Conv2d, x: &HostMap, f: Fuse<'_, HostMap>) -> HostMap {
        let conv = self.conv_of(layer, f.scale);
        let up = built_residual(&f);
        HostMap {
            act: conv.forward(&x.act, Self::run(&f, x, &up)),
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
        let up = built_residual(&f);
        let built = x.upsampled.then(|| x.act.upsample2());
        let input = built.as_ref().unwrap_or(&x.act);
        let opts = ConvOpts {
            upsample: false,
            ..Self::run(&f, x, &up)
        };
        HostMap {
            act: conv.forward(input, opts),
            upsampled: false,
        }
    }

    fn conv_argmax(&self, layer: &Conv2d, x: &HostMap, input_relu: bool) -> Tensor<3, Int> {
        let conv = self.conv_of(layer, 1.0);
        let built = x.upsampled.then(|| x.act.upsample2());
        let input = built.as_ref().unwrap_or(&x.act);
        let ids = conv.forward_argmax(input, input_relu);
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
