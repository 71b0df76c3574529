//! Run directories of format 1 (before the families had their own options) load and resume
//! with this build: the committed fixtures were written by the format-1 binary, with the
//! weights it gave when it resumed them to step 8 (this build matches them to rounding:
//! the dVAE's training operations have been fused since, and other CPUs sum in another
//! order).

use std::collections::BTreeMap;
use std::path::Path;

use crate::*;

/// Every tensor of a safetensors file, format 1's names (`vq.*` for the VQ-VAE's codebook).
fn tensors(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let name = name.replace("bottleneck.Codebook.", "vq.");
            (name, view.data().to_vec())
        })
        .collect()
}

/// Little-endian f32 values.
fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Both families resume to within 1e-6 of every weight format 1 gave (the two resumed steps
/// move them by more than 1e-4): the dVAE's regularisers and straight-through input became
/// fused operations after format 1, which sum in another order, and the `gemm` crate picks
/// its kernels by CPU, so on another CPU than the fixtures' every family sums in another
/// order.
#[test]
fn format_1_runs_load_and_resume_to_format_1s_weights() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-v1");
    for family in ["dvae", "vqvae"] {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join(family);
        copy_dir(&fixtures.join(family), &run);
        // It loads as it is: a token round trip.
        let data = tmp.path().join("data");
        write_pngs(&data, 2, 16);
        let tokens = tmp.path().join("tokens.npy");
        let o = dvae(&[
            "encode",
            "--run",
            run.to_str().unwrap(),
            "--out",
            tokens.to_str().unwrap(),
            data.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{family}: encode: {}", stderr(&o));
        // And it resumes to step 8 with the weights the format-1 binary gave.
        let o = resume(&run, &["--steps", "8"]);
        assert!(o.status.success(), "{family}: resume: {}", stderr(&o));
        let want = tensors(&fixtures.join(format!("{family}-resumed-to-8.safetensors")));
        let mut moved = 0f32;
        let got = tensors(&run.join("model.safetensors"));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{family}"
        );
        let before = tensors(&fixtures.join(family).join("model.safetensors"));
        let mut worst = 0f32;
        for (name, bytes) in &want {
            // To rounding (see the test's comment), far inside what the steps moved them.
            let (g, w, b) = (floats(&got[name]), floats(bytes), floats(&before[name]));
            let diff = max_abs_diff(&g, &w);
            assert!(
                diff < 1e-6,
                "{family}: {name} is {diff} from format 1's resume"
            );
            worst = worst.max(diff);
            moved = moved.max(max_abs_diff(&w, &b));
        }
        eprintln!("{family}: resumed weights within {worst:e} of format 1's, moved by {moved:e}");
        assert!(
            moved > 1e-4,
            "{family}: the resumed steps moved the weights by {moved}"
        );
        // The resumed run's config.json is written in the current format.
        let config = std::fs::read_to_string(run.join("config.json")).unwrap();
        assert!(config.contains("\"format_version\": 2"), "{config}");
        assert!(
            config.contains(&format!("\"family\": \"{family}\"")),
            "{config}"
        );
    }
}
