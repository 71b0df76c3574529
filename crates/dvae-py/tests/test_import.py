"""dvae.import_openai writes the run `dvae import-openai` writes."""

import json

import numpy as np
import pytest

import dvae
from conftest import FIXTURES, run_cli, tensors


def test_same_run_as_the_cli(cli, tmp_path, images):
    enc, dec = FIXTURES / "openai" / "encoder.pkl", FIXTURES / "openai" / "decoder.pkl"
    a, b = tmp_path / "cli", tmp_path / "py"
    run_cli(cli, "import-openai", "--encoder", enc, "--decoder", dec, "--image-size", "64", "--out", a)
    assert dvae.import_openai(encoder=enc, decoder=dec, out=b, image_size=64) == str(b)
    for name in ["config.json", "import.json"]:
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text()), name
    assert tensors(a / "model.safetensors") == tensors(b / "model.safetensors")
    tok = dvae.Tokenizer.load(b)
    ids = tok.encode(images[:4])
    assert ids.max() < tok.vocab_size and tok.decode(ids).shape == (4, 64, 64, 3)
    with pytest.raises(dvae.DvaeError, match="already holds a run"):
        dvae.import_openai(encoder=enc, out=b)
