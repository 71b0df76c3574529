//! Long runs on shared machines: SIGTERM (a scheduler's preemption), timed checkpoints,
//! the run directory's lock, and the flags `--resume` takes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::*;

/// `dvae train` on `data` into `run` (seed 5, `SMALL`) with `flags`.
fn train(run: &Path, data: &Path, flags: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dvae"));
    c.args(["train", "--out", run.to_str().unwrap()]);
    c.args(["--data", data.to_str().unwrap(), "--seed", "5"]);
    c.args(flags).args(SMALL);
    c
}

/// Waits until `done` holds, failing if `child` ends first or after two minutes.
fn wait_for(child: &mut Child, what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {what}"
        );
        assert!(t0.elapsed().as_secs() < 120, "{what} never happened");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lines in the run's log.jsonl.
fn logged(run: &Path) -> usize {
    std::fs::read_to_string(run.join("log.jsonl")).map_or(0, |l| l.lines().count())
}

/// The step of the checkpoint `checkpoint/LATEST` names.
fn latest_step(run: &Path) -> usize {
    let name = std::fs::read_to_string(run.join("checkpoint/LATEST")).unwrap();
    let step = name.trim().trim_start_matches("step-");
    step.split('.').next().unwrap().parse().unwrap()
}

fn send(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

#[test]
fn sigterm_and_timed_checkpoints_resume_to_the_weights_of_an_uninterrupted_run() {
    const STEPS: &str = "120";
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 20, 32);
    // One checkpoint, at the end: any earlier one is SIGTERM's or the clock's.
    let flags = [
        "--steps",
        STEPS,
        "--checkpoint-every",
        STEPS,
        "--log-every",
        "1",
    ];
    let reference = tmp.path().join("reference");
    let o = train(&reference, &data, &flags).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = std::fs::read(reference.join("model.safetensors")).unwrap();

    // SIGTERM mid-run: a checkpoint, then exit status 143 (128 + SIGTERM).
    let run = tmp.path().join("sigterm");
    let mut child = train(&run, &data, &flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&mut child, "step 3", || logged(&run) >= 3);
    send(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let stopped = latest_step(&run);
    assert!((3..120).contains(&stopped), "checkpoint at step {stopped}");
    let o = resume(&run, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(run.join("model.safetensors")).unwrap() == want,
        "resumed after SIGTERM at step {stopped}: model.safetensors differs"
    );

    // --checkpoint-every-minutes: a checkpoint by the clock, which a SIGKILL then falls
    // back to; the weights are still the uninterrupted run's.
    killed_after_a_timed_checkpoint_resumes(&tmp.path().join("timed"), &data, &flags, &want);
}

/// Trains `data` into `run` with `flags` and a checkpoint by the clock every 60 ms,
/// SIGKILLs it once the first is written (before any by the step count: `flags` have
/// one at the end only), resumes it, and checks the run ends with the weights `want`.
fn killed_after_a_timed_checkpoint_resumes(run: &Path, data: &Path, flags: &[&str], want: &[u8]) {
    let run = run.to_path_buf();
    let mut timed = flags.to_vec();
    timed.extend(["--checkpoint-every-minutes", "0.001"]);
    let mut child = train(&run, data, &timed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&mut child, "a timed checkpoint", || {
        run.join("checkpoint/LATEST").is_file()
    });
    child.kill().unwrap(); // SIGKILL: nothing of the process's own runs
    child.wait().unwrap();
    let at = latest_step(&run);
    assert!(at < 120, "timed checkpoint at step {at}");
    let evals = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    assert!(
        !evals.contains("\"kind\":\"eval\""),
        "a timed checkpoint does not evaluate: {evals}"
    );
    let o = resume(&run, &["--checkpoint-every-minutes", "0.001"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(run.join("model.safetensors")).unwrap() == want,
        "resumed from the timed checkpoint of step {at}: model.safetensors differs"
    );
}

/// The same on a shard stream: a timed checkpoint holds the stream's position too.
#[test]
fn a_timed_checkpoint_of_a_shard_stream_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let pngs = tmp.path().join("pngs");
    write_pngs(&pngs, 20, 32);
    let shards = tmp.path().join("shards");
    let (pngs_s, shards_s) = (pngs.to_str().unwrap(), shards.to_str().unwrap());
    let o = dvae(&["pack", pngs_s, "--out", shards_s, "--shard-size", "7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let data = tmp.path().join("shards/train-{000000..000002}.tar");
    let flags = [
        "--steps",
        "120",
        "--checkpoint-every",
        "120",
        "--log-every",
        "1",
        "--shuffle-buffer",
        "3",
    ];
    let reference = tmp.path().join("reference");
    let o = train(&reference, &data, &flags).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = std::fs::read(reference.join("model.safetensors")).unwrap();
    killed_after_a_timed_checkpoint_resumes(&tmp.path().join("timed"), &data, &flags, &want);
}

#[test]
fn a_run_in_training_is_locked_and_a_dead_holder_does_not_block() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 12, 32);
    let run = tmp.path().join("run");
    let long = ["--steps", "1000000", "--checkpoint-every", "1000000"];
    let mut first = train(&run, &data, &long)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&mut first, "training", || logged(&run) >= 1);
    let pid = first.id().to_string();
    let run_s = run.to_str().unwrap();

    // Resuming it, or starting a new run in it (it has no checkpoint yet, so only the lock
    // stops that), is refused, naming the directory and the holder.
    let o = resume(&run, &[]);
    assert_clean_error(&o, run_s);
    assert!(
        stderr(&o).contains(&format!("process {pid}")),
        "{}",
        stderr(&o)
    );
    let config = std::fs::read(run.join("config.json")).unwrap();
    let o = train(&run, &data, &["--steps", "2", "--lr", "0.5"])
        .output()
        .unwrap();
    assert_clean_error(&o, &format!("process {pid}"));
    assert!(stderr(&o).contains(run_s), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(run.join("config.json")).unwrap(),
        config,
        "the refused run did not touch config.json"
    );

    // Killed, it leaves its lock file, which no longer blocks anyone.
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(std::fs::read_to_string(run.join(".lock")).unwrap(), pid);
    let o = resume(&run, &["--steps", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read_to_string(run.join(".lock")).unwrap(), pid);
}

#[test]
fn resume_refuses_flags_that_change_the_run_and_takes_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path(), &["--steps", "2", "--lr", "0.001"]);

    let o = resume(&run, &["--lr", "0.5"]);
    assert_clean_error(&o, "--lr: cannot change on --resume (the run has lr 0.001)");
    let o = resume(&run, &["--preset", "small", "--batch", "8"]);
    assert_clean_error(
        &o,
        "--preset: cannot change on --resume (the run has preset \"tiny\")",
    );
    assert!(stderr(&o).contains("--batch: cannot change on --resume (the run has batch 4)"));
    let o = resume(&run, &["--commitment", "0.5"]);
    assert_clean_error(
        &o,
        "--commitment: an option of --family vqvae, and the run is a dvae",
    );
    let o = resume(&run, &["--tau-end", "0.1"]);
    assert_clean_error(
        &o,
        "--tau-end: cannot change on --resume (the run has tau_end",
    );
    let o = resume(&run, &["--data", "default"]);
    assert_clean_error(&o, "--data: cannot change on --resume");
    let config = std::fs::read(run.join("config.json")).unwrap();
    assert!(
        String::from_utf8_lossy(&config).contains("\"steps\": 2"),
        "refused flags change nothing"
    );

    // The run's own values (as a job script repeats its command line), the flags that do
    // not change the run's numbers, and --steps, which extends it and is recorded.
    let o = resume(
        &run,
        &[
            "--steps",
            "3",
            "--lr",
            "1e-3",
            "--batch",
            "4",
            "--preset",
            "tiny",
            "--strict",
            "--checkpoint-every-minutes",
            "30",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("done: 3 steps"), "{}", stdout(&o));
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"steps\": 3"), "{config}");

    let help = stdout(&dvae(&["train", "--help"]));
    assert!(
        help.contains("Resume: --resume continues the run") && help.contains("status 143"),
        "{help}"
    );
    let o = dvae(&["train", "--checkpoint-every-minutes", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("positive number of minutes"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sigterm_stops_a_prior_after_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path(), &["--steps", "2"]);
    let prior = tmp.path().join("prior");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dvae"))
        .args(["prior", "train", "--run", run.to_str().unwrap()])
        .args(["--data", tmp.path().join("data").to_str().unwrap()])
        .args(["--out", prior.to_str().unwrap(), "--steps", "1000000"])
        .args([
            "--width", "16", "--layers", "1", "--heads", "2", "--batch", "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&mut child, "a logged prior step", || logged(&prior) >= 1);
    send(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(latest_step(&prior) >= 1, "{err}");
}
