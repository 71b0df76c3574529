//! Sharded tokenization: `dvae encode --shard I/N` on N slices, `dvae merge-tokens`, and
//! the result byte for byte that of one unsharded run.

use std::path::{Path, PathBuf};

use crate::*;

/// `dvae encode --run RUN INPUTS --out OUT` with `flags`.
fn encode(run: &Path, inputs: &[PathBuf], out: &Path, flags: &[&str]) -> std::process::Output {
    let mut args = vec!["encode", "--run", run.to_str().unwrap()];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(flags);
    dvae(&args)
}

fn merge(shards: &[PathBuf], out: &Path) -> std::process::Output {
    let mut args = vec!["merge-tokens"];
    args.extend(shards.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    dvae(&args)
}

/// Encodes `inputs` unsharded and as 3 shards (with another batch size), merges the
/// shards, and checks the merged files are the unsharded ones; returns the shard files.
fn sharded_equals_unsharded(
    run: &Path,
    inputs: &[PathBuf],
    dir: &Path,
    sizes: [usize; 3],
) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let whole = dir.join("whole.npy");
    let o = encode(run, inputs, &whole, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.join("tokens.npy");
    let mut shards = Vec::new();
    for i in (0..3).rev() {
        let o = encode(
            run,
            inputs,
            &out,
            &["--shard", &format!("{i}/3"), "--batch", "2"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let shard = dir.join(format!("tokens-{i}-of-3.npy"));
        let paths: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(shard.with_extension("json")).unwrap())
                .unwrap();
        assert_eq!(paths.len(), sizes[i], "shard {i}/3");
        shards.push(shard);
    }
    let merged = dir.join("merged.npy");
    let o = merge(&shards, &merged);
    assert!(o.status.success(), "{}", stderr(&o));
    for ext in ["npy", "json"] {
        assert!(
            std::fs::read(merged.with_extension(ext)).unwrap()
                == std::fs::read(whole.with_extension(ext)).unwrap(),
            "merged .{ext} differs from the unsharded one ({})",
            dir.display()
        );
    }
    shards.sort();
    shards
}

#[test]
fn three_shards_merge_into_the_unsharded_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path(), &["--steps", "2"]);
    // Inputs in the order an unsharded run reads them: a folder (sorted), then two files.
    let folder = tmp.path().join("photos");
    write_pngs(&folder, 5, 40);
    let more = write_pngs(&tmp.path().join("more"), 2, 24);
    let inputs = vec![folder.clone(), more[1].clone(), more[0].clone()];
    // 7 inputs: slices of 2, 2 and 3.
    let shards = sharded_equals_unsharded(&run, &inputs, &tmp.path().join("seven"), [2, 2, 3]);
    // 2 inputs: the first slice is empty.
    let two = vec![more[0].clone(), more[1].clone()];
    let few = sharded_equals_unsharded(&run, &two, &tmp.path().join("two"), [0, 1, 1]);

    // Missing, repeated and mismatched shards are refused, naming the files.
    let merged = tmp.path().join("bad.npy");
    let o = merge(&shards[..2], &merged);
    assert_clean_error(&o, "1 of 3 shards missing");
    assert!(stderr(&o).contains("tokens-2-of-3.npy"), "{}", stderr(&o));
    let o = merge(
        &[shards[0].clone(), shards[1].clone(), shards[1].clone()],
        &merged,
    );
    assert_clean_error(&o, "shard 1/3 given twice");
    let o = merge(
        &[few[0].clone(), shards[1].clone(), shards[2].clone()],
        &merged,
    );
    assert_clean_error(&o, "the shards were not made from the same inputs");
    let other = tmp.path().join("tokens-0-of-2.npy");
    std::fs::copy(&shards[0], &other).unwrap();
    std::fs::copy(
        shards[0].with_extension("json"),
        other.with_extension("json"),
    )
    .unwrap();
    let o = merge(&[shards[0].clone(), other], &merged);
    assert_clean_error(&o, "tokens-0-of-2.npy");
    assert!(!merged.exists(), "nothing written on a refusal");

    let o = encode(&run, &inputs, &merged, &["--shard", "3/3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("I counts from 0"), "{}", stderr(&o));
    let help = stdout(&dvae(&["encode", "--help"]));
    assert!(
        help.contains("0-based") && help.contains("merge-tokens"),
        "{help}"
    );
}
