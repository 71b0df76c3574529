"""dvae.train against `dvae train`: the same keywords as its flags, the same config.json and
weights, on_step, Ctrl-C and resume."""

import json
import os
import re
import signal
import threading

import pytest

import dvae
from conftest import cli_error, run_cli, tensors

# Flags of `dvae train` that are not configuration keywords of dvae.train (it trains on the
# CPU: no --device or --devices).
NOT_CONFIG = {"help", "version", "out", "resume", "strict", "data_workers", "device", "devices"}


def test_every_cli_flag_is_a_keyword(cli):
    help_text = run_cli(cli, "train", "--help").stdout
    flags = {f.replace("-", "_") for f in re.findall(r"^\s+(?:-\w, )?--([a-z0-9-]+)", help_text, re.M)}
    assert {"preset", "tau_start", "vq_cosine", "vae_kl_weight"} <= flags
    assert flags - NOT_CONFIG == set(dvae._dvae.train_keys())


def same_run(cli, tmp_path, data, flags: dict, name: str):
    """Trains with the CLI and with dvae.train; returns both run directories."""
    args = []
    for k, v in flags.items():
        if isinstance(v, bool):
            v = str(v).lower()
        elif isinstance(v, list):
            v = ",".join(map(str, v))
        args += [f"--{k.replace('_', '-')}", str(v)]
    a, b = tmp_path / f"{name}-cli", tmp_path / f"{name}-py"
    run_cli(cli, "train", "--data", data, "--out", a, *args)
    summary = dvae.train(b, data=data, **flags)
    return a, b, summary


@pytest.mark.parametrize(
    "flags",
    [
        dict(preset="tiny", steps=2, batch=2, recipe="dalle", tau_start=2.0, tau_schedule="exponential",
             codebook_std=0, hard=True, beta_schedule="fixed", grad_clip=0),
        dict(preset="tiny", steps=2, batch=2, family="vqvae", vq_cosine=True, commitment=0.5,
             vq_ema=False, restart_after=0, kmeans_init=False, code_dim=16),
        dict(preset="tiny", steps=2, batch=2, family="vae", vae_kl_weight=0.5, vae_warmup_steps=1,
             loss="mse", lr=3e-4, holdout=0.1, seed=5),
        dict(preset="tiny", steps=2, batch=2, family="vqvae", simvq=True, rotation_trick=True,
             lookup_dim=8),
        dict(preset="tiny", steps=2, batch=2, family="fsq", levels=[8, 5, 5]),
        dict(preset="tiny", steps=2, batch=2, family="lfq", spherical=True, lfq_commitment=0.2,
             entropy_weight=0.05),
    ],
    ids=["dvae", "vqvae", "vae", "simvq", "fsq", "lfq"],
)
def test_same_config_and_weights_as_the_cli(cli, photos, tmp_path, flags):
    a, b, summary = same_run(cli, tmp_path, photos, flags, flags.get("family", "dvae"))
    if flags.get("family") == "fsq":  # the levels set the vocabulary
        assert json.loads((b / "config.json").read_text())["model"]["vocab_size"] == 200
    assert json.loads((a / "config.json").read_text()) == json.loads((b / "config.json").read_text())
    weights = tensors(a / "model.safetensors")
    assert len(weights) > 10 and weights == tensors(b / "model.safetensors")
    assert summary["steps"] == 2 and summary["run_dir"] == str(b)
    assert set(summary["eval"]) >= {"psnr", "ssim", "usage", "bits_per_dim"}


def test_on_step_ctrl_c_and_resume(cli, photos, tmp_path):
    flags = dict(preset="tiny", steps=8, batch=4, log_every=1, checkpoint_every=100)
    whole = tmp_path / "whole"
    run_cli(cli, "train", "--data", photos, "--out", whole,
            *[a for k, v in flags.items() for a in (f"--{k.replace('_', '-')}", str(v))])
    out = tmp_path / "interrupted"
    seen = []

    def on_step(s):
        seen.append(s)
        if s["step"] == 2:  # Ctrl-C from another thread, as a terminal would send it
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()

    with pytest.raises(KeyboardInterrupt) as e:
        dvae.train(out, data=photos, on_step=on_step, **flags)
    step = int(re.match(r"interrupted at step (\d+); the run can be resumed with resume=True",
                        str(e.value)).group(1))
    assert 2 <= step < 8
    assert [s["step"] for s in seen][:2] == [1, 2]
    assert {"loss", "recon", "kl", "tau", "lr", "usage", "img_s"} <= set(seen[0])
    assert (out / "checkpoint" / "LATEST").is_file()
    with pytest.raises(ValueError, match="only steps may be given, not batch"):
        dvae.train(out, resume=True, batch=8)
    done = dvae.train(out, resume=True)
    assert done["steps"] == 8
    # Resumed from the checkpoint, bit for bit the uninterrupted run.
    assert tensors(out / "model.safetensors") == tensors(whole / "model.safetensors")


def test_an_exception_in_on_step_stops_after_a_checkpoint(photos, tmp_path):
    out = tmp_path / "stopped"

    def on_step(s):
        if s["step"] == 3:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        dvae.train(out, data=photos, preset="tiny", steps=10, batch=2, log_every=1, on_step=on_step)
    assert (out / "checkpoint" / "LATEST").is_file()
    assert dvae.train(out, resume=True, steps=4)["steps"] == 4


def test_train_errors(cli, photos, run_tiny, tmp_path):
    with pytest.raises(TypeError, match="unexpected keyword argument 'stepz'"):
        dvae.train(tmp_path / "x", stepz=3)
    with pytest.raises(ValueError) as e:
        dvae.train(tmp_path / "x", preset="huge")
    assert str(e.value) == cli_error(cli, "train", "--preset", "huge", "--out", tmp_path / "y")
    with pytest.raises(ValueError, match='commitment is an option of family="vqvae", not of "dvae"'):
        dvae.train(tmp_path / "x", commitment=0.3)
    with pytest.raises(TypeError, match="steps"):
        dvae.train(tmp_path / "x", steps="many")
    with pytest.raises(ValueError, match="checkpoint_every_minutes: expected a positive number"):
        dvae.train(tmp_path / "x", checkpoint_every_minutes=0)
    with pytest.raises(dvae.DvaeError, match="already holds a run; use resume=True"):
        dvae.train(run_tiny, data=photos, preset="tiny")
    missing = tmp_path / "no-photos"
    with pytest.raises(FileNotFoundError) as e:
        dvae.train(tmp_path / "x", data=missing, preset="tiny", steps=1)
    line = cli_error(cli, "train", "--data", missing, "--preset", "tiny", "--steps", "1",
                     "--out", tmp_path / "z")
    assert str(e.value) == line


def test_skipped_files_warn(photos, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for p in sorted(photos.glob("img00*.png"))[:6]:
        (data / p.name).write_bytes(p.read_bytes())
    (data / "readme.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="skipped 1 files that are not readable images"):
        dvae.train(tmp_path / "run", data=data, preset="tiny", steps=1, batch=2)
