//! The other families and the comparison, through the binary.

use super::{SMALL, dvae, stderr, stdout, write_pngs};

#[test]
fn compare_trains_every_variant_and_writes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_pngs(&data, 12, 64);
    let out = dir.path().join("cmp");
    let o = dvae(&[
        "compare",
        "--steps",
        "2",
        "--batch",
        "2",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    for name in [
        "dvae",
        "dvae-tau1",
        "dvae-tau16",
        "vqvae",
        "vqvae-plain",
        "vae",
        "ae",
    ] {
        assert!(md.contains(&format!("| {name} |")), "{name} missing:\n{md}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for r in rows {
        assert!(r["psnr"].as_f64().unwrap().is_finite(), "{r}");
        assert_eq!(
            r["usage"].is_null(),
            !["dvae", "vqvae"].contains(&r["family"].as_str().unwrap())
        );
    }
    assert!(out.join("recon.png").is_file());
    assert!(out.join("vae/samples.png").is_file());
    assert!(out.join("vqvae/samples.png").is_file());
    assert!(
        !out.join("ae/samples.png").exists(),
        "an AE has no prior to sample"
    );
    assert!(stdout(&o).contains("compare.md"));
}

#[test]
fn a_continuous_family_reconstructs_but_has_no_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pngs = write_pngs(&data, 10, 32);
    let run = dir.path().join("ae");
    let mut args = vec!["train", "--family", "ae", "--steps", "2", "--data"];
    args.push(data.to_str().unwrap());
    args.extend(["--out", run.to_str().unwrap()]);
    args.extend(SMALL);
    let o = dvae(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"family\": \"ae\""), "{config}");

    let o = dvae(&[
        "encode",
        "--run",
        run.to_str().unwrap(),
        pngs[0].to_str().unwrap(),
        "--out",
        dir.path().join("t.npy").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no tokens"), "{}", stderr(&o));

    let o = dvae(&[
        "reconstruct",
        "--run",
        run.to_str().unwrap(),
        pngs[0].to_str().unwrap(),
        "--out",
        dir.path().join("rec").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("rec/grid.png").is_file());
}

#[test]
fn gumbel_max_matches_softmax_and_gaussian_noise_does_not() {
    let o = dvae(&["gumbel", "--samples", "40000", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let chi = |i: usize| v["samplers"][i]["chi_square"].as_f64().unwrap();
    assert_eq!(v["samplers"][0]["noise"], "gumbel");
    // 99.9th percentile of χ²(4) is 18.47.
    assert!(chi(0) < 18.47, "gumbel χ² {}", chi(0));
    assert!(chi(1) > 100.0, "gaussian χ² {}", chi(1));
    // Lower τ: closer to one-hot, noisier gradient.
    let r = v["relaxed"].as_array().unwrap();
    let d = |i: usize| r[i]["distance_to_one_hot"].as_f64().unwrap();
    let var = |i: usize| r[i]["gradient_variance"].as_f64().unwrap();
    assert!(d(0) < d(r.len() - 1) && var(0) > var(r.len() - 1));
    let o = dvae(&["gumbel", "--taus", "0,1"]);
    assert_eq!(o.status.code(), Some(2));
}
