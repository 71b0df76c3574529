//! `dvae import-openai` on the pickled dall_e fixtures, then the usual commands on the run.

use std::path::PathBuf;

use crate::*;

fn openai(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../dvae/tests/fixtures/openai")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn imported_runs_encode_decode_reconstruct_and_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let images = write_pngs(&data, 3, 40);
    let img = images[0].to_str().unwrap();
    let run = tmp.path().join("run");
    let run_s = run.to_str().unwrap();
    let (enc, dec) = (openai("encoder.pkl"), openai("decoder_legacy.pkl"));
    let o = dvae(&[
        "import-openai",
        "--encoder",
        &enc,
        "--decoder",
        &dec,
        "--out",
        run_s,
        "--image-size",
        "32",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("n_hid 8"), "{}", stdout(&o));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["vocab_size"], 128);
    assert_eq!(config["model"]["n_init"], 16);
    assert!(run.join("import.json").is_file());

    let tokens = tmp.path().join("t.npy");
    let t = tokens.to_str().unwrap();
    let o = dvae(&["encode", "--run", run_s, img, "--out", t]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = tmp.path().join("dec");
    let o = dvae(&["decode", "--run", run_s, t, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("000000.png").is_file());
    let rec = tmp.path().join("rec");
    let o = dvae(&[
        "reconstruct",
        "--run",
        run_s,
        img,
        "--out",
        rec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dvae(&[
        "eval",
        "--run",
        run_s,
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Encoder only: encode works, decode is one clear line and exit 2.
    let half = tmp.path().join("enc-only");
    let half_s = half.to_str().unwrap();
    let o = dvae(&[
        "import-openai",
        "--encoder",
        &enc,
        "--out",
        half_s,
        "--image-size",
        "32",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dvae(&["encode", "--run", half_s, img, "--out", t]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dvae(&["decode", "--run", half_s, t, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("only the encoder"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn bad_pickles_are_clean_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out_s = out.to_str().unwrap();
    let truncated = tmp.path().join("cut.pkl");
    let bytes = std::fs::read(openai("encoder_legacy.pkl")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for (file, needle) in [
        (openai("evil_global.pkl"), "os.system"),
        (openai("evil_reduce.pkl"), "posix.system"),
        (truncated.display().to_string(), "cut.pkl"),
        (openai("decoder.pkl"), "expected a dall_e.encoder.Encoder"),
    ] {
        let o = dvae(&["import-openai", "--encoder", &file, "--out", out_s]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{needle}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(!out.join("config.json").exists());
    }
    let o = dvae(&["import-openai", "--out", out_s]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
