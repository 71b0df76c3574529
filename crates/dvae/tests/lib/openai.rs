//! OpenAI's pickled dall_e modules (`tools/make_openai_fixtures.py`, fixtures in
//! `fixtures/openai/`) imported without Python, against what PyTorch computed with them.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use dvae::Tokenizer;
use dvae::weights::Halves;
use dvae::import::openai::{Imported, import_openai};
use dvae::import::torch_file::{Format, TorchFile};
use dvae::import::torch_module::PickledModule;
use dvae::model;

use crate::common::*;

fn openai(name: &str) -> PathBuf {
    fixture(&format!("openai/{name}"))
}

fn import(enc: Option<&str>, dec: Option<&str>) -> dvae::Result<Imported> {
    let (e, d) = (enc.map(openai), dec.map(openai));
    import_openai(e.as_deref(), d.as_deref(), 32, &Device::flex())
}

fn ints(t: Tensor<3, Int>) -> Vec<f32> {
    t.into_data().iter::<i64>().map(|v| v as f32).collect()
}

/// Logits within 1e-4 (relative to the largest), identical argmax tokens, decoded pixels
/// within 1e-4, for both container formats.
#[test]
fn zip_and_legacy_imports_match_pytorch() {
    let device = Device::flex();
    let (data, _) = read_safetensors(&openai("reference.safetensors"));
    for suffix in ["", "_legacy"] {
        let enc = format!("encoder{suffix}.pkl");
        let dec = format!("decoder{suffix}.pkl");
        let imported = import(Some(&enc), Some(&dec)).unwrap();
        let want = if suffix.is_empty() {
            Format::Zip
        } else {
            Format::Legacy
        };
        assert_eq!(imported.encoder.as_ref().unwrap().format, want);
        let m = &imported.config.model;
        assert_eq!(
            (
                m.group_count,
                m.n_hid,
                m.n_blk_per_group,
                m.vocab_size,
                m.n_init
            ),
            (4, 8, 2, 128, 16),
            "architecture read from the pickled fields"
        );
        let dvae = Tokenizer::from_model(imported.config, imported.model, &device);
        // encode/decode below run on the channels-last path, so it is pinned to PyTorch too.
        assert_eq!(
            dvae.engine(),
            dvae::kernels::engine::Engine::Kernels,
            "the kernels run OpenAI's dVAE"
        );

        let x: Tensor<4> = to_tensor(&data["x"], &device);
        let logits = dvae.model.encode(model::pixels::map_pixels(x.clone()));
        let rel = max_rel_diff(&values(logits), &data["logits"].data);
        assert!(
            rel < 1e-4,
            "{enc}: logits differ from PyTorch by {rel} (relative)"
        );
        let tokens = dvae.encode(x).unwrap();
        assert_eq!(
            ints(tokens.clone()),
            data["tokens"].data,
            "{enc}: argmax tokens"
        );

        let recon = dvae.decode(tokens).unwrap();
        let diff = max_rel_diff(&values(recon), &data["recon"].data);
        assert!(diff < 1e-4, "{dec}: decoded pixels differ by {diff}");
        let random: Vec<i32> = data["tokens_random"]
            .data
            .iter()
            .map(|&t| t as i32)
            .collect();
        let random = Tensor::<1, Int>::from_ints(random.as_slice(), &device).reshape([2, 4, 4]);
        let diff = max_rel_diff(
            &values(dvae.decode(random).unwrap()),
            &data["recon_random"].data,
        );
        assert!(
            diff < 1e-4,
            "{dec}: pixels of random tokens differ by {diff}"
        );
    }
}

/// float16, bfloat16 and float64 storages, a channels-last weight, a transposed view and
/// two biases at offsets into one storage come out as PyTorch's `.float().contiguous()`.
#[test]
fn dtypes_strides_and_offsets_are_resolved_exactly() {
    let (data, _) = read_safetensors(&openai("reference.safetensors"));
    for name in ["layouts.pkl", "layouts_legacy.pkl"] {
        let file = TorchFile::open(&openai(name)).unwrap();
        let module = PickledModule::from_value(&file.root).unwrap();
        assert_eq!(module.class, "torch.nn.modules.container.Sequential");
        let state = module.state_dict();
        assert_eq!(state.len(), 8, "{name}");
        for (key, v) in state {
            let t = file.tensor(v, &key).unwrap();
            let want = &data[&format!("layouts.{key}")];
            assert_eq!(t.shape, want.shape, "{name} {key}");
            assert_eq!(t.data, want.data, "{name} {key}");
        }
        let conv = module.child("0").unwrap();
        assert_eq!(conv.int_field("kw").unwrap(), 3);
    }
}

