//! Bad input: one clear line naming the thing, exit status 2, no panic.

use crate::*;

#[test]
fn corrupt_and_non_image_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 6, 32);
    let bad = data.join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not really a png").unwrap();
    std::fs::write(data.join("empty.jpg"), b"").unwrap();
    std::fs::write(data.join("notes.txt"), b"hello").unwrap();
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());

    // --strict: the first bad file is an error naming it.
    let mut args = vec![
        "train", "--data", data_s, "--out", run_s, "--steps", "1", "--strict",
    ];
    args.extend_from_slice(SMALL);
    assert_clean_error(&dvae(&args), "notes.txt");
    std::fs::remove_file(data.join("notes.txt")).unwrap();
    assert_clean_error(&dvae(&args), "broken.png");
    std::fs::write(data.join("notes.txt"), b"hello").unwrap();

    // Default: skipped with a count, and training goes on.
    args.retain(|a| *a != "--strict");
    let o = dvae(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("skipped 3 files"), "{}", stderr(&o));

    // A corrupt file named explicitly is an error naming it.
    let o = dvae(&[
        "encode",
        "--run",
        run_s,
        bad.to_str().unwrap(),
        "--out",
        tmp.path().join("t.npy").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "broken.png");
    let o = dvae(&[
        "reconstruct",
        "--run",
        run_s,
        data.join("empty.jpg").to_str().unwrap(),
        "--out",
        tmp.path().join("r").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "empty.jpg");

    // Tokens out of range for the model.
    let t = tmp.path().join("bad.npy");
    dvae::tokens::write_npy(
        &t,
        &dvae::tokens::TokenGrids {
            n: 1,
            h: 4,
            w: 4,
            ids: vec![70; 16],
        },
    )
    .unwrap();
    let o = dvae(&[
        "decode",
        "--run",
        run_s,
        t.to_str().unwrap(),
        "--out",
        tmp.path().join("d").to_str().unwrap(),
    ]);
    assert_clean_error(&o, "bad.npy");
}

#[test]
fn bad_flags_and_run_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let run_s = tmp.path().join("run");
    let run_s = run_s.to_str().unwrap();
    for (flag, value, needle) in [
        ("--tau-start", "0", "tau_start"),
        ("--batch", "0", "batch"),
        ("--steps", "0", "steps"),
    ] {
        let o = dvae(&["train", "--out", run_s, flag, value]);
        assert_clean_error(&o, needle);
    }
    assert_clean_error(
        &dvae(&["train", "--preset", "huge", "--out", run_s]),
        "preset",
    );
    assert_clean_error(
        &dvae(&[
            "train",
            "--data",
            "/no/such/folder",
            "--out",
            run_s,
            "--steps",
            "1",
        ]),
        "/no/such/folder",
    );
    // Not a run directory / corrupt config.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = dvae(&["eval", "--run", empty.to_str().unwrap()]);
    assert_clean_error(&o, "config.json");
    std::fs::write(empty.join("config.json"), b"{ not json").unwrap();
    assert_clean_error(
        &dvae(&["eval", "--run", empty.to_str().unwrap()]),
        "config.json",
    );
    // Unknown flags are usage errors (status 2).
    assert_eq!(dvae(&["train", "--no-such-flag"]).status.code(), Some(2));
}
