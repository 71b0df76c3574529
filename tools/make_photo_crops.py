#!/usr/bin/env python3
"""Cut random square RGB crops from the photographs bundled with scikit-image.

Writes N PNG files `crop_00000.png`, `crop_00001.png`, ... of SxS RGB pixels
into --out (created if missing; nothing else is written there).  Useful as a
small, offline, real-photo data set for dVAE training experiments.

Sources (all shipped inside the scikit-image package, no download needed):
  colour (default): astronaut, chelsea, coffee, rocket, immunohistochemistry,
                    hubble_deep_field, retina, stereo_motorcycle (left view)
  grayscale (only with --gray, replicated to RGB): camera, moon, grass,
                    gravel, brick, coins, clock
  also (colour): china, flower (scikit-learn's sample images), grace_hopper
                    (matplotlib's sample data), when those packages are present
  --extra-dir DIR: every .jpg/.jpeg/.png/.webp in DIR, in the training split (e.g. the
                    22 photos tools/fetch_wallpaper_photos.sh copies from Debian's
                    wallpaper packages), each first resized so that its short side is
                    --extra-short-side pixels (480: the scale of the bundled photos, whose
                    crops the test split is)
  --extra-test-every N: with --extra-dir, every N-th of its photos in name order (the
                    1st, the (N+1)-th, ...) is a test photo instead: a wider test split,
                    by a rule fixed before any score was seen (N = 5 on the 22 wallpapers:
                    Aqua, GreenMeadow, Wood, DarkestHour, Path)
Splits by photo (--split): "train" is every colour photo but chelsea, coffee and
flower, which are "test"; crops of one photo never land in both, so a model
scored on "test" is scored on photos it never saw (not on other crops of them).
Skipped on purpose: colorwheel / logo / checkerboard (synthetic), cat (same
image as chelsea), stereo_motorcycle right view (near-duplicate of the left),
and loaders that need the optional `pooch` download (eagle, lily, skin, ...).

Each crop: pick a source photo uniformly at random; pick a square window whose
side is a uniform integer in [S, max(S, min(H, W) // 2)]; pick a uniform random
position for it; flip horizontally with probability 1/2; resize to SxS with
PIL's LANCZOS filter (antialiased when downscaling).  Everything is driven by
numpy.random.default_rng(--seed), so the output is deterministic.

Usage (held out by photo, as the README's quality figures are measured; add
`--extra-dir /work/data/wallpapers` to the first for 30 training photos instead of 8):
    /work/venv-ref/bin/python tools/make_photo_crops.py --split train \\
        --out /work/data/photos-train --n 3000 --size 64 --seed 0
    /work/venv-ref/bin/python tools/make_photo_crops.py --split test \\
        --out /work/data/photos-test --n 300 --size 64 --seed 1
The wider split (25 training photos, 8 test photos: chelsea, coffee, flower and five of
the wallpapers):
    python tools/make_photo_crops.py --split train --extra-dir /work/data/wallpapers \\
        --extra-test-every 5 --out /work/data/photos-train25 --n 6000 --size 64 --seed 0
    python tools/make_photo_crops.py --split test --extra-dir /work/data/wallpapers \\
        --extra-test-every 5 --out /work/data/photos-test8 --n 800 --size 64 --seed 1

Requires numpy, pillow and scikit-image (scikit-learn and matplotlib for their photos).
"""

import argparse
import collections
import os
import sys

import numpy as np
from PIL import Image

COLOUR_SOURCES = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "stereo_motorcycle",
]
EXTRA_SOURCES = ["china", "flower", "grace_hopper"]
TEST_SOURCES = ["chelsea", "coffee", "flower"]
GRAY_SOURCES = ["camera", "moon", "grass", "gravel", "brick", "coins", "clock"]


def load_array(name: str):
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "grace_hopper":
        import matplotlib.cbook as cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    import skimage.data as data

    return getattr(data, name)()


def load_source(name: str) -> Image.Image:
    arr = load_array(name)
    if isinstance(arr, tuple):  # stereo_motorcycle -> (left, right, disparity)
        arr = arr[0]
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name}: unexpected dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name}: unexpected shape {arr.shape}")
    return Image.fromarray(np.ascontiguousarray(arr), mode="RGB")


def big_enough(name: str, img: Image.Image, size: int) -> bool:
    """Whether a SxS crop fits in `img`; says on stderr when it does not."""
    w, h = img.size
    if min(w, h) < size:
        print(f"skipping {name}: {w}x{h} is smaller than {size}", file=sys.stderr)
        return False
    return True


