//! Replays the committed fuzz seeds (`fuzz/corpus/<target>/`, including the inputs that once
//! crashed a target) through the fuzz targets' entry points, on stable, in every test run.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let r = std::panic::catch_unwind(|| run(&bytes));
        assert!(r.is_ok(), "{} panics the {target} target", path.display());
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn image_seeds() {
    replay("image", dvae::fuzz::image);
}

#[test]
fn npy_seeds() {
    replay("npy", dvae::fuzz::npy);
}

#[test]
fn run_dir_seeds() {
    replay("run_dir", dvae::fuzz::run_dir);
}

#[test]
fn torch_seeds() {
    replay("torch", dvae::fuzz::torch);
}
