//! WebDataset shards: read as the `webdataset` package reads the shards its ShardWriter
//! wrote (fixture by `tools/make_shard_fixture.py`), named by brace ranges, folders and
//! lists, damaged shards skipped with their names, and the training stream seeded,
//! resumable from its position and keeping the held-out head of the last shard out.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use dvae::data::ImageSet;
use dvae::data::augment::Augment;
use dvae::data::loader::{BatchStream, Skipped, StreamPos, StreamSpec};
use dvae::data::sharded::ShardedSet;
use dvae::data::shards::shard_paths;
use dvae::data::tar_samples::{Item, read_shard};
use dvae::data::{DataSource, image_io};

use crate::common::fixture;

fn fixture_dir() -> PathBuf {
    fixture("shards")
}

fn fixture_spec() -> String {
    format!("{}/wds-{{000000..000001}}.tar", fixture_dir().display())
}

#[test]
fn reads_shards_as_webdataset_does() {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = expected["samples"].as_array().unwrap();
    let mut got = Vec::new();
    for shard in shard_paths(&fixture_spec()).unwrap() {
        read_shard(&shard, |item| {
            match item {
                Item::Sample(s) => got.push((shard.clone(), s)),
                Item::Bad { name, reason } => panic!("{name}: {reason}"),
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    }
    assert_eq!(got.len(), expected.len());
    for ((shard, s), e) in got.iter().zip(expected) {
        let key = e["key"].as_str().unwrap();
        assert!(s.name.ends_with(&format!(":{key}")), "{} vs {key}", s.name);
        let file = shard.file_name().unwrap().to_str().unwrap();
        assert_eq!(file, e["shard"].as_str().unwrap());
        assert_eq!(s.ext, e["ext"].as_str().unwrap(), "{key}");
        let cls = e["cls"].as_i64().map(|c| c.to_string());
        assert_eq!(s.class, cls, "{key}");
        let img = image_io::decode(Path::new(&s.name), &s.bytes)
            .unwrap()
            .to_rgb8();
        assert_eq!(img.width() as u64, e["width"].as_u64().unwrap());
        assert_eq!(img.height() as u64, e["height"].as_u64().unwrap());
        let want: Vec<u8> = e["pixels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        // PNG is lossless: exact. JPEG decoders differ in IDCT rounding and chroma
        // upsampling (PIL's libjpeg interpolates; the `image` crate's decoder too, but
        // not identically): mean |difference| ≤ 2 levels, none above 24 (at colour edges).
        let diffs: Vec<u8> = img
            .as_raw()
            .iter()
            .zip(&want)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let worst = *diffs.iter().max().unwrap();
        let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
        let (max_tol, mean_tol) = if s.ext == "png" { (0, 0.0) } else { (24, 2.0) };
        assert!(
            worst <= max_tol && mean <= mean_tol,
            "{key}: pixels differ by up to {worst}, {mean:.2} on average"
        );
    }
}

#[test]
fn brace_ranges_folders_and_lists_name_the_same_shards() {
    let dir = fixture_dir();
    let braces = shard_paths(&fixture_spec()).unwrap();
    assert_eq!(braces.len(), 2);
    assert_eq!(shard_paths(dir.to_str().unwrap()).unwrap(), braces);
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("train.txt");
    let lines: Vec<String> = braces.iter().map(|p| p.display().to_string()).collect();
    std::fs::write(&list, format!("# shards\n{}\n\n", lines.join("\n"))).unwrap();
    assert_eq!(shard_paths(list.to_str().unwrap()).unwrap(), braces);
    // A folder of shards is a data source of its own kind.
    assert!(DataSource::Folder(dir.clone()).shard_spec().is_some());
    let missing = format!("{}/wds-{{000000..000002}}.tar", dir.display());
    let e = shard_paths(&missing).unwrap_err().to_string();
    assert!(
        e.contains("wds-000002.tar") && e.contains("not found"),
        "{e}"
    );
}

/// A shard folder with one good shard and every kind of damaged one.
fn damaged_shards(dir: &Path) -> Vec<&'static str> {
    let good = std::fs::read(fixture_dir().join("wds-000000.tar")).unwrap();
    std::fs::write(dir.join("a-good.tar"), &good).unwrap();
    // Cut inside the third sample's image member (its data starts at byte 13824; the
    // offsets are Python's tarfile's).
    std::fs::write(dir.join("b-truncated.tar"), &good[..14124]).unwrap();
    std::fs::write(dir.join("c-empty.tar"), vec![0u8; 1024]).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("x0.txt", b"a caption, no image");
    add("x1.png", b"not a png at all");
    std::fs::write(dir.join("d-bad-members.tar"), b.into_inner().unwrap()).unwrap();
    std::fs::write(dir.join("e-not-a-tar.tar"), b"hello").unwrap();
    vec![
        "b-truncated.tar",
        "c-empty.tar",
        "d-bad-members.tar:x0",
        "d-bad-members.tar:x1",
        "e-not-a-tar.tar",
    ]
}

#[test]
fn damaged_shards_are_skipped_with_their_names_or_refused_when_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let named = damaged_shards(tmp.path());
    let spec = tmp.path().to_str().unwrap();
    let set = ImageSet::from_shards(spec, 16, false).unwrap();
    // The good shard's 5 samples, and the two samples before the cut of the truncated one.
    assert_eq!(set.len(), 7, "{:?}", set.skipped);
    let skipped: Vec<String> = set
        .skipped
        .iter()
        .map(|(p, why)| format!("{}: {why}", p.display()))
        .collect();
    for n in &named {
        assert!(
            skipped.iter().any(|s| s.contains(n)),
            "{n} not among {skipped:#?}"
        );
    }
    assert_eq!(skipped.len(), named.len(), "{skipped:#?}");
    let e = ImageSet::from_shards(spec, 16, true)
        .err()
        .expect("strict refuses")
        .to_string();
    assert!(
        e.contains("b-truncated.tar") && e.contains("truncated"),
        "{e}"
    );

    // The stream skips the same, listing each once however many epochs pass.
    let paths = shard_paths(spec).unwrap();
    let skipped = Skipped::default();
    let mut s = BatchStream::open(
        stream_spec(paths.clone(), 4, 3),
        StreamPos::default(),
        skipped.clone(),
    )
    .unwrap();
    for _ in 0..6 {
        assert_eq!(s.next_batch().unwrap().n, 4);
    }
    let names: Vec<String> = skipped.lock().unwrap().keys().cloned().collect();
    assert_eq!(names.len(), named.len(), "{names:#?}");
    let mut strict = stream_spec(paths, 4, 3);
    strict.strict = true;
    let mut s = BatchStream::open(strict, StreamPos::default(), Skipped::default()).unwrap();
    let e = (0..4)
        .find_map(|_| s.next_batch().err())
        .expect("a strict stream fails");
    assert!(e.to_string().contains(".tar"), "{e}");
}

#[test]
fn a_stream_with_nothing_readable_is_an_error_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("empty.tar"), vec![0u8; 1024]).unwrap();
    std::fs::write(tmp.path().join("junk.tar"), b"junk").unwrap();
    let paths = shard_paths(tmp.path().to_str().unwrap()).unwrap();
    let mut s = BatchStream::open(
        stream_spec(paths, 2, 4),
        StreamPos::default(),
        Skipped::default(),
    )
    .unwrap();
    let e = s.next_batch().err().expect("no batch").to_string();
    assert!(e.contains("no readable samples"), "{e}");
}