def load_sources(names, size):
    sources = []
    for name in names:
        try:
            img = load_source(name)
        except Exception as e:  # e.g. needs pooch / network
            print(f"skipping {name}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if big_enough(name, img, size):
            sources.append((name, img))
    if not sources:
        raise SystemExit("no usable source photos")
    return sources


def load_extra(folder: str, short_side: int):
    """(name, image) for each photo file in `folder`, sorted by name, resized so that
    the short side is `short_side` (LANCZOS; never enlarged)."""
    out = []
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith((".jpg", ".jpeg", ".png", ".webp")))
    if not files:
        raise SystemExit(f"{folder}: no .jpg/.jpeg/.png/.webp files")
    for f in files:
        path = os.path.join(folder, f)
        try:
            img = Image.open(path).convert("RGB")
        except Exception as e:
            raise SystemExit(f"{path}: not a readable image: {e}")
        w, h = img.size
        scale = short_side / min(w, h)
        if scale < 1:
            img = img.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
        out.append((os.path.splitext(f)[0], img))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--n", type=int, required=True, help="number of crops")
    ap.add_argument("--size", type=int, required=True, help="crop side S in pixels")
    ap.add_argument("--seed", type=int, default=0, help="RNG seed")
    ap.add_argument("--gray", action="store_true",
                    help="also use grayscale photos (converted to RGB)")
    ap.add_argument("--split", choices=["all", "train", "test"], default="all",
                    help="train: every colour photo but the test ones; test: "
                         + ", ".join(TEST_SOURCES) + " (default: the original 8, no split)")
    ap.add_argument("--extra-dir", help="a folder of more photos for the training split "
                                        "(and for the test split with --extra-test-every)")
    ap.add_argument("--extra-short-side", type=int, default=480,
                    help="resize --extra-dir photos to this short side first (default 480)")
    ap.add_argument("--extra-test-every", type=int, default=0, metavar="N",
                    help="every N-th --extra-dir photo in name order (from the first) is a "
                         "test photo instead of a training one (default 0: none)")
    args = ap.parse_args()
    if args.extra_test_every < 0:
        ap.error("--extra-test-every must be >= 0")
    if args.extra_test_every and not args.extra_dir:
        ap.error("--extra-test-every needs --extra-dir")
    if args.extra_dir and args.split == "all":
        ap.error("--extra-dir adds photos to a split: use it with --split train or test")
    if args.extra_dir and args.split == "test" and not args.extra_test_every:
        ap.error("--extra-dir with --split test needs --extra-test-every: "
                 "otherwise none of its photos is a test photo")
    if args.n < 0 or args.size < 1:
        ap.error("--n must be >= 0 and --size >= 1")

    if args.split == "all":
        names = COLOUR_SOURCES + (GRAY_SOURCES if args.gray else [])
    else:
        every = COLOUR_SOURCES + EXTRA_SOURCES
        names = [n for n in every if (n in TEST_SOURCES) == (args.split == "test")]
    sources = load_sources(names, args.size)
    if args.extra_dir:
        test_every = args.extra_test_every
        extra = load_extra(args.extra_dir, args.extra_short_side)
        sources += [(n, im) for i, (n, im) in enumerate(extra)
                    if (test_every > 0 and i % test_every == 0) == (args.split == "test")
                    and big_enough(n, im, args.size)]
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    S = args.size
    counts = collections.Counter()
    for i in range(args.n):
        name, img = sources[int(rng.integers(len(sources)))]
        w, h = img.size
        max_side = max(S, min(w, h) // 2)
        side = int(rng.integers(S, max_side + 1))
        x0 = int(rng.integers(0, w - side + 1))
        y0 = int(rng.integers(0, h - side + 1))
        flip = bool(rng.integers(2))
        crop = img.crop((x0, y0, x0 + side, y0 + side))
        if flip:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if side != S:
            crop = crop.resize((S, S), Image.Resampling.LANCZOS)
        crop.save(os.path.join(args.out, f"crop_{i:05d}.png"))
        counts[name] += 1

    print(f"wrote {args.n} crops of {S}x{S} to {args.out} (seed {args.seed})")
    print("source photos used (name, WxH, crops):")
    for name, img in sources:
        w, h = img.size
        print(f"  {name:22s} {w}x{h}  {counts[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
