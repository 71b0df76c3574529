//! train → encode → decode → reconstruct → eval, and resume, through the binary.

use crate::*;

#[test]
fn train_encode_decode_reconstruct_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let images = write_pngs(&data, 12, 48);
    // Also a subfolder and an RGBA + a grayscale image: converted, not refused.
    let sub = data.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    image::RgbaImage::from_pixel(40, 50, image::Rgba([10, 200, 30, 128]))
        .save(sub.join("rgba.png"))
        .unwrap();
    image::GrayImage::from_pixel(64, 64, image::Luma([77]))
        .save(sub.join("gray.png"))
        .unwrap();
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());

    let mut args = vec![
        "train",
        "--data",
        data_s,
        "--out",
        run_s,
        "--steps",
        "4",
        "--checkpoint-every",
        "2",
        "--seed",
        "3",
    ];
    args.extend_from_slice(SMALL);
    let o = dvae(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("\"vocab_size\": 64"),
        "resolved config is printed"
    );
    for f in [
        "config.json",
        "model.safetensors",
        "log.jsonl",
        "recon.png",
        "checkpoint/LATEST",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let grid = image::open(run.join("recon.png")).unwrap();
    assert!(
        grid.height() > 2 * 32,
        "grid has originals above reconstructions"
    );

    // A second train into the same folder is refused rather than overwriting it.
    let o = dvae(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));

    // Resume to a longer total.
    let o = resume(&run, &["--steps", "6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"step\":6")), "{log}");

    let tokens = tmp.path().join("tokens.npy");
    let o = dvae(&[
        "encode",
        "--run",
        run_s,
        data_s,
        "--out",
        tokens.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let grids = dvae::tokens::read_npy(&tokens, 64, 4).unwrap();
    assert_eq!((grids.n, grids.h, grids.w), (14, 4, 4));
    let names: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("tokens.json")).unwrap())
            .unwrap();
    assert_eq!(names.len(), 14);
    assert!(names[0].ends_with("img000.png"), "{names:?}");

    let out = tmp.path().join("decoded");
    let o = dvae(&[
        "decode",
        "--run",
        run_s,
        tokens.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = image::open(out.join("000000.png")).unwrap();
    assert_eq!((first.width(), first.height()), (32, 32));
    assert!(out.join("grid.png").is_file());

    let rec = tmp.path().join("rec");
    let o = dvae(&[
        "reconstruct",
        "--run",
        run_s,
        images[0].to_str().unwrap(),
        images[1].to_str().unwrap(),
        "--out",
        rec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("dB"));
    assert!(rec.join("grid.png").is_file());

    let o = dvae(&["eval", "--run", run_s, "--data", data_s, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["images"], 14);
    for k in ["mse", "psnr", "usage", "perplexity"] {
        assert!(v[k].as_f64().is_some_and(f64::is_finite), "{k}: {v}");
    }
    let usage = v["usage"].as_f64().unwrap();
    assert!(usage > 0.0 && usage <= 1.0);
    // Decoding the tokens of an image gives exactly the reconstruction `reconstruct` wrote.
    let a = image::open(out.join("000000.png")).unwrap().to_rgb8();
    let b = image::open(rec.join("000000.png")).unwrap().to_rgb8();
    assert_eq!(a, b);
}

#[test]
fn ctrl_c_stops_after_a_checkpoint_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut args = vec![
        "train",
        "--out",
        run.to_str().unwrap(),
        "--steps",
        "1000000",
        "--log-every",
        "1",
    ];
    args.extend_from_slice(SMALL);
    // Once training is under way, SIGINT.
    let out = interrupt_after(&args, &run, 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    let latest = std::fs::read_to_string(run.join("checkpoint/LATEST")).unwrap();
    let step: usize = latest.trim().trim_start_matches("step-").parse().unwrap();
    assert!(step >= 3, "{latest}");
    // Resume to a total just past the stop.
    let total = (step + 2).to_string();
    let o = resume(&run, &["--steps", &total]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("done: {total} steps")),
        "{}",
        stdout(&o)
    );
}