/// A pickle that names anything outside the allow-list is refused, naming the file and the
/// global, and nothing runs.
#[test]
fn tampered_pickles_are_refused() {
    for (name, global) in [
        ("evil_global.pkl", "os.system"),
        ("evil_reduce.pkl", "posix.system"),
    ] {
        let err = TorchFile::open(&openai(name)).err().unwrap().to_string();
        assert!(err.contains(global) && err.contains(name), "{err}");
        assert!(err.contains("refusing"), "{err}");
    }
    assert!(!Path::new("/tmp/dvae-pwned").exists());
    let err = import(Some("evil_global.pkl"), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("os.system"), "{err}");
}

/// Truncated, corrupted and foreign files give an error, never a panic.
#[test]
fn truncated_and_garbage_files_are_errors() {
    let path = Path::new("bad.pkl");
    let check = |bytes: &[u8]| match TorchFile::from_bytes(path, bytes) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    for name in ["encoder.pkl", "encoder_legacy.pkl"] {
        let bytes = std::fs::read(openai(name)).unwrap();
        for cut in (0..bytes.len()).step_by(bytes.len() / 40) {
            let err = check(&bytes[..cut]).unwrap_or_else(|| panic!("{name} cut at {cut} loaded"));
            assert!(err.starts_with("bad.pkl: "), "{err}");
        }
        // Flipped bytes anywhere in the pickle: an error or a load, but no panic.
        let end = if name.contains("legacy") {
            30_000
        } else {
            bytes.len()
        };
        for i in (0..end).step_by(97) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            let _ = check(&b);
        }
    }
    let err = check(b"").unwrap();
    assert!(err.contains("not a PyTorch checkpoint"), "{err}");
    let err = check(b"hello, this is text").unwrap();
    assert!(err.contains("not a PyTorch checkpoint"), "{err}");
    let err = import(Some("decoder.pkl"), None).err().unwrap().to_string();
    assert!(err.contains("expected a dall_e.encoder.Encoder"), "{err}");
}

/// An encoder-only import writes a run that encodes like the full one and refuses to
/// decode with a message that says why; the decoder-only run the other way round.
#[test]
fn half_imports_refuse_the_missing_half() {
    let tmp = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let (data, _) = read_safetensors(&openai("reference.safetensors"));
    let x: Tensor<4> = to_tensor(&data["x"], &device);

    let run = tmp.path().join("enc");
    import(Some("encoder.pkl"), None)
        .unwrap()
        .write_run(&run)
        .unwrap();
    let dvae = Tokenizer::load(&run).unwrap();
    assert_eq!(dvae.halves(), Halves::Encoder);
    let tokens = dvae.encode(x.clone()).unwrap();
    assert_eq!(ints(tokens.clone()), data["tokens"].data);
    let err = dvae.decode(tokens.clone()).err().unwrap().to_string();
    assert!(
        err.contains("only the encoder") && err.contains("cannot decode"),
        "{err}"
    );

    let run = tmp.path().join("dec");
    import(None, Some("decoder_legacy.pkl"))
        .unwrap()
        .write_run(&run)
        .unwrap();
    let dvae = Tokenizer::load(&run).unwrap();
    assert_eq!(dvae.halves(), Halves::Decoder);
    let diff = max_rel_diff(&values(dvae.decode(tokens).unwrap()), &data["recon"].data);
    assert!(diff < 1e-4, "decoded pixels differ by {diff}");
    let err = dvae.encode(x).err().unwrap().to_string();
    assert!(
        err.contains("only the decoder") && err.contains("cannot encode"),
        "{err}"
    );
}
