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
    let default_rows = [
        "dvae",
        "dvae-tau1",
        "dvae-tau16",
        "vqvae",
        "vqvae-plain",
        "vqvae-up",
        "fsq",
        "lfq",
        "vae",
        "ae",
    ];
    for name in default_rows {
        assert!(md.contains(&format!("| {name} |")), "{name} missing:\n{md}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), default_rows.len());
    for r in rows {
        assert!(r["psnr"].as_f64().unwrap().is_finite(), "{r}");
        assert!(r["wall_s"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(
            r["usage"].is_null(),
            ["vae", "ae"].contains(&r["family"].as_str().unwrap())
        );
    }
    // Originals and ten named rows of reconstructions, the names in a column on the left.
    let sheet = image::open(out.join("recon.png")).unwrap();
    assert_eq!(sheet.height() as usize, 11 * (64 + 2) + 2);
    assert!(sheet.width() as usize > 64 + 8 * "vqvae-plain".len());
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

#[test]
fn compare_takes_rows_by_name_and_scores_on_separate_data() {
    let dir = tempfile::tempdir().unwrap();
    let (data, eval) = (dir.path().join("data"), dir.path().join("eval"));
    write_pngs(&data, 8, 64);
    write_pngs(&eval, 3, 64);
    let out = dir.path().join("cmp");
    let run = |families: &str| {
        dvae(&[
            "compare",
            "--steps",
            "2",
            "--batch",
            "2",
            "--families",
            families,
            "--data",
            data.to_str().unwrap(),
            "--eval-data",
            eval.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let o = run("bsq,simvq");
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    let names: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bsq", "simvq"]);
    assert_eq!(json["eval_data"], eval.to_str().unwrap());
    // Originals and the two named rows.
    let sheet = image::open(out.join("recon.png")).unwrap();
    assert_eq!(sheet.height() as usize, 3 * (64 + 2) + 2);
    let o = run("fsq,nonesuch");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nonesuch") && stderr(&o).contains("simvq"),
        "{}",
        stderr(&o)
    );
}
