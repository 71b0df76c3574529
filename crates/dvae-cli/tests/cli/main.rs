//! End-to-end tests of the `dvae` binary on real files in temporary folders.

mod errors;
mod families;
mod import;
mod prior;
mod report;
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
