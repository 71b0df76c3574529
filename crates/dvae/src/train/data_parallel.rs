//! Data-parallel training steps: each device takes its share of the batch with its own
//! replica of the model, and the gradients are averaged onto the first device, which
//! applies the one update every replica starts the next step from.
//!
//! This is burn-train's multi-device strategy, on Burn's own parts: [`Module::fork`] makes
//! a replica (detached leaves on its device), [`GradientsParams::to_device`] brings its
//! gradients to the first device and [`GradientsAccumulator`] sums them. Burn's
//! collectives (`burn::tensor::distributed::all_reduce`) are not used: in Burn 0.22.1 only
//! the CUDA runtime implements them (NCCL), wgpu has no collective transport and the CPU
//! backend none at all, while this path runs on every backend.
//!
//! Each share's loss is weighted by its share of the batch (`n_i / B`), so the summed
//! gradient is the whole batch's for every loss that is a mean over images (reconstruction,
//! KL to the prior, commitment, …). A term of batch statistics (the dVAE's diversity term,
//! LFQ's batch entropy) is taken per share, as data-parallel training does everywhere. The
//! noise is drawn for the whole batch before it is split, and the family's work after the
//! update sees the whole batch, so one device and N devices differ only by the order of
//! floating-point sums (and by those batch-statistics terms).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use rand_chacha::ChaCha8Rng;

use super::step::{self, Forward};
use crate::model::Network;
use crate::run_config::RunConfig;

/// The `(start, len)` of each device's share of a batch of `batch` images over `devices`
/// devices: as equal as can be, the larger shares first; a device with no image gets none.
pub fn shares(batch: usize, devices: usize) -> Vec<(usize, usize)> {
    let devices = devices.max(1);
    let (base, extra) = (batch / devices, batch % devices);
    let mut start = 0;
    (0..devices)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let share = (start, len);
            start += len;
            share
        })
        .filter(|&(_, len)| len > 0)
        .collect()
}

/// The forward and backward pass of step `step` on the autodiff `devices` (the first holds
/// `model`): its losses and the whole batch's tokens and encoder output on the first
/// device, and the summed gradients there.
///
/// # Shapes
/// x `[B, C, S, S]` on the first device
pub fn forward_backward(
    model: Network,
    config: &RunConfig,
    x: Tensor<4>,
    step: usize,
    rng: &mut ChaCha8Rng,
    devices: &[Device],
) -> (Network, Forward, GradientsParams) {
    let main = &devices[0];
    let (model, xm, noise) = step::prepare(model, config, &x, step, rng);
    let batch = x.dims()[0];
    let parts: Vec<(Forward, GradientsParams)> = std::thread::scope(|scope| {
        let workers: Vec<_> = shares(batch, devices.len())
            .into_iter()
            .zip(devices)
            .map(|((start, len), device)| {
                let replica = model.clone().fork(device);
                let share = |t: &Tensor<4>| t.clone().narrow(0, start, len).to_device(device);
                let (x, xm) = (share(&x), share(&xm));
                let noise = noise.as_ref().map(share);
                let weight = len as f64 / batch as f64;
                scope.spawn(move || {
                    let f = step::losses(&replica, config, x, xm, step, noise);
                    let grads = (f.total.clone() * weight).backward();
                    let grads = GradientsParams::from_grads(grads, &replica);
                    (f, grads.to_device(main, &replica))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a data-parallel replica panicked"))
            .collect()
    });
    let mut sum = GradientsAccumulator::<Network>::new();
    let mut forwards = Vec::with_capacity(parts.len());
    for (f, grads) in parts {
        sum.accumulate(&model, grads);
        forwards.push(f);
    }
    let f = gather(forwards, batch, main);
    (model, f, sum.grads())
}

/// The shares' forward passes as one on `main`: losses weighted by share, encoder outputs
/// and tokens in batch order (detached: the gradients are taken already).
fn gather(parts: Vec<Forward>, batch: usize, main: &Device) -> Forward {
    let here = |t: Tensor<1>| t.detach().to_device(main);
    let weighted = |pick: &dyn Fn(&Forward) -> Tensor<1>| {
        parts
            .iter()
            .map(|f| here(pick(f)) * (f.z_e.dims()[0] as f64 / batch as f64))
            .reduce(|a, b| a + b)
            .expect("a batch has a share")
    };
    let total = weighted(&|f| f.total.clone());
    let recon = weighted(&|f| f.recon.clone());
    let latent = weighted(&|f| f.latent.clone());
    let z_e = Tensor::cat(
        parts
            .iter()
            .map(|f| f.z_e.clone().detach().to_device(main))
            .collect(),
        0,
    );
    let indices = parts
        .iter()
        .map(|f| f.indices.clone().map(|t| t.to_device(main)))
        .collect::<Option<Vec<_>>>()
        .map(|all| Tensor::cat(all, 0));
    Forward {
        total,
        recon,
        latent,
        z_e,
        indices,
    }
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn shares_cover_the_batch_in_order() {
        assert_eq!(shares(8, 2), vec![(0, 4), (4, 4)]);
        assert_eq!(shares(7, 3), vec![(0, 3), (3, 2), (5, 2)]);
        assert_eq!(shares(2, 4), vec![(0, 1), (1, 1)]);
        assert_eq!(shares(5, 1), vec![(0, 5)]);
    }
}
