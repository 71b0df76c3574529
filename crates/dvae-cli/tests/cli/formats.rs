//! Run directories of format 1 (before the families had their own options) load and resume
//! with this build: the committed fixtures were written by the format-1 binary, with the
//! weights it gave when it resumed them to step 8.

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

#[test]
fn format_1_runs_load_and_resume_bit_identically() {
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
        let got = tensors(&run.join("model.safetensors"));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{family}"
        );
        for (name, bytes) in &want {
            assert!(
                got[name] == *bytes,
                "{family}: {name} differs from format 1's resume"
            );
        }
        // The resumed run's config.json is written in the current format.
        let config = std::fs::read_to_string(run.join("config.json")).unwrap();
        assert!(config.contains("\"format_version\": 2"), "{config}");
        assert!(
            config.contains(&format!("\"family\": \"{family}\"")),
            "{config}"
        );
    }
}
