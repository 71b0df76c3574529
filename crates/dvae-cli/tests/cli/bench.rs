//! `dvae bench` runs and prints the promised JSON keys (CI checks it runs, not its speed).

use crate::*;

fn bench_json(workload: &str) -> serde_json::Value {
    let o = dvae(&[
        "bench",
        "--workload",
        workload,
        "--batch",
        "2",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).expect("one JSON object")
}

#[test]
fn tiny_and_bench_workloads_report_throughput() {
    for workload in ["tiny", "bench"] {
        let r = bench_json(workload);
        assert_eq!(r["workload"], workload);
        assert_eq!(r["batch"], 2);
        assert_eq!(r["threads"], 1);
        for key in ["train_img_s", "encode_img_s", "decode_img_s", "peak_rss_mb"] {
            let v = r[key].as_f64().unwrap_or(0.0);
            assert!(v > 0.0, "{workload}: {key} = {}", r[key]);
        }
    }
}

#[test]
fn unknown_workload_is_a_clean_error() {
    let o = dvae(&["bench", "--workload", "huge"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("huge"), "{}", stderr(&o));
}
