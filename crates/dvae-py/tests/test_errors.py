"""Each error class with the CLI's own one-line message for the same fault."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

import dvae
from conftest import FIXTURES, cli_error


def raised(cls, f, *args, **kwargs) -> str:
    with pytest.raises(cls) as e:
        f(*args, **kwargs)
    assert type(e.value) is cls, type(e.value)
    return str(e.value)


def test_missing_run_directory(cli, tmp_path, photos):
    missing = tmp_path / "nope"
    msg = raised(FileNotFoundError, dvae.Tokenizer.load, missing)
    assert msg == cli_error(cli, "encode", "--run", missing, photos, "--out", tmp_path / "t.npy")
    assert "no such run directory" in msg


def test_run_without_weights_or_config(cli, run_tiny, tmp_path, photos):
    partial = tmp_path / "partial"
    partial.mkdir()
    msg = raised(FileNotFoundError, dvae.Tokenizer.load, partial)
    assert msg == cli_error(cli, "encode", "--run", partial, photos, "--out", tmp_path / "t.npy")
    assert "config.json is missing" in msg
    shutil.copy(run_tiny / "config.json", partial / "config.json")
    msg = raised(FileNotFoundError, dvae.Tokenizer.load, partial)
    assert "model.safetensors is missing" in msg
    assert msg == cli_error(cli, "encode", "--run", partial, photos, "--out", tmp_path / "t.npy")


def test_corrupt_config_and_weights(cli, run_tiny, tmp_path, photos):
    bad = tmp_path / "bad"
    shutil.copytree(run_tiny, bad)
    (bad / "config.json").write_text("{ not json")
    msg = raised(dvae.DvaeError, dvae.Tokenizer.load, bad)
    assert msg == cli_error(cli, "encode", "--run", bad, photos, "--out", tmp_path / "t.npy")
    shutil.copy(run_tiny / "config.json", bad / "config.json")
    (bad / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    msg = raised(dvae.DvaeError, dvae.Tokenizer.load, bad)
    assert msg == cli_error(cli, "encode", "--run", bad, photos, "--out", tmp_path / "t.npy")


def test_token_ids_out_of_range_and_wrong_grid(cli, tok, run_tiny, cli_tokens, tmp_path):
    ids = cli_tokens[:2].astype(np.int64)
    ids[1, 2, 3] = 600
    npy = tmp_path / "bad.npy"
    np.save(npy, ids)
    msg = raised(ValueError, tok.decode, ids)
    line = cli_error(cli, "decode", "--run", run_tiny, npy, "--out", tmp_path / "d")
    assert line == f"{npy}: {msg}", (line, msg)
    assert "token id 600 at image 1, cell 19 is outside 0..512" in msg
    ids[1, 2, 3] = -1
    assert "token id -1 at image 1" in raised(ValueError, tok.decode, ids)
    wide = np.zeros((2, 16, 16), np.int64)
    np.save(npy, wide)
    msg = raised(ValueError, tok.decode, wide)
    assert cli_error(cli, "decode", "--run", run_tiny, npy, "--out", tmp_path / "d") == f"{npy}: {msg}"


def test_half_a_network(cli, encoder_only, tmp_path, photos, images):
    tok = dvae.Tokenizer.load(encoder_only)
    assert tok.encode(images[:2]).shape == (2, 8, 8)
    ids = np.zeros((1, 8, 8), np.int64)
    npy = tmp_path / "z.npy"
    np.save(npy, ids)
    msg = raised(dvae.DvaeError, tok.decode, ids)
    assert msg == cli_error(cli, "decode", "--run", encoder_only, npy, "--out", tmp_path / "d")
    assert "holds only the encoder's weights" in msg


def test_continuous_family_has_no_tokens_or_logits(cli, run_vae, run_vqvae, tmp_path, photos, images):
    vae = dvae.Tokenizer.load(run_vae)
    msg = raised(dvae.DvaeError, vae.encode, images[:1])
    assert msg == cli_error(cli, "encode", "--run", run_vae, photos, "--out", tmp_path / "t.npy")
    assert "vae model" in msg
    vq = dvae.Tokenizer.load(run_vqvae)
    assert "not logits" in raised(dvae.DvaeError, vq.logits, images[:1])


def test_image_files(cli, run_tiny, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    msg = raised(dvae.DvaeError, dvae.load_images, text, 64)
    assert msg == cli_error(cli, "encode", "--run", run_tiny, text, "--out", tmp_path / "t.npy")
    missing = tmp_path / "missing.png"
    msg = raised(FileNotFoundError, dvae.load_images, [missing], 64)
    assert msg == cli_error(cli, "encode", "--run", run_tiny, missing, "--out", tmp_path / "t.npy")
    empty = tmp_path / "empty"
    empty.mkdir()
    msg = raised(dvae.DvaeError, dvae.load_images, empty, 64)
    assert msg == cli_error(cli, "encode", "--run", run_tiny, empty, "--out", tmp_path / "t.npy")
    assert "no image files in this folder" in msg
    assert "size must be" in raised(ValueError, dvae.load_images, empty, 0)
    with pytest.raises(TypeError, match="paths must be"):
        dvae.load_images(3, 64)


def test_openai_pickles(cli, tmp_path):
    evil = FIXTURES / "openai" / "evil_global.pkl"
    out = tmp_path / "evil"
    msg = raised(dvae.DvaeError, dvae.import_openai, encoder=evil, out=out)
    assert msg == cli_error(cli, "import-openai", "--encoder", evil, "--out", tmp_path / "evil2")
    missing = tmp_path / "missing.pkl"
    msg = raised(FileNotFoundError, dvae.import_openai, encoder=missing, out=out)
    assert msg == cli_error(cli, "import-openai", "--encoder", missing, "--out", tmp_path / "m2")
    assert "give --encoder, --decoder or both" in raised(ValueError, dvae.import_openai, out=out)


def test_a_panic_is_a_dvae_error_and_prints_nothing():
    # A child interpreter, so that its stderr can be read whole.
    code = (
        "import dvae._dvae as d\n"
        "try:\n    d._panic_for_tests()\n"
        "except d.DvaeError as e:\n    print('caught:', e)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("caught: internal error in dvae (a bug, please report it): ")
    assert "a test of the panic guard" in p.stdout
    assert "panicked" not in p.stderr and p.stderr == "", p.stderr
