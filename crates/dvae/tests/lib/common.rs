use std::collections::HashMap;
use std::path::PathBuf;

use burn::prelude::*;
use dvae::import::dalle_names::HostTensor;
use safetensors::SafeTensors;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Every tensor of a safetensors file as f32 (int64 converted).
pub fn read_safetensors(
    path: &std::path::Path,
) -> (HashMap<String, HostTensor>, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let data: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32)
                .collect(),
            d => panic!("unexpected dtype {d:?}"),
        };
        out.insert(
            name,
            HostTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    (out, meta.metadata().clone().unwrap_or_default())
}

pub fn to_tensor<const D: usize>(t: &HostTensor, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = t.shape.clone().try_into().unwrap();
    Tensor::<1>::from_floats(t.data.as_slice(), device).reshape(shape)
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// max |a-b| / max(1, max |b|)
pub fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
        / scale
}

/// Every trained float parameter's gradient in `grads`, in the module's visiting order
/// (state such as a codebook's EMA counts has none, and is skipped).
pub fn param_grads<M: burn::module::Module>(
    model: &M,
    grads: &burn::tensor::Gradients,
) -> Vec<Vec<f32>> {
    struct Grads<'a>(&'a burn::tensor::Gradients, Vec<Vec<f32>>);
    impl burn::module::ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            if !p.is_require_grad() {
                return;
            }
            let g = p
                .grad(self.0)
                .expect("every trained parameter has a gradient");
            self.1.push(g.into_data().iter::<f32>().collect());
        }
    }
    let mut visitor = Grads(grads, Vec::new());
    model.visit(&mut visitor);
    visitor.1
}

/// A dVAE network (the DALL·E recipe's options: DALL·E's own codebook init) of `c` with
/// `seed`'s weights, on the engine the device gets.
pub fn net(c: &dvae::config::ModelConfig, seed: u64, device: &Device) -> dvae::model::Network {
    net_of(c, &dvae_family(), seed, device)
}

/// A network of `family`.
pub fn net_of(
    c: &dvae::config::ModelConfig,
    family: &dvae::model::family::FamilyConfig,
    seed: u64,
    device: &Device,
) -> dvae::model::Network {
    let engine = dvae::kernels::engine::Engine::resolve(device);
    dvae::model::Network::new(c, family, seed, device, engine)
}

/// The dVAE family with the DALL·E recipe's options.
pub fn dvae_family() -> dvae::model::family::FamilyConfig {
    dvae::model::family::FamilyConfig::of("dvae", dvae::config::Recipe::Dalle, 100).unwrap()
}

/// The dVAE family with `recipe`'s options.
pub fn dvae_family_for(recipe: dvae::config::Recipe) -> dvae::model::family::FamilyConfig {
    dvae::model::family::FamilyConfig::of("dvae", recipe, 100).unwrap()
}

/// The smallest backbone: 8×8 images, a 4×4 grid of 8 codes, widths 8 and 16.
pub fn micro_model() -> dvae::config::ModelConfig {
    dvae::config::ModelConfig {
        image_size: 8,
        input_channels: 3,
        group_count: 2,
        n_hid: 8,
        n_blk_per_group: 1,
        vocab_size: 8,
        n_init: 4,
        recon_loss: dvae::config::ReconLoss::LogitLaplace,
        code_dim: 64,
    }
}

/// The small backbone of the training tests: `tiny` at 32×32 with n_hid 8, 64 codes and
/// n_init 16.
pub fn small_model() -> dvae::config::ModelConfig {
    let mut model = dvae::config::ModelConfig::preset("tiny").unwrap();
    model.image_size = 32;
    model.n_hid = 8;
    model.vocab_size = 64;
    model.n_init = 16;
    model
}

/// A run of `family` on [`small_model`]: `steps` steps of `batch` images (the default
/// recipe), a checkpoint every `every` steps, a log line every step, seed `seed`.
pub fn small_run(
    family: dvae::model::family::FamilyConfig,
    steps: usize,
    batch: usize,
    every: usize,
    seed: u64,
) -> dvae::run_config::RunConfig {
    let mut t = dvae::config::TrainConfig::recipe(dvae::config::Recipe::Default, steps);
    t.batch = batch;
    t.checkpoint_every = every;
    t.log_every = 1;
    t.seed = seed;
    dvae::run_config::RunConfig {
        format_version: dvae::run_config::FORMAT_VERSION,
        preset: "tiny".into(),
        bottleneck: family,
        model: small_model(),
        train: t,
        data: "default".into(),
    }
}
