//! tokenizer → `prior train` → `prior eval` → `sample` (and `--complete`), through the binary.

use std::path::Path;

use crate::*;

/// Trains a very small tokenizer on `data` into `run` (4 steps, seed 1).
fn tokenizer(data: &Path, run: &Path, extra: &[&str]) {
    train_small(
        data,
        run,
        &[&["--steps", "4", "--seed", "1"], extra].concat(),
    );
}

const PRIOR: &[&str] = &["--width", "16", "--layers", "1", "--heads", "2"];

#[test]
fn prior_train_eval_sample_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Two subfolders: two classes.
    write_pngs(&data.join("circles"), 10, 32);
    write_pngs(&data.join("squares"), 10, 40);
    let run = tmp.path().join("run");
    // 20 steps: the tokens use a dozen codes (about 2.8 bits of unigram entropy), so that the
    // prior has something to learn; after 4 they sit on 3 codes (0.16 bits).
    train_small(&data, &run, &["--steps", "20", "--seed", "1"]);
    let prior = tmp.path().join("prior");
    let (d, r, p) = (
        data.to_str().unwrap(),
        run.to_str().unwrap(),
        prior.to_str().unwrap(),
    );
    let mut args = vec![
        "prior",
        "train",
        "--run",
        r,
        "--data",
        d,
        "--out",
        p,
        "--steps",
        "100",
        "--checkpoint-every",
        "50",
        // Ten times the default rate: the prior learns these grids in 200 steps (below).
        "--lr",
        "0.01",
    ];
    args.extend_from_slice(PRIOR);
    let o = dvae(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("bits per token") && out.contains("unigram"),
        "{out}"
    );
    for f in [
        "prior.json",
        "model.safetensors",
        "tokens.npy",
        "log.jsonl",
        "checkpoint/LATEST",
    ] {
        assert!(prior.join(f).is_file(), "{f} missing");
    }
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(prior.join("prior.json")).unwrap()).unwrap();
    assert_eq!(
        file["class_names"],
        serde_json::json!(["circles", "squares"])
    );
    assert_eq!(file["model"]["grid"], 4);

    // Not over an existing prior; resuming to a longer run reuses the cached tokens.
    let o = dvae(&args);
    assert_clean_error(&o, "--resume");
    let o = dvae(&[
        "prior", "train", "--run", r, "--data", d, "--out", p, "--resume", "--steps", "200",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("cache"), "{}", stderr(&o));
    let log = std::fs::read_to_string(prior.join("log.jsonl")).unwrap();
    assert!(log.contains("\"step\":200"), "{log}");

    let o = dvae(&[
        "prior", "eval", "--run", r, "--prior", p, "--data", d, "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let bpt = v["bits_per_token"].as_f64().unwrap();
    assert_eq!(v["tokens"], 20 * 16);
    assert_eq!(v["uniform_bits_per_token"], 6.0);
    // The baselines, from the training tokens the prior cached (the same 20 images, so the
    // same tokens as the evaluation's): the unigram entropy of their frequencies, and the
    // reported baseline, their add-one smoothed cross-entropy. A prior that has learnt
    // anything beyond the frequencies is below the entropy, which is below the baseline.
    let train = dvae::tokens::read_npy(&prior.join("tokens.npy"), 64, 4).unwrap();
    assert_eq!(train.ids.len(), 20 * 16);
    let mut counts = [0f64; 64];
    train.ids.iter().for_each(|&t| counts[t as usize] += 1.0);
    let n = train.ids.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| -(c / n) * (c / n).log2())
        .sum();
    let smoothed: f64 = train
        .ids
        .iter()
        .map(|&t| -((counts[t as usize] + 1.0) / (n + 64.0)).log2())
        .sum::<f64>()
        / n;
    let unigram = v["unigram_bits_per_token"].as_f64().unwrap();
    assert!((unigram - smoothed).abs() < 1e-9, "{unigram} vs {smoothed}");
    assert!(
        entropy > 2.0,
        "the tokens collapsed: {entropy} bits of unigram entropy"
    );
    assert!(
        bpt > 0.0 && bpt < entropy,
        "prior {bpt} bits per token, unigram entropy {entropy}"
    );
    let bpd = v["bits_per_dim"].as_f64().unwrap();
    assert!((bpd - bpt * 16.0 / (3.0 * 32.0 * 32.0)).abs() < 1e-9, "{v}");

    // Data whose classes are not the prior's is refused.
    let renamed = tmp.path().join("renamed");
    write_pngs(&renamed.join("circles"), 2, 32);
    write_pngs(&renamed.join("dots"), 2, 32);
    let o = dvae(&[
        "prior",
        "eval",
        "--run",
        r,
        "--prior",
        p,
        "--data",
        renamed.to_str().unwrap(),
    ]);
    assert_clean_error(&o, "circles, dots");
    assert_clean_error(&o, "circles, squares");

    // Sampling: PNGs, a grid and tokens; the same seed gives the same tokens, with or
    // without the key/value cache.
    let samples = |dir: &str, extra: &[&str]| {
        let out = tmp.path().join(dir);
        let mut args = vec![
            "sample",
            "--run",
            r,
            "--prior",
            p,
            "--n",
            "4",
            "--class",
            "squares",
            "--temperature",
            "0.8",
            "--top-k",
            "20",
            "--seed",
            "5",
            "--guidance",
            "2",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = dvae(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("tokens/s"), "{}", stdout(&o));
        (
            out.clone(),
            dvae::tokens::read_npy(&out.join("tokens.npy"), 64, 4).unwrap(),
        )
    };
    let (a_dir, a) = samples("a", &[]);
    for f in ["000000.png", "000003.png", "grid.png"] {
        let img = image::open(a_dir.join(f)).unwrap();
        assert!(img.width() >= 32, "{f}");
    }
    assert_eq!(a.n, 4);
    assert_eq!(a, samples("b", &[]).1);
    assert_eq!(a, samples("c", &["--no-cache"]).1);

    // Completion keeps the image's top token rows.
    let image = data.join("squares/img002.png");
    let enc = tmp.path().join("enc.npy");
    let o = dvae(&[
        "encode",
        "--run",
        r,
        image.to_str().unwrap(),
        "--out",
        enc.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let own = dvae::tokens::read_npy(&enc, 64, 4).unwrap();
    let (_, done) = samples(
        "d",
        &["--complete", image.to_str().unwrap(), "--keep-rows", "2"],
    );
    for i in 0..4 {
        assert_eq!(done.ids[i * 16..i * 16 + 8], own.ids[..8], "sample {i}");
    }

    // Errors name what is wrong and exit 2.
    for (extra, want) in [
        (vec!["--class", "zebra"], "circles, squares"),
        (
            vec!["--keep-rows", "9", "--complete", image.to_str().unwrap()],
            "rows",
        ),
        (vec!["--top-p", "1.5"], "top_p"),
        (vec!["--temperature=-1"], "temperature"),
    ] {
        let out = tmp.path().join("bad");
        let mut args = vec![
            "sample",
            "--run",
            r,
            "--prior",
            p,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(&extra);
        let o = dvae(&args);
        assert_clean_error(&o, want);
    }
    let o = dvae(&["sample", "--run", r, "--prior", d, "--out", p]);
    assert_clean_error(&o, "prior.json");
}

#[test]
fn priors_refuse_other_tokenizers_and_continuous_latents() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 8, 32);
    let (run, other, ae) = (
        tmp.path().join("run"),
        tmp.path().join("other"),
        tmp.path().join("ae"),
    );
    tokenizer(&data, &run, &[]);
    tokenizer(&data, &other, &["--vocab-size", "32"]);
    tokenizer(&data, &ae, &["--family", "ae"]);
    let prior = tmp.path().join("prior");
    let (d, p) = (data.to_str().unwrap(), prior.to_str().unwrap());
    // A flat folder has no classes: an unconditional PixelCNN.
    let mut args = vec![
        "prior",
        "train",
        "--run",
        run.to_str().unwrap(),
        "--data",
        d,
        "--out",
        p,
        "--steps",
        "3",
        "--kind",
        "pixelcnn",
    ];
    args.extend_from_slice(PRIOR);
    let o = dvae(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dvae(&[
        "sample",
        "--run",
        run.to_str().unwrap(),
        "--prior",
        p,
        "--n",
        "2",
        "--class",
        "a",
        "--out",
        tmp.path().join("s").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "unconditional");
    let o = dvae(&[
        "sample",
        "--run",
        other.to_str().unwrap(),
        "--prior",
        p,
        "--out",
        tmp.path().join("s").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "64 codes");
    assert_clean_error(&o, "32 codes");
    let o = dvae(&[
        "prior",
        "train",
        "--run",
        ae.to_str().unwrap(),
        "--data",
        d,
        "--out",
        tmp.path().join("p2").to_str().unwrap(),
        "--steps",
        "2",
    ]);
    assert_clean_error(&o, "continuous");
    let o = dvae(&[
        "prior",
        "train",
        "--run",
        run.to_str().unwrap(),
        "--data",
        d,
        "--out",
        tmp.path().join("p3").to_str().unwrap(),
        "--kind",
        "lstm",
    ]);
    assert_clean_error(&o, "pixelcnn");
}
