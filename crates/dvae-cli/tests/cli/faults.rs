//! Faults during a run: SIGKILL at random moments, a NaN loss, a full disk. (Ctrl-C is
//! tested in `workflow.rs`.)

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::*;

/// `dvae train` of the `tiny` preset (shrunk by `SMALL`) on `data`, writing `run`; resumes
/// when `run` already holds a config.json.
fn train(run: &Path, data: &Path, steps: usize, checkpoint_every: usize) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dvae"));
    c.args(["train", "--out", run.to_str().unwrap()]);
    if run.join("config.json").is_file() {
        c.args(["--resume"]);
    } else {
        c.args([
            "--data",
            data.to_str().unwrap(),
            "--seed",
            "5",
            "--holdout",
            "0.2",
        ]);
        c.args(["--steps", &steps.to_string()]);
        c.args(["--checkpoint-every", &checkpoint_every.to_string()]);
        c.args(SMALL);
    }
    c
}

/// Whether a write was under way: a file or checkpoint folder under its temporary name.
/// (A resumed run removes those a kill left, so any found were written by the last run.)
fn write_in_progress(run: &Path) -> bool {
    let temp = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        })
    };
    temp(run) || temp(&run.join("checkpoint")) || temp(&run.join("grids"))
}

/// A xorshift generator: the kill times are random but the same on every run of the test.
fn uniform(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether `dir` holds an entry named by `wanted`.
fn has_entry(dir: &Path, wanted: impl Fn(&str) -> bool) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.flatten()
            .any(|e| wanted(&e.file_name().to_string_lossy()))
    })
}

/// Runs `train` on `run` with every atomic write paused (`DVAE_PAUSE_IN_WRITE_MS`, the
/// library's test hook: it sleeps after a temporary is complete, before its rename), waits
/// until the checkpoint folder holds a temporary that `wanted` names, and kills the run
/// with SIGKILL while that write is under way. Returns whether the temporary was still
/// there after the kill (the kill landed inside the write).
fn kill_inside_write(
    run: &Path,
    data: &Path,
    steps: usize,
    wanted: impl Fn(&str, u32) -> bool,
) -> bool {
    let mut child = train(run, data, steps, 1)
        .env("DVAE_PAUSE_IN_WRITE_MS", "400")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let checkpoints = run.join("checkpoint");
    let t0 = Instant::now();
    while !has_entry(&checkpoints, |n| wanted(n, pid)) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the paused run ended before the awaited write"
        );
        assert!(
            t0.elapsed().as_secs() < 120,
            "the awaited write never began"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL, well inside the 400 ms pause
    child.wait().unwrap();
    has_entry(&checkpoints, |n| wanted(n, pid))
}

#[test]
fn sigkill_at_random_moments_never_costs_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 20, 32);
    survives_sigkills(tmp.path(), &data, 12);
}

/// The same on a shard stream (3 shards, a shuffle buffer smaller than a shard): the
/// stream's position is in each checkpoint, so the resumed runs see the same batches.
#[test]
fn sigkill_on_a_sharded_stream_never_costs_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    jpeg_shards(tmp.path(), 20, 32, 7);
    let spec = tmp.path().join("shards/train-{000000..000002}.tar");
    survives_sigkills(tmp.path(), &spec, 6);
}

/// Trains `data` once uninterrupted, then again under SIGKILLs (two of them inside a
/// checkpoint write, then `kills` in all at random moments), resuming each time; the
/// weights must end the same.
fn survives_sigkills(tmp: &Path, data: &Path, kills_wanted: usize) {
    const STEPS: usize = 24;
    let reference = tmp.join("reference");
    let t0 = Instant::now();
    let o = train(&reference, data, STEPS, 1).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let full = t0.elapsed();

    let run = tmp.join("run");
    // Two kills inside a write on every run of the test (random moments land in one only by
    // chance): first in the folder of the second checkpoint, once the first is complete
    // (a fresh run directory, so the temporary is this run's); then, resumed, in the write
    // of `LATEST` that would name the next one (the temporary carries the run's pid), which
    // leaves a complete checkpoint folder that `LATEST` does not name.
    let mut mid_write = 0;
    let first_done = || run.join("checkpoint/LATEST").is_file();
    let folder = |n: &str| n.starts_with(".step-") && n.ends_with(".tmp");
    let latest = |n: &str, pid: u32| n == format!(".LATEST.{pid}.tmp");
    assert!(
        kill_inside_write(&run, data, STEPS, |n, _| first_done() && folder(n)),
        "the kill missed the checkpoint folder's write"
    );
    mid_write += 1;
    assert!(
        kill_inside_write(&run, data, STEPS, latest),
        "the kill missed the write of LATEST"
    );
    mid_write += 1;

    let (mut kills, mut rng) = (2, 0x2545_f491_4f6c_dd1d_u64);
    while kills < kills_wanted {
        let mut child = train(&run, data, STEPS, 1)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(0.05 + 0.3 * uniform(&mut rng)));
        match child.try_wait().unwrap() {
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                mid_write += write_in_progress(&run) as usize;
            }
            // Finished before the kill: the run must match; start another one.
            Some(status) => {
                assert!(status.success(), "a resumed run failed");
                same_weights(
                    &reference.join("model.safetensors"),
                    &run.join("model.safetensors"),
                );
                std::fs::remove_dir_all(&run).unwrap();
            }
        }
    }
    let o = train(&run, data, STEPS, 1).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    same_weights(
        &reference.join("model.safetensors"),
        &run.join("model.safetensors"),
    );
    let last = |r: &Path| {
        let name = std::fs::read_to_string(r.join("checkpoint/LATEST")).unwrap();
        assert!(name.starts_with("step-00000024"), "{name}");
        r.join("checkpoint").join(name).join("ema.safetensors")
    };
    same_weights(&last(&reference), &last(&run));
    assert!(mid_write >= 2, "{mid_write} kills inside a write");
    eprintln!(
        "survived {kills}/{kills_wanted} SIGKILLs, {mid_write} during a write; reference run {full:?}"
    );
}

