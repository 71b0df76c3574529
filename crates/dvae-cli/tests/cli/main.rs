//! End-to-end tests of the `dvae` binary on real files in temporary folders.

mod bad_input;
mod bench;
mod devices;
mod errors;
mod families;
mod faults;
mod formats;
mod import;
mod long_runs;
mod prior;
mod report;
mod same_bytes;
mod shards;
mod token_shards;
mod wgpu;
mod workflow;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the real binary.
pub fn dvae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dvae"))
        .args(args)
        .output()
        .expect("run dvae")
}

/// `dvae train --out RUN --resume` with `flags`.
pub fn resume(run: &Path, flags: &[&str]) -> Output {
    let mut args = vec!["train", "--out", run.to_str().unwrap(), "--resume"];
    args.extend_from_slice(flags);
    dvae(&args)
}

/// Asserts the one-line error of bad input: status 2, `needle` named, no panic.
pub fn assert_clean_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Asserts two safetensors files hold the same tensors, bit for bit (whatever the order of
/// their headers: files of earlier builds wrote their metadata in random order).
pub fn same_weights(a: &Path, b: &Path) {
    let (ba, bb) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    let (ta, tb) = (
        safetensors::SafeTensors::deserialize(&ba).unwrap(),
        safetensors::SafeTensors::deserialize(&bb).unwrap(),
    );
    let mut names = ta.names();
    names.sort();
    let mut other = tb.names();
    other.sort();
    assert_eq!(names, other, "{} and {}", a.display(), b.display());
    for n in names {
        let (x, y) = (ta.tensor(n).unwrap(), tb.tensor(n).unwrap());
        assert_eq!(x.shape(), y.shape(), "{n}");
        assert!(
            x.data() == y.data(),
            "{n} differs: {} vs {}",
            a.display(),
            b.display()
        );
    }
}

/// Trains a `SMALL` model with `flags` (steps, checkpoints, …) on 12 PNGs written to
/// `dir/data`; returns the run directory `dir/run`.
pub fn small_run(dir: &Path, flags: &[&str]) -> PathBuf {
    let data = dir.join("data");
    write_pngs(&data, 12, 32);
    let run = dir.join("run");
    train_small(&data, &run, flags);
    run
}

/// Trains a `SMALL` model on `data` into `run`; `flags` are added, and replace `SMALL`'s
/// own where they name the same flag.
pub fn train_small(data: &Path, run: &Path, flags: &[&str]) {
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    for pair in SMALL.chunks(2) {
        if !flags.contains(&pair[0]) {
            args.extend_from_slice(pair);
        }
    }
    let o = dvae(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Records that part of a test did not run: prints `SKIPPED: WHAT: WHY` on stderr and
/// appends the same line to `target/tmp/skipped-tests.txt` (Cargo's `CARGO_TARGET_TMPDIR`),
/// which `.ci/run` counts after the suite, so a skip is never silent. The line is written
/// to the process's stderr itself, not through `eprintln!`, which the test harness
/// captures (and shows only for a failing test).
pub fn skipped(what: &str, why: &str) {
    use std::io::Write;
    let line = format!("SKIPPED: {what}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = appended {
        panic!("cannot record the skip in {}: {e}", file.display());
    }
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Writes `n` real PNG files (procedural images of `size`) into `dir`.
pub fn write_pngs(dir: &Path, n: usize, size: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let px = dvae::data::procedural::draw(3, i, size);
            let p = dir.join(format!("img{i:03}.png"));
            image::RgbImage::from_raw(size as u32, size as u32, px)
                .unwrap()
                .save(&p)
                .unwrap();
            p
        })
        .collect()
}

/// `n` PNGs of `size`×`size` written to `dir/pngs` and packed by `dvae pack` into JPEG
/// shards of `shard_size` samples in `dir/shards`; returns that folder.
pub fn jpeg_shards(dir: &Path, n: usize, size: usize, shard_size: usize) -> PathBuf {
    let pngs = dir.join("pngs");
    write_pngs(&pngs, n, size);
    let shards = dir.join("shards");
    let o = dvae(&[
        "pack",
        pngs.to_str().unwrap(),
        "--out",
        shards.to_str().unwrap(),
        "--shard-size",
        &shard_size.to_string(),
        "--format",
        "jpeg",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    shards
}

/// Starts `dvae args` (a training run writing `run`), waits until its log has `lines`
/// lines, sends SIGINT, and asserts it stopped after a checkpoint with status 130;
/// returns its output.
pub fn interrupt_after(args: &[&str], run: &Path, lines: usize) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_dvae"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = run.join("log.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(true, |l| l.lines().count() < lines) {
        assert!(t0.elapsed().as_secs() < 120, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Flags for a very small model that trains in seconds.
pub const SMALL: &[&str] = &[
    "--preset",
    "tiny",
    "--image-size",
    "32",
    "--n-hid",
    "8",
    "--vocab-size",
    "64",
    "--n-init",
    "16",
    "--batch",
    "4",
];
