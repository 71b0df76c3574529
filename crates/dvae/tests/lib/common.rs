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

/// Every float parameter's gradient in `grads`, in the module's visiting order.
pub fn param_grads<M: burn::module::Module>(
    model: &M,
    grads: &burn::tensor::Gradients,
) -> Vec<Vec<f32>> {
    struct Grads<'a>(&'a burn::tensor::Gradients, Vec<Vec<f32>>);
    impl burn::module::ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            let g = p.grad(self.0).expect("every parameter has a gradient");
            self.1.push(g.into_data().iter::<f32>().collect());
        }
    }
    let mut visitor = Grads(grads, Vec::new());
    model.visit(&mut visitor);
    visitor.1
}
