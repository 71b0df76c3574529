//! `dvae pack` and training on its shards: validated packing, a streamed run with a
//! separate evaluation set and augmentation, the same files twice from one seed.

use std::path::Path;

use crate::*;

/// PNGs in two class folders, plus one file that is not an image and one broken PNG.
fn classed_folder(dir: &Path) {
    write_pngs(&dir.join("cats"), 5, 32);
    write_pngs(&dir.join("dogs"), 4, 32);
    std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    std::fs::write(dir.join("dogs/broken.png"), b"\x89PNG\r\n\x1a\nshort").unwrap();
}

#[test]
fn pack_validates_every_image_and_writes_webdataset_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    classed_folder(&input);
    let out = tmp.path().join("shards");
    let o = dvae(&[
        "pack",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--shard-size",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("skipped 2 files"), "{err}");
    assert!(
        err.contains("broken.png") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(
        stdout(&o).contains("packed 9 images into 3 shards"),
        "{}",
        stdout(&o)
    );
    let mut members = Vec::new();
    for shard in ["train-000000.tar", "train-000001.tar", "train-000002.tar"] {
        let f = std::fs::File::open(out.join(shard)).unwrap();
        for e in tar::Archive::new(f).entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut body = String::new();
            if name.ends_with(".cls") {
                std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            }
            members.push((name, body));
        }
    }
    assert_eq!(members.len(), 18, "an image and a class each: {members:?}");
    assert_eq!(members[0], ("000000.png".into(), String::new()));
    assert_eq!(members[1], ("000000.cls".into(), "0".into()));
    assert_eq!(members[17], ("000008.cls".into(), "1".into()));
    // The same input packs to the same bytes.
    let again = tmp.path().join("again");
    let o = dvae(&[
        "pack",
        input.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--shard-size",
        "4",
    ]);
    assert!(o.status.success());
    for shard in ["train-000000.tar", "train-000002.tar"] {
        assert_eq!(
            std::fs::read(out.join(shard)).unwrap(),
            std::fs::read(again.join(shard)).unwrap(),
            "{shard}"
        );
    }
    let strict = tmp.path().join("strict");
    let o = dvae(&[
        "pack",
        input.to_str().unwrap(),
        "--out",
        strict.to_str().unwrap(),
        "--strict",
    ]);
    assert_clean_error(&o, "notes.txt");
}

#[test]
fn trains_on_a_stream_with_a_separate_eval_set_and_augmentation() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = jpeg_shards(tmp.path(), 16, 32, 6);
    let heldout = tmp.path().join("heldout");
    write_pngs(&heldout, 3, 32);
    let flags = [
        "--eval-data",
        heldout.to_str().unwrap(),
        "--crop-scale",
        "0.5,1",
        "--hflip",
        "--shuffle-buffer",
        "5",
        "--steps",
        "6",
        "--checkpoint-every",
        "3",
    ];
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    train_small(&shards, &a, &flags);
    train_small(&shards, &b, &flags);
    same_weights(&a.join("model.safetensors"), &b.join("model.safetensors"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("config.json")).unwrap()).unwrap();
    let t = &config["train"];
    assert_eq!(t["augment"]["crop_scale"], serde_json::json!([0.5, 1.0]));
    assert_eq!(t["augment"]["hflip"], true);
    assert_eq!(t["shuffle_buffer"], 5);
    assert_eq!(t["eval_data"], heldout.to_str().unwrap());
    let log = std::fs::read_to_string(a.join("log.jsonl")).unwrap();
    let eval = log.lines().rev().find(|l| l.contains("\"eval\"")).unwrap();
    assert!(
        eval.contains("\"images\":3"),
        "evaluated on the separate set: {eval}"
    );
    let step = log
        .lines()
        .find(|l| l.contains("\"kind\":\"step\""))
        .unwrap();
    assert!(step.contains("\"data_wait_s\":"), "{step}");
    // Without augmentation the run differs: the flags did something.
    let c = tmp.path().join("c");
    train_small(
        &shards,
        &c,
        &flags[..2]
            .iter()
            .chain(&flags[5..])
            .copied()
            .collect::<Vec<_>>(),
    );
    let (wa, wc) = (
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(c.join("model.safetensors")).unwrap(),
    );
    assert_ne!(wa, wc);

    let bad = dvae(&[
        "train",
        "--data",
        shards.to_str().unwrap(),
        "--crop-scale",
        "0.9,0.5",
        "--out",
        tmp.path().join("d").to_str().unwrap(),
    ]);
    assert_clean_error(&bad, "--crop-scale");
}

#[test]
fn a_streamed_folder_resumes_exactly_and_holds_out_what_memory_holds_out() {
    let tmp = tempfile::tempdir().unwrap();
    let pngs = tmp.path().join("pngs");
    write_pngs(&pngs, 20, 32);
    let flags = [
        "--stream",
        "--holdout",
        "0.2",
        "--steps",
        "150",
        "--checkpoint-every",
        "50",
    ];
    let whole = tmp.path().join("whole");
    train_small(&pngs, &whole, &flags);
    // Stopped by SIGINT part-way (a checkpoint of the stream's position), then resumed.
    let parts = tmp.path().join("parts");
    let mut args = vec![
        "train",
        "--data",
        pngs.to_str().unwrap(),
        "--out",
        parts.to_str().unwrap(),
        "--log-every",
        "1",
    ];
    args.extend_from_slice(&flags);
    args.extend_from_slice(SMALL);
    interrupt_after(&args, &parts, 5);
    let latest = std::fs::read_to_string(parts.join("checkpoint/LATEST")).unwrap();
    let state = std::fs::read_to_string(
        parts
            .join("checkpoint")
            .join(latest.trim())
            .join("state.json"),
    )
    .unwrap();
    assert!(state.contains("\"stream\""), "{state}");
    let o = resume(&parts, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    same_weights(
        &whole.join("model.safetensors"),
        &parts.join("model.safetensors"),
    );
    // The same 4 of 20 images held out as in memory.
    let last_eval = |run: &Path| {
        let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
        let l = log
            .lines()
            .rev()
            .find(|l| l.contains("\"eval\""))
            .unwrap()
            .to_string();
        serde_json::from_str::<serde_json::Value>(&l).unwrap()
    };
    assert_eq!(last_eval(&whole)["images"], 4);
    let memory = tmp.path().join("memory");
    train_small(&pngs, &memory, &flags[1..]);
    assert_eq!(last_eval(&memory)["images"], 4);
}
