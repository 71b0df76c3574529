"""Writes crates/dvae/tests/fixtures/shards/: two WebDataset shards made by the
`webdataset` package's ShardWriter (the writer LAION/DataComp-scale sets use), and what
webdataset itself reads back from them (keys, classes, decoded pixels), for the Rust
reader to match.

    /work/venv-ref/bin/pip install webdataset pillow numpy
    /work/venv-ref/bin/python tools/make_shard_fixture.py
"""

import io
import json
import os

import numpy as np
import webdataset as wds
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "dvae", "tests", "fixtures", "shards")


def image(i: int, size: int) -> np.ndarray:
    """A small image that differs by sample: diagonal bands of three colours."""
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([(x * 9 + i * 40) % 256, (y * 7 + i * 25) % 256, ((x + y) * 5 + i * 60) % 256], -1)
    return rgb.astype(np.uint8)


def encoded(arr: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    pattern = os.path.join(OUT, "wds-%06d.tar")
    # 5 samples a shard: shard 0 holds 0-4, shard 1 holds 5-6. PNG and JPEG members; a
    # class on every other sample (.cls, as ShardWriter writes ints).
    with wds.ShardWriter(pattern, maxcount=5) as sink:
        for i in range(7):
            sample = {"__key__": f"sample{i:04d}"}
            if i % 3 == 2:
                sample["jpg"] = encoded(image(i, 20), "JPEG")
            else:
                sample["png"] = encoded(image(i, 16 + i), "PNG")
            if i % 2 == 0:
                sample["cls"] = i // 2
            sample["json"] = {"index": i}
            sink.write(sample)
    # What webdataset reads: keys in order, the class text, pixels decoded by PIL.
    shards = sorted(os.path.join(OUT, f) for f in os.listdir(OUT) if f.endswith(".tar"))
    read = []
    for s in wds.WebDataset(shards, shardshuffle=False).decode("rgb8"):
        key = s["__key__"]
        img = s.get("png", s.get("jpg"))
        read.append({
            "key": key,
            "shard": os.path.basename(s["__url__"]),
            "ext": "png" if "png" in s else "jpg",
            "cls": s.get("cls"),
            "height": int(img.shape[0]),
            "width": int(img.shape[1]),
            # PIL's decode: exact for PNG; a JPEG decoder may differ by a level or two.
            "pixels": img.reshape(-1).tolist(),
        })
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"webdataset": wds.__version__ if hasattr(wds, "__version__") else "?", "samples": read}, f)
    print(f"wrote {len(shards)} shards, {len(read)} samples to {OUT}")


if __name__ == "__main__":
    main()
