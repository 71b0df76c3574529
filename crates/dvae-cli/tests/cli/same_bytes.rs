//! The same run writes the same bytes: every file of two identical training runs, token
//! files and decoded PNGs; and token files in numpy's Fortran order read like C order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::*;

/// Every file under `root` by its path relative to `root`, with its bytes.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// log.jsonl without the fields that hold wall-clock time: `img_s`, `step_s` and
/// `data_wait_s`, each logged step's throughput, duration and time waiting for data.
fn without_time(log: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(log)
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(o) = v.as_object_mut() {
                for field in ["img_s", "step_s", "data_wait_s"] {
                    o.remove(field);
                }
            }
            v
        })
        .collect()
}

#[test]
fn identical_runs_write_identical_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_pngs(&data, 12, 32);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let flags = ["--steps", "4", "--checkpoint-every", "2", "--seed", "9"];
    for run in [&a, &b] {
        train_small(&data, run, &flags);
    }
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the same files"
    );
    // What a run directory holds; every one of them is compared.
    for f in [
        "config.json",
        "model.safetensors",
        "recon.png",
        "curves.png",
        "grids/recon-step-00000002.png",
        "checkpoint/LATEST",
        "checkpoint/step-00000004/weights.bpk",
        "checkpoint/step-00000004/optim.bpk",
        "checkpoint/step-00000004/ema.safetensors",
        "checkpoint/step-00000004/state.json",
    ] {
        assert!(
            fa.contains_key(Path::new(f)),
            "{f} missing: {:?}",
            fa.keys()
        );
    }
    for (name, bytes) in &fa {
        match name.to_str().unwrap() {
            // The pid of the process that held the run's lock last; wall-clock fields.
            ".lock" => {}
            "log.jsonl" => assert_eq!(without_time(bytes), without_time(&fb[name])),
            n => assert!(*bytes == fb[name], "{n} differs between identical runs"),
        }
    }

    // Token files and decoded images: the same bytes on every run.
    let a_s = a.to_str().unwrap();
    let mut tokens = Vec::new();
    for i in 0..2 {
        let out = tmp.path().join(format!("tokens{i}.npy"));
        let o = dvae(&[
            "encode",
            "--run",
            a_s,
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let dec = tmp.path().join(format!("decoded{i}"));
        let o = dvae(&[
            "decode",
            "--run",
            a_s,
            out.to_str().unwrap(),
            "--out",
            dec.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        tokens.push((std::fs::read(&out).unwrap(), files(&dec)));
    }
    assert!(tokens[0].0 == tokens[1].0, "token files differ");
    assert!(tokens[0].1 == tokens[1].1, "decoded PNGs differ");
    assert_eq!(tokens[0].1.len(), 13, "12 images and grid.png");

    // The same grids in Fortran order (numpy's np.asfortranarray), written by hand:
    // decoded to the same images.
    let c = &tokens[0].0;
    let header_len = u16::from_le_bytes([c[8], c[9]]) as usize;
    let data_c = &c[10 + header_len..];
    let n = 12;
    let g = ((data_c.len() / 2 / n) as f64).sqrt() as usize;
    assert_eq!(2 * n * g * g, data_c.len());
    let header = format!("{{'descr': '<u2', 'fortran_order': True, 'shape': ({n}, {g}, {g}), }}");
    let mut header = header.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut f = b"\x93NUMPY\x01\x00".to_vec();
    f.extend((header.len() as u16).to_le_bytes());
    f.extend(&header);
    for k in 0..g {
        for j in 0..g {
            for i in 0..n {
                let at = 2 * ((i * g + j) * g + k);
                f.extend(&data_c[at..at + 2]);
            }
        }
    }
    let fortran = tmp.path().join("fortran.npy");
    std::fs::write(&fortran, &f).unwrap();
    let dec = tmp.path().join("decoded-fortran");
    let o = dvae(&[
        "decode",
        "--run",
        a_s,
        fortran.to_str().unwrap(),
        "--out",
        dec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        files(&dec) == tokens[0].1,
        "a Fortran-order file decodes differently"
    );
}
