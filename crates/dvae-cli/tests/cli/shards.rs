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
    let pngs = tmp.path().join("pngs");
    write_pngs(&pngs, 16, 32);
    let heldout = tmp.path().join("heldout");
    write_pngs(&heldout, 3, 32);
    let shards = tmp.path().join("shards");
    let o = dvae(&[
        "pack",
        pngs.to_str().unwrap(),
        "--out",
        shards.to_str().unwrap(),
        "--shard-size",
        "6",
        "--format",
        "jpeg",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
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
