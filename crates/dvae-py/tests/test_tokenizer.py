"""Tokenizer.encode / decode / logits against the CLI's files for the same inputs."""

import json

import numpy as np

import dvae
from conftest import run_cli


def test_load_images_is_the_cli_input(photos, images, tmp_path, cli, run_tiny):
    assert images.dtype == np.uint8 and images.shape == (28, 64, 64, 3)
    assert images.flags.c_contiguous
    out = tmp_path / "t.npy"
    run_cli(cli, "encode", "--run", run_tiny, photos, "--out", out)
    listed = json.loads(out.with_suffix(".json").read_text())
    assert dvae.list_images(photos) == listed
    assert dvae.list_images(str(photos)) == dvae.list_images([photos])
    # A list of files reads them in the order given.
    two = [listed[3], listed[0]]
    assert np.array_equal(dvae.load_images(two, 64), images[[3, 0]])


def test_encode_equals_dvae_encode(tok, images, cli_tokens):
    assert cli_tokens.dtype == np.uint16 and cli_tokens.shape == (28, 8, 8)
    ids = tok.encode(images)
    assert ids.dtype == np.int64 and ids.shape == (28, 8, 8)
    assert np.array_equal(ids, cli_tokens)
    # The tokens vary: a constant grid would match a broken model too.
    assert len(np.unique(ids)) > 4
    small = tok.encode(images, batch=5, dtype="uint16")
    assert small.dtype == np.uint16 and np.array_equal(small, cli_tokens)
    assert np.array_equal(tok.encode(images, dtype=np.int32), cli_tokens)


def test_encode_output_is_owned_by_numpy(tok, images):
    ids = tok.encode(images[:3])
    assert ids.flags.c_contiguous and ids.flags.writeable
    ids[0, 0, 0] = 7  # the memory is the array's to change
    assert ids[0, 0, 0] == 7


def test_decode_equals_dvae_decode(tok, cli, run_tiny, cli_tokens, tmp_path):
    out = tmp_path / "decoded"
    npy = tmp_path / "t.npy"
    np.save(npy, cli_tokens)
    run_cli(cli, "decode", "--run", run_tiny, npy, "--out", out)
    pngs = sorted(p for p in out.glob("0*.png"))
    assert len(pngs) == 28
    want = dvae.load_images(pngs, 64)  # 64x64 PNGs: read as they are
    got = tok.decode(cli_tokens)
    assert got.dtype == np.uint8 and got.shape == (28, 64, 64, 3)
    assert np.array_equal(got, want)
    assert np.array_equal(tok.decode(cli_tokens.astype(np.int64), batch=3), want)
    assert got.std() > 1  # not a blank image


def test_properties_and_config(tok, run_tiny):
    assert (tok.vocab_size, tok.grid, tok.image_size, tok.family) == (512, 8, 64, "dvae")
    on_disk = json.loads((run_tiny / "config.json").read_text())
    assert tok.config == on_disk
    assert tok.config["train"]["steps"] == 30
    assert str(run_tiny) in repr(tok) and tok.run_dir == str(run_tiny)


def test_logits_argmax_is_encode(tok, images):
    logits = tok.logits(images[:6], batch=4)
    assert logits.dtype == np.float32 and logits.shape == (6, 512, 8, 8)
    assert np.array_equal(logits.argmax(axis=1), tok.encode(images[:6]))
    assert np.isfinite(logits).all() and logits.std() > 0


def test_empty_batches(tok):
    assert tok.encode(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 8, 8)
    assert tok.decode(np.zeros((0, 8, 8), np.int64)).shape == (0, 64, 64, 3)


def test_vqvae_encodes_and_decodes(run_vqvae, images, cli, photos, tmp_path):
    tok = dvae.Tokenizer.load(run_vqvae)
    out = tmp_path / "vq.npy"
    run_cli(cli, "encode", "--run", run_vqvae, photos, "--out", out)
    ids = tok.encode(images)
    assert tok.family == "vqvae" and np.array_equal(ids, np.load(out))
    assert tok.decode(ids).shape == (28, 64, 64, 3)


def test_help_says_the_shapes():
    assert "[N, H, W, 3]" in dvae.Tokenizer.encode.__doc__
    assert "[N, grid, grid]" in dvae.Tokenizer.encode.__doc__
    assert "[N, image_size, image_size, 3]" in dvae.Tokenizer.decode.__doc__
    assert "float32 [N, vocab_size, grid, grid]" in dvae.Tokenizer.logits.__doc__
