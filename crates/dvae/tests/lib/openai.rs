//! OpenAI's pickled dall_e modules (`tools/make_openai_fixtures.py`, fixtures in
//! `fixtures/openai/`) imported without Python, against what PyTorch computed with them.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use dvae::Tokenizer;
use dvae::import::openai::{Imported, Part, import_openai, read_part};
use dvae::import::pickle::Value;
use dvae::import::torch_file::{Format, TorchFile};
use dvae::import::torch_module::PickledModule;
use dvae::model;
use dvae::weights::Halves;

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

/// What the import takes from a pickle: the module's class, its attributes and every
/// tensor of its state dict (shape and bit patterns, so that a NaN equals itself).
#[derive(Debug, PartialEq)]
struct Contents {
    class: String,
    fields: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<usize>, Vec<u32>)>,
}

/// Reads `bytes` as the import does ([`read_part`]: container, module tree, architecture
/// fields, every tensor); where that succeeds, returns what it read.
fn contents(path: &Path, bytes: &[u8]) -> dvae::Result<Contents> {
    read_part(path, bytes, Part::Encoder)?;
    let file = TorchFile::from_bytes(path, bytes)?;
    let module = PickledModule::from_value(&file.root).expect("read_part read the module");
    let tensors = module
        .state_dict()
        .into_iter()
        .map(|(name, v)| {
            let t = file.tensor(v, &name).expect("read_part read every tensor");
            let bits = t.data.iter().map(|x| x.to_bits()).collect();
            (name, t.shape, bits)
        })
        .collect();
    Ok(Contents {
        class: module.class.clone(),
        fields: module.fields.clone(),
        tensors,
    })
}

/// The message of an error about the malformed file `bad.pkl`: an `Error::Data` naming it.
fn bad_file(e: dvae::Error) -> String {
    assert!(
        matches!(&e, dvae::Error::Data { path, .. } if path == Path::new("bad.pkl")),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.starts_with("bad.pkl: "), "{msg}");
    msg
}

/// Truncated, corrupted and foreign files give an error naming the file, never a panic;
/// a corrupted file that still loads holds exactly what the intact one does.
#[test]
fn truncated_and_garbage_files_are_errors() {
    let path = Path::new("bad.pkl");
    let check = |bytes: &[u8]| match TorchFile::from_bytes(path, bytes) {
        Ok(_) => None,
        Err(e) => Some(bad_file(e)),
    };
    for name in ["encoder.pkl", "encoder_legacy.pkl"] {
        let bytes = std::fs::read(openai(name)).unwrap();
        let intact = contents(path, &bytes).unwrap();
        for cut in (0..bytes.len()).step_by(bytes.len() / 40) {
            check(&bytes[..cut]).unwrap_or_else(|| panic!("{name} cut at {cut} loaded"));
            let err = contents(path, &bytes[..cut]).err();
            bad_file(err.unwrap_or_else(|| panic!("{name} cut at {cut} imported")));
        }
        // Flipped bytes anywhere in the zip (CRC-checked entries, headers, directory) or in
        // the legacy stream's object pickle: each is either an error about bad.pkl, or a
        // byte the import does not use (a zip header field the central directory repeats,
        // a pickle memo slot nothing reads back, …) and the file loads exactly as the
        // intact one; never a load with other contents, never a panic.
        let end = if name.contains("legacy") {
            30_000
        } else {
            bytes.len()
        };
        let (mut errors, mut same) = (0, 0);
        for i in (0..end).step_by(97) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            match contents(path, &b) {
                Err(e) => {
                    bad_file(e);
                    errors += 1;
                }
                Ok(c) => {
                    assert!(c == intact, "{name}: byte {i} flipped loads other contents");
                    same += 1;
                }
            }
        }
        eprintln!("{name}: {errors} flips refused, {same} irrelevant");
        assert!(errors > 0, "{name}: no flip was noticed");
        if name.contains("legacy") {
            // The comparison sees a change: the legacy stream ends in raw storage bytes,
            // which no checksum covers, so a flip there loads other weights.
            let mut b = bytes.clone();
            *b.last_mut().unwrap() ^= 0x5a;
            assert!(contents(path, &b).unwrap() != intact);
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
