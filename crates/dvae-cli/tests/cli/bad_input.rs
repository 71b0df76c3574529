//! Image kinds, token files and run directories the user may hand over: converted, or one
//! line naming the file and what is wrong, status 2, no panic.

use std::path::Path;

use crate::*;

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// A PNG written by hand (stored deflate blocks), for the kinds `image` does not write:
/// `color` 3 is a palette image and `palette` its RGB entries.
fn png(w: u32, h: u32, depth: u8, color: u8, palette: &[u8], rows: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([depth, color, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    if !palette.is_empty() {
        png_chunk(&mut out, b"PLTE", palette);
    }
    let raw: Vec<u8> = rows.iter().flat_map(|r| [&[0u8][..], r].concat()).collect();
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend((raw.len() as u16).to_le_bytes());
    z.extend((!(raw.len() as u16)).to_le_bytes());
    z.extend(&raw);
    z.extend(((b << 16) | a).to_be_bytes());
    png_chunk(&mut out, b"IDAT", &z);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// An 8×8 baseline JPEG with four components (Adobe CMYK): every block is a zero DC and an
/// end-of-block, each coded with the one-bit Huffman code "0".
fn cmyk_jpeg() -> Vec<u8> {
    let mut j = vec![0xff, 0xd8];
    let mut segment = |marker: u8, body: &[u8]| {
        j.extend([0xff, marker]);
        j.extend(((body.len() + 2) as u16).to_be_bytes());
        j.extend(body);
    };
    segment(0xee, b"Adobe\x00\x64\x00\x00\x00\x00\x00");
    segment(0xdb, &[[0u8].as_slice(), &[1u8; 64]].concat());
    let mut sof = vec![8, 0, 8, 0, 8, 4];
    for id in 1..=4 {
        sof.extend([id, 0x11, 0]);
    }
    segment(0xc0, &sof);
    // Symbol 0 gets the code "0", symbol 1 "10" (a code of all ones is not allowed).
    let table = |class: u8| {
        let mut b = vec![class, 1, 1];
        b.extend([0u8; 14]);
        b.extend([0, 1]);
        b
    };
    let (dc, ac) = (table(0x00), table(0x10));
    segment(0xc4, &dc);
    segment(0xc4, &ac);
    let mut sos = vec![4];
    for id in 1..=4 {
        sos.extend([id, 0x00]);
    }
    sos.extend([0, 63, 0]);
    segment(0xda, &sos);
    // Per block: DC category 0 ("0"), end of block ("0"): 4 blocks, 8 bits.
    j.extend([0x00, 0xff, 0xd9]);
    j
}

/// An `.npy` file of `descr` values with `shape`.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

const ONE_STEP: &[&str] = &["--steps", "1", "--checkpoint-every", "1"];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn image_kinds_are_converted_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path(), ONE_STEP);
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let palette = dir.join("palette.png");
    let rows = vec![vec![0u8, 1, 2, 1]; 3];
    std::fs::write(
        &palette,
        png(4, 3, 8, 3, &[255, 0, 0, 0, 255, 0, 0, 0, 255], &rows),
    )
    .unwrap();
    let cmyk = dir.join("cmyk.jpg");
    std::fs::write(&cmyk, cmyk_jpeg()).unwrap();
    let deep = dir.join("grey16.png");
    image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(40, 40, image::Luma([40000]))
        .save(&deep)
        .unwrap();
    // Smaller than the model's 32×32: upscaled (Catmull-Rom), as documented.
    let small = dir.join("small.png");
    image::RgbImage::from_pixel(5, 3, image::Rgb([9, 99, 199]))
        .save(&small)
        .unwrap();
    let out = tmp.path().join("t.npy");
    let o = dvae(&[
        "encode",
        "--run",
        s(&run),
        s(&palette),
        s(&cmyk),
        s(&deep),
        s(&small),
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(dvae::tokens::read_npy(&out, 64, 4).unwrap().n, 4);
    // Each decodes to the expected colours, not just to something.
    let px = dvae::data::image_io::load_square(&palette, 3).unwrap();
    assert_eq!(&px[..9], &[255, 0, 0, 0, 255, 0, 0, 0, 255]);
    let px = dvae::data::image_io::load_square(&cmyk, 8).unwrap();
    assert!(px.chunks(3).all(|p| p == &px[..3]), "CMYK: one flat colour");
    assert_eq!(
        &dvae::data::image_io::load_square(&small, 32).unwrap()[..3],
        &[9, 99, 199]
    );

    // Refused, each naming itself and what is wrong.
    let huge = dir.join("huge.png");
    let mut bytes = png(1, 1, 8, 0, &[], &[vec![0]]);
    bytes[16..24].copy_from_slice(&[0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20]); // 20000×20000
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&huge, bytes).unwrap();
    let cut = dir.join("cut.jpg");
    image::RgbImage::from_pixel(64, 64, image::Rgb([1, 2, 3]))
        .save(&cut)
        .unwrap();
    let full = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let zero = dir.join("zero.png");
    std::fs::write(&zero, b"").unwrap();
    let text = dir.join("notes.png");
    std::fs::write(&text, b"a text file with an image's name").unwrap();
    for (file, needle) in [
        (&huge, "20000x20000"),
        (&cut, "cut.jpg"),
        (&zero, "0 bytes"),
        (&text, "notes.png"),
        (&dir.join("missing.png"), "missing.png"),
    ] {
        let o = dvae(&["encode", "--run", s(&run), s(file), "--out", s(&out)]);
        assert_clean_error(&o, needle);
        assert!(stderr(&o).contains(s(file)), "{}", stderr(&o));
    }
}

#[test]
fn token_files_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path(), ONE_STEP);
    let cells = |v: u16| -> Vec<u8> { (0..16).flat_map(|_| v.to_le_bytes()).collect() };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("float.npy", npy("<f4", "(1, 4, 4)", &[0; 64]), "dtype"),
        ("flat.npy", npy("<u2", "(16,)", &cells(1)), "expected shape"),
        ("grid.npy", npy("<u2", "(1, 2, 8)", &cells(1)), "4x4"),
        (
            "vocab.npy",
            npy("<u2", "(1, 4, 4)", &cells(64)),
            "outside 0..64",
        ),
        ("cut.npy", npy("<u2", "(2, 4, 4)", &cells(1)), "cut.npy"),
        (
            "junk.npy",
            b"PK\x03\x04 not numpy".to_vec(),
            "not a readable .npy",
        ),
    ];
    for (name, bytes, needle) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = dvae(&[
            "decode",
            "--run",
            s(&run),
            s(&p),
            "--out",
            s(&tmp.path().join("d")),
        ]);
        assert_clean_error(&o, needle);
        assert!(stderr(&o).contains(name), "{}", stderr(&o));
    }
    let o = dvae(&["decode", "--run", s(&run), "nope.npy", "--out", "d"]);
    assert_clean_error(&o, "nope.npy");
}