fn stream_spec(shards: Vec<PathBuf>, batch: usize, buffer: usize) -> StreamSpec {
    StreamSpec {
        shards,
        size: 16,
        seed: 3,
        batch,
        buffer,
        workers: 2,
        prefetch: 2,
        strict: false,
        held_out: 0,
        augment: Augment::default(),
    }
}

fn batches(spec: StreamSpec, from: StreamPos, n: usize) -> Vec<(Vec<u8>, StreamPos)> {
    let mut s = BatchStream::open(spec, from, Skipped::default()).unwrap();
    (0..n)
        .map(|_| {
            let b = s.next_batch().unwrap();
            (b.pixels, b.pos)
        })
        .collect()
}

#[test]
fn the_stream_is_seeded_covers_each_epoch_once_and_resumes_from_its_position() {
    let shards = shard_paths(&fixture_spec()).unwrap();
    // Seven samples, batches of seven: each batch is exactly one epoch.
    let a = batches(stream_spec(shards.clone(), 7, 3), StreamPos::default(), 3);
    assert_eq!(
        a,
        batches(stream_spec(shards.clone(), 7, 3), StreamPos::default(), 3)
    );
    let per = 16 * 16 * 3;
    let images = |px: &[u8]| {
        let mut v: Vec<Vec<u8>> = px.chunks(per).map(<[u8]>::to_vec).collect();
        v.sort();
        v
    };
    let all = ImageSet::from_shards(&fixture_spec(), 16, true).unwrap();
    let mut every: Vec<Vec<u8>> = (0..all.len()).map(|i| all.image(i)).collect();
    every.sort();
    for (px, pos) in &a {
        assert_eq!(images(px), every, "an epoch is every sample once");
        assert_eq!(pos.taken, 7);
    }
    assert_ne!(a[0].0, a[1].0, "epochs are shuffled differently");
    let mut other = stream_spec(shards.clone(), 7, 3);
    other.seed = 4;
    assert_ne!(batches(other, StreamPos::default(), 1)[0].0, a[0].0);

    // Batches of three cross epochs; starting at any batch's position continues exactly.
    let b = batches(stream_spec(shards.clone(), 3, 4), StreamPos::default(), 8);
    for k in [1, 2, 5] {
        let resumed = batches(stream_spec(shards.clone(), 3, 4), b[k - 1].1, 8 - k);
        assert_eq!(resumed, b[k..].to_vec(), "resumed after batch {k}");
    }
}

#[test]
fn the_held_out_head_of_the_last_shard_is_never_trained_on() {
    // The last shard holds two samples: a hold-out of 0.4 keeps ceil(0.8) = 1.
    let set = ShardedSet::open(&fixture_spec(), 16, 0.4, None, true).unwrap();
    assert_eq!((set.held_out, set.eval.len()), (1, 1));
    assert!(set.eval.name(0).ends_with("wds-000001.tar:sample0005"));
    let held = set.eval.image(0);
    let per = 16 * 16 * 3;
    let spec = set.spec(1, 6, 10, Augment::default());
    for (px, _) in batches(spec, StreamPos::default(), 4) {
        assert!(px.chunks(per).all(|img| img != held.as_slice()));
    }
    // With a separate evaluation set nothing is held out.
    let eval = ImageSet::procedural(3, 16);
    let set = ShardedSet::open(&fixture_spec(), 16, 0.4, Some(eval), true).unwrap();
    assert_eq!((set.held_out, set.eval.len()), (0, 3));
}
