"""Shared fixtures: the real `dvae` binary, real PNG files and run directories it trains.

Every run directory is made by the CLI in a temporary folder (a few steps of the `tiny`
preset), so the Python side is always compared with what the CLI writes for the same
inputs.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "crates" / "dvae" / "tests" / "fixtures"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def skipped(what: str, why: str) -> None:
    """Skips the calling test, saying so on stderr past pytest's capture and in
    target/tmp/skipped-tests.txt (which .ci/run counts), as the Rust tests do."""
    line = f"SKIPPED: {what}: {why}\n"
    sys.__stderr__.write(line)
    sys.__stderr__.flush()
    record = target_dir() / "tmp" / "skipped-tests.txt"
    record.parent.mkdir(parents=True, exist_ok=True)
    with open(record, "a") as f:
        f.write(line)
    pytest.skip(line.strip())


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Writes uint8 [H, W, 3] pixels as an 8-bit RGB PNG (no library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def picture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like test image: a colour gradient, a disc and stripes, plus noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = (x / max(w - 1, 1) * rng.uniform(0.2, 1) + y / max(h - 1, 1) * rng.uniform(0.2, 1)) / 2
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, min(h, w) / 2)
    disc = (y - cy) ** 2 + (x - cx) ** 2 < r * r
    img[disc] = rng.uniform(0, 255, 3)
    stripes = (np.sin(x * rng.uniform(0.2, 0.8)) > 0.6)[..., None]
    img = np.where(stripes, img * 0.6, img)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


# Sides of the odd-sized files: wider, taller, smaller than 64 (upscaled), square larger.
ODD_SIZES = [(80, 100), (96, 64), (40, 50), (128, 128)]


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """A folder of 28 real PNGs: 24 of 64x64 and 4 of other sizes, in a subfolder too."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(7)
    (root / "more").mkdir()
    for i in range(24):
        folder = root / "more" if i >= 20 else root
        write_png(folder / f"img{i:03d}.png", picture(rng, 64, 64))
    for i, (h, w) in enumerate(ODD_SIZES):
        write_png(root / f"odd{i}.png", picture(rng, h, w))
    return root


@pytest.fixture(scope="session")
def cli() -> Path:
    """The release `dvae` binary of this workspace (built here if it is not yet)."""
    exe = Path(os.environ.get("DVAE_BIN", target_dir() / "release" / "dvae"))
    if "DVAE_BIN" not in os.environ:
        sys.__stderr__.write("building the dvae CLI (cargo build --release -p dvae-cli)\n")
        subprocess.run(
            ["cargo", "build", "--release", "-p", "dvae-cli"], cwd=REPO, check=True
        )
    assert exe.is_file(), f"no dvae binary at {exe}"
    return exe


def run_cli(cli: Path, *args, ok: bool = True) -> subprocess.CompletedProcess:
    """Runs the CLI; with ok, a non-zero exit fails the test with its stderr."""
    p = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True)
    if ok:
        assert p.returncode == 0, f"dvae {' '.join(map(str, args))}: {p.stderr}"
    return p


def cli_error(cli: Path, *args) -> str:
    """The CLI's one-line error message for a command that fails (without `error: `)."""
    p = run_cli(cli, *args, ok=False)
    assert p.returncode == 2, p
    lines = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, p.stderr
    return lines[0][len("error: ") :]


def train_run(cli: Path, out: Path, data, *flags) -> Path:
    run_cli(cli, "train", "--preset", "tiny", "--data", data, "--out", out, *flags)
    return out


@pytest.fixture(scope="session")
def run_tiny(cli, photos, tmp_path_factory) -> Path:
    """A dVAE run of the tiny preset trained by the CLI for 30 steps on the photos."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train_run(cli, out, photos, "--steps", "30", "--batch", "8", "--seed", "3")


@pytest.fixture(scope="session")
def run_vqvae(cli, photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "vq"
    return train_run(cli, out, photos, "--family", "vqvae", "--steps", "4", "--batch", "4")


@pytest.fixture(scope="session")
def run_vae(cli, photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "vae"
    return train_run(cli, out, photos, "--family", "vae", "--steps", "2", "--batch", "4")


@pytest.fixture(scope="session")
def encoder_only(cli, tmp_path_factory) -> Path:
    """OpenAI's (small, random) encoder fixture imported alone by the CLI."""
    out = tmp_path_factory.mktemp("runs") / "openai-encoder"
    run_cli(cli, "import-openai", "--encoder", FIXTURES / "openai" / "encoder.pkl",
            "--image-size", "64", "--out", out)
    return out


@pytest.fixture(scope="session")
def images(photos) -> np.ndarray:
    import dvae

    return dvae.load_images(photos, 64)


@pytest.fixture(scope="session")
def cli_tokens(cli, run_tiny, photos, tmp_path_factory) -> np.ndarray:
    """`dvae encode` of the photos folder with the tiny run (its default batch)."""
    out = tmp_path_factory.mktemp("encoded") / "tokens.npy"
    run_cli(cli, "encode", "--run", run_tiny, photos, "--out", out)
    return np.load(out)


@pytest.fixture(scope="session")
def tok(run_tiny):
    import dvae

    return dvae.Tokenizer.load(run_tiny)


def tensors(path: Path) -> dict:
    """Every tensor of a safetensors file as (dtype, shape, raw bytes), by name: the
    file's header lists them in no fixed order, so files are compared tensor by tensor."""
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n :]
    return {
        k: (v["dtype"], tuple(v["shape"]), body[v["data_offsets"][0] : v["data_offsets"][1]])
        for k, v in header.items()
    }


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt in every test, as in a terminal: a process started in
    the background (`cmd &`, some CI runners) inherits SIGINT ignored, and Python then
    installs no handler, so the Ctrl-C tests would see nothing."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
