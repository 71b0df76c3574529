//! `--devices`: data-parallel training from the command line (two replicas on the CPU, the
//! one kind of device every build has), and the devices it refuses.

use crate::{assert_clean_error, dvae, resume, small_run, write_pngs};

#[test]
fn two_cpu_replicas_train_a_run_that_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path(), &["--devices", "cpu,cpu", "--steps", "2"]);
    assert!(run.join("model.safetensors").exists());
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    assert!(log.contains("\"step\":2"), "{log}");
    // --devices is the process's, not the run's: a resume may use it or not.
    let o = resume(&run, &["--steps", "3", "--devices", "cpu,cpu"]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
    assert!(log.contains("\"step\":3"), "{log}");
}

#[test]
fn devices_of_two_kinds_or_beside_device_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 4, 32);
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "train".to_string(),
            "--data".into(),
            data.to_str().unwrap().into(),
            "--out".into(),
            tmp.path().join("run").to_str().unwrap().into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        dvae(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_clean_error(&run(&["--devices", "cpu,wgpu:0"]), "one kind");
    assert_clean_error(&run(&["--devices", "cpu,gpu"]), "expected cpu");
    assert_clean_error(
        &run(&["--device", "cpu", "--devices", "cpu,cpu"]),
        "cannot be used with",
    );
    #[cfg(not(feature = "wgpu"))]
    assert_clean_error(&run(&["--devices", "wgpu:0,wgpu:1"]), "--features wgpu");
    assert!(!tmp.path().join("run").exists(), "a refused run left files");
}
