//! Burn's wgpu backend through the real binary, against the CPU path: on a machine without
//! a GPU this is Mesa's lavapipe (Vulkan on the CPU, `apt-get install mesa-vulkan-drivers`),
//! which `--device wgpu:cpu` selects. Only a build with `--features wgpu` runs it:
//! `cargo test --release -p dvae-cli --features wgpu --test cli wgpu`.
//!
//! Shapes are the smallest (32×32 images, n_hid 8, 64 codes, batch 4): lavapipe compiles
//! every shader on first use, which is most of the time here.

#[cfg(feature = "wgpu")]
mod on_wgpu {
    use std::path::Path;

    use crate::{dvae, small_run, stderr};

    /// Tokens of `images` encoded on `device`.
    fn encode(run: &Path, images: &Path, device: &str, out: &Path) -> Vec<u32> {
        let o = dvae(&[
            "encode",
            "--run",
            run.to_str().unwrap(),
            images.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--device",
            device,
        ]);
        assert!(o.status.success(), "{device}: {}", stderr(&o));
        dvae::tokens::read_npy(out, 64, 4).unwrap().ids
    }

    /// The pixels of `tokens` decoded on `device`.
    fn decode(run: &Path, tokens: &Path, device: &str, out: &Path) -> Vec<u8> {
        let o = dvae(&[
            "decode",
            "--run",
            run.to_str().unwrap(),
            tokens.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--device",
            device,
        ]);
        assert!(o.status.success(), "{device}: {}", stderr(&o));
        (0..12)
            .flat_map(|i| {
                image::open(out.join(format!("{i:06}.png")))
                    .unwrap()
                    .to_rgb8()
                    .into_raw()
            })
            .collect()
    }

    /// `(loss, grad_norm)` of each logged step of a run.
    fn curve(run: &Path) -> Vec<(f64, f64)> {
        std::fs::read_to_string(run.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["kind"] == "step")
            .map(|v| {
                (
                    v["loss"].as_f64().unwrap(),
                    v["grad_norm"].as_f64().unwrap(),
                )
            })
            .collect()
    }

    fn max_rel(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        a.iter()
            .zip(b)
            .flat_map(|(x, y)| [(x.0, y.0), (x.1, y.1)])
            .map(|(x, y)| (x - y).abs() / x.abs().max(1e-12))
            .fold(0.0, f64::max)
    }

    #[test]
    fn wgpu_encodes_decodes_and_trains_as_the_cpu_does() {
        let tmp = tempfile::tempdir().unwrap();
        // Without the dVAE's batch-statistics term, so that two devices taking half a batch
        // each have the one-device loss (see crates/dvae/tests/lib/data_parallel.rs).
        let steps = [
            "--steps",
            "3",
            "--log-every",
            "1",
            "--checkpoint-every",
            "3",
            "--diversity-weight",
            "0",
        ];
        let cpu_dir = tmp.path().join("cpu");
        let cpu = small_run(&cpu_dir, &steps);
        let data = cpu_dir.join("data");

        // Inference on the CPU's weights: tokens and pixels.
        let t_cpu = encode(&cpu, &data, "cpu", &tmp.path().join("t-cpu.npy"));
        let t_gpu = encode(&cpu, &data, "wgpu:cpu", &tmp.path().join("t-gpu.npy"));
        let same = t_cpu.iter().zip(&t_gpu).filter(|(a, b)| a == b).count();
        eprintln!("wgpu tokens equal to the CPU's: {same} of {}", t_cpu.len());
        // Argmax of logits that agree to ~1e-6: only a near tie may flip.
        assert!(same * 100 >= t_cpu.len() * 99, "{same} of {}", t_cpu.len());
        let p_cpu = decode(
            &cpu,
            &tmp.path().join("t-cpu.npy"),
            "cpu",
            &tmp.path().join("d-cpu"),
        );
        let p_gpu = decode(
            &cpu,
            &tmp.path().join("t-cpu.npy"),
            "wgpu:cpu",
            &tmp.path().join("d-gpu"),
        );
        let worst = p_cpu
            .iter()
            .zip(&p_gpu)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        eprintln!("wgpu decode vs CPU: worst pixel difference {worst} levels");
        assert!(worst <= 1, "pixels differ by {worst} levels");

        // Training: the same seed and data on wgpu.
        let gpu_dir = tmp.path().join("gpu");
        let mut flags = steps.to_vec();
        flags.extend(["--device", "wgpu:cpu"]);
        let gpu = small_run(&gpu_dir, &flags);
        let d = max_rel(&curve(&cpu), &curve(&gpu));
        eprintln!("wgpu training vs CPU: loss and gradient norm within {d:.2e} (relative)");
        assert!(d < 1e-3, "training curves differ by {d:.2e}");

        // Data-parallel over two wgpu devices on the one adapter (two logical devices, each
        // with its own queue) against one of them.
        let dp_dir = tmp.path().join("dp");
        let mut flags = steps.to_vec();
        flags.extend(["--devices", "wgpu:cpu,wgpu"]);
        let dp = small_run(&dp_dir, &flags);
        let d = max_rel(&curve(&gpu), &curve(&dp));
        eprintln!("2 wgpu devices × batch 2 vs 1 × batch 4: within {d:.2e} (relative)");
        assert!(d < 1e-3, "data-parallel curves differ by {d:.2e}");
    }
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn wgpu_encodes_decodes_and_trains_as_the_cpu_does() {
    crate::skipped(
        "wgpu::wgpu_encodes_decodes_and_trains_as_the_cpu_does",
        "this build has no wgpu backend (cargo test --release -p dvae-cli --features wgpu --test cli wgpu)",
    );
}