/// Replaces `from` by `to` in the text of `file`.
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from} not in {}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

#[test]
fn run_directories_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path(), ONE_STEP);
    let variant = |name: &str| {
        let p = tmp.path().join(name);
        copy_dir(&run, &p);
        p
    };
    let eval = |r: &Path| dvae(&["eval", "--run", s(r), "--data", s(&tmp.path().join("data"))]);
    let resume_to_2 = |r: &Path| resume(r, &["--steps", "2"]);

    let r = variant("newer");
    edit(
        &r.join("config.json"),
        "\"format_version\": 2",
        "\"format_version\": 9",
    );
    assert_clean_error(&eval(&r), "newer dvae (format 9");
    let r = variant("mismatch");
    edit(&r.join("config.json"), "\"n_hid\": 8", "\"n_hid\": 16");
    assert_clean_error(&eval(&r), "model.safetensors");
    let r = variant("huge");
    edit(&r.join("config.json"), "\"n_hid\": 8", "\"n_hid\": 4000000");
    assert_clean_error(&eval(&r), "parameters");
    let r = variant("no-weights");
    std::fs::remove_file(r.join("model.safetensors")).unwrap();
    assert_clean_error(&eval(&r), "model.safetensors is missing");
    let r = variant("bad-weights");
    std::fs::write(r.join("model.safetensors"), b"\x08\0\0\0\0\0\0\0{}garbage").unwrap();
    assert_clean_error(&eval(&r), "model.safetensors");

    let step = Path::new("checkpoint/step-00000001");
    let r = variant("newer-checkpoint");
    edit(
        &r.join(step).join("state.json"),
        "\"format_version\": 2",
        "\"format_version\": 9",
    );
    assert_clean_error(&resume_to_2(&r), "newer dvae (format 9");
    let r = variant("bad-pointer");
    std::fs::write(r.join("checkpoint/LATEST"), b"../../etc").unwrap();
    assert_clean_error(&resume_to_2(&r), "corrupt checkpoint pointer");
    let r = variant("bad-checkpoint");
    std::fs::write(r.join(step).join("weights.bpk"), b"corrupt").unwrap();
    assert_clean_error(&resume_to_2(&r), "weights.bpk");
    let r = variant("no-state");
    std::fs::remove_file(r.join(step).join("state.json")).unwrap();
    assert_clean_error(&resume_to_2(&r), "state.json");
}
