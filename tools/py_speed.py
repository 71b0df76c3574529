#!/usr/bin/env python3
"""Encode/decode throughput of the Python package against the Rust side, same machine.

Two comparisons per preset (batch 64 by default):

* model calls: ``Tokenizer.encode`` / ``decode`` from Python on a batch of uint8 images
  against ``cargo run --release -p dvae --example openai_speed -- RUN encode|decode 64``
  (the library's ``Tokenizer::encode`` / ``decode`` as the CLI calls them), medians of
  ``--iters`` calls after a warm-up, each side in its own process;
* end to end: ``dvae encode --run RUN --batch 64 DIR --out t.npy`` against a Python
  process doing the same (``load_images``, ``encode``, ``numpy.save``) on the same PNGs,
  wall time of the whole process (and, for Python, after its imports).

Rounds alternate the two sides (the machine is shared; compare medians). Needs the
``dvae`` wheel installed and the release binaries::

    cargo build --release --workspace --examples   # the CLI and examples/openai_speed
    python tools/py_speed.py [--presets tiny,small] [--batch 64] [--iters 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release"

PY_CALLS = """
import json, sys, time
import numpy as np, dvae
run, op, batch, iters, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
tok = dvae.Tokenizer.load(run)
x = dvae.load_images(folder, tok.image_size)[:batch]
ids = tok.encode(x, batch=batch)
times = []
for i in range(iters + 1):
    t0 = time.perf_counter()
    if op == "encode":
        tok.encode(x, batch=batch)
    else:
        tok.decode(ids, batch=batch)
    times.append(time.perf_counter() - t0)
print(json.dumps({"img_s": batch / sorted(times[1:])[len(times[1:]) // 2]}))
"""

PY_END_TO_END = """
import json, sys, time
import numpy as np, dvae
t0 = time.perf_counter()
dvae.retain_freed_memory()  # the allocator settings the dvae binary starts with
run, folder, out, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tok = dvae.Tokenizer.load(run)
np.save(out, tok.encode(dvae.load_images(folder, tok.image_size), batch=batch, dtype="uint16"))
print(json.dumps({"after_imports_s": time.perf_counter() - t0}))
"""


def write_png(path: Path, rgb: np.ndarray) -> None:
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def photos(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    for i in range(n):
        base = rng.uniform(0, 255, 3) * (x[..., None] + y[..., None]) / 126
        img = np.clip(base + rng.normal(0, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
        write_png(folder / f"{i:05d}.png", img)


def run(cmd: list) -> str:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{p.stderr}")
    return p.stdout


def wall(cmd: list) -> tuple:
    t0 = time.perf_counter()
    out = run(cmd)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=512, help="images of the end-to-end encode")
    a = ap.parse_args()
    cli, example = TARGET / "dvae", TARGET / "examples" / "openai_speed"
    for exe in (cli, example):
        if not exe.is_file():
            sys.exit(f"missing {exe}: cargo build --release --workspace --examples")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "photos"
        folder.mkdir()
        photos(folder, max(a.images, a.batch))
        for preset in a.presets.split(","):
            rdir = tmp / preset
            run([cli, "train", "--preset", preset, "--steps", "1", "--batch", "2", "--out", rdir])
            keys = ["rs_encode", "py_encode", "rs_decode", "py_decode", "rs_e2e", "py_e2e", "py_in"]
            res = {k: [] for k in keys}
            for _ in range(a.rounds):
                for op in ("encode", "decode"):
                    out = run([example, rdir, op, a.batch, a.iters])
                    res[f"rs_{op}"].append(json.loads(out.strip().splitlines()[-1])["img_s"])
                    out = run([sys.executable, "-c", PY_CALLS, rdir, op, a.batch, a.iters, folder])
                    res[f"py_{op}"].append(json.loads(out)["img_s"])
                res["rs_e2e"].append(wall([cli, "encode", "--run", rdir, "--batch", a.batch, folder,
                                           "--out", tmp / "cli.npy"])[0])
                took, out = wall([sys.executable, "-c", PY_END_TO_END, rdir, folder, tmp / "py.npy",
                                  a.batch])
                res["py_e2e"].append(took)
                res["py_in"].append(json.loads(out)["after_imports_s"])
            assert np.array_equal(np.load(tmp / "cli.npy"), np.load(tmp / "py.npy"))
            med = {k: statistics.median(v) for k, v in res.items()}
            n = max(a.images, a.batch)
            for op in ("encode", "decode"):
                rows.append((preset, f"{op} (model calls)", med[f"rs_{op}"], med[f"py_{op}"]))
            rows.append((preset, f"encode {n} PNGs, whole process", n / med["rs_e2e"], n / med["py_e2e"]))
            rows.append((preset, f"encode {n} PNGs, after Python's imports", n / med["rs_e2e"],
                         n / med["py_in"]))
    print(f"batch {a.batch}, {a.rounds} alternated rounds, medians (img/s)")
    print(f"| preset | operation | Rust (CLI / library) | Python | Python overhead |")
    print(f"|---|---|---|---|---|")
    for preset, op, rs, py in rows:
        print(f"| {preset} | {op} | {rs:.1f} | {py:.1f} | {100 * (rs / py - 1):+.1f}% |")


if __name__ == "__main__":
    main()