#[test]
fn a_non_finite_step_rolls_back_once_then_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 20, 32);
    // One fault at step 5: step 5 is not applied, the run goes back to step 4 with half
    // the learning rate and finishes.
    let once = tmp.path().join("once");
    let o = train(&once, &data, 6, 2)
        .env("DVAE_INJECT_NAN", "5")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("step 5: non-finite loss") && err.contains("rolled back to step 4"),
        "{err}"
    );
    let state = std::fs::read_to_string(once.join("checkpoint/step-00000006/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["lr_scale"], 0.5);
    assert_eq!(state["rolled_back_to"], 4);
    let steps: Vec<u64> = std::fs::read_to_string(once.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "step")
        .map(|v| v["step"].as_u64().unwrap())
        .collect();
    assert!(
        steps.is_sorted_by(|a, b| a < b),
        "each step logged once: {steps:?}"
    );

    // A second fault stops the run with a clear message; its checkpoint is intact and
    // resumes (here without the injected faults).
    let twice = tmp.path().join("twice");
    let o = train(&twice, &data, 6, 2)
        .env("DVAE_INJECT_NAN", "3,5")
        .output()
        .unwrap();
    assert_clean_error(
        &o,
        "non-finite loss at step 5, again after rolling back to step 2",
    );
    let latest = std::fs::read_to_string(twice.join("checkpoint/LATEST")).unwrap();
    assert_eq!(latest, "step-00000004");
    let o = train(&twice, &data, 6, 2).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_full_disk_is_a_clear_error_and_keeps_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 20, 32);
    // Both runs: 2 steps, then resumed to 4 (the reference without a fault).
    let reference = tmp.path().join("reference");
    assert!(train(&reference, &data, 2, 2).status().unwrap().success());
    let o = resume(&reference, &["--steps", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = tmp.path().join("run");
    assert!(train(&run, &data, 2, 2).status().unwrap().success());
    let run_s = run.to_str().unwrap();

    // Files may not grow past a limit, so the next checkpoint cannot be written. (Running
    // as root, permissions would not stop the writes; a file-size limit does.) The limits
    // stop the grid PNG, model.safetensors and the checkpoint's optimizer state.
    for (limit, file) in [
        (4_000, "recon-step-00000004.png"),
        (20_000, "model.safetensors"),
        (300_000, "checkpoint of step 4 was not written"),
    ] {
        let mut full_disk = Command::new(env!("CARGO_BIN_EXE_dvae"));
        full_disk.args(["train", "--resume", "--out", run_s, "--steps", "4"]);
        // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
        unsafe {
            full_disk.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let o = full_disk.output().unwrap();
        assert_clean_error(&o, "File too large");
        assert!(
            stderr(&o).contains(run_s) && stderr(&o).contains(file),
            "{}",
            stderr(&o)
        );
        let latest = std::fs::read_to_string(run.join("checkpoint/LATEST")).unwrap();
        assert_eq!(
            latest, "step-00000002",
            "the previous checkpoint stays current"
        );
        let left: Vec<_> = std::fs::read_dir(run.join("checkpoint")).unwrap().collect();
        assert_eq!(left.len(), 2, "LATEST and step-00000002 only");
    }

    // With space again, the run resumes from it and ends as an uninterrupted run.
    let o = resume(&run, &["--steps", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    same_weights(
        &reference.join("model.safetensors"),
        &run.join("model.safetensors"),
    );

    // An output path below a regular file: named, status 2.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let under = file.join("run");
    let o = train(&under, &data, 2, 2).output().unwrap();
    assert_clean_error(&o, under.to_str().unwrap());
}
