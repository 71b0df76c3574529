//! Whole-model parameter arithmetic: gradient norms and clipping, weight EMA.

use std::collections::HashMap;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Sum of squared gradient entries of every parameter of a module.
struct GradSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for GradSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// The L2 norm of the gradients of `module`'s parameters (a NaN or Inf anywhere shows up
/// as a non-finite norm).
pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    let mut v = GradSquares { grads, total: None };
    module.visit(&mut v);
    v.total
        .map_or(0.0, |t| (t.into_scalar::<f32>() as f64).sqrt())
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g * self.factor);
        }
    }
}

/// Multiplies every gradient of `module` by `factor`.
pub fn scale_grads<M: Module>(module: &M, grads: &mut GradientsParams, factor: f64) {
    module.visit(&mut ScaleGrads { grads, factor });
}

struct Collect {
    values: HashMap<ParamId, Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.values
            .insert(param.id, param.val().flatten::<1>(0, D - 1));
    }
}

struct Blend {
    values: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(current) = self.values.remove(&param.id) else {
            return param;
        };
        let decay = self.decay;
        param.map(|ema| {
            let shape = ema.shape();
            ema * decay + current.reshape(shape) * (1.0 - decay)
        })
    }
}

/// `ema ← decay·ema + (1−decay)·current`, parameter by parameter (matched by id; `ema`
/// must be a copy of `current`'s module, e.g. from `valid()`).
pub fn ema_update<M: Module>(ema: M, current: &M, decay: f64) -> M {
    let mut c = Collect {
        values: HashMap::new(),
    };
    current.visit(&mut c);
    ema.map(&mut Blend {
        values: c.values,
        decay,
    })
}

/// The EMA decay used at `step`: `min(decay, (1+step)/(10+step))`, so the average is not
/// dominated by the random initial weights early in a short run.
pub fn ema_decay_at(decay: f64, step: usize) -> f64 {
    decay.min((1.0 + step as f64) / (10.0 + step as f64))
}
