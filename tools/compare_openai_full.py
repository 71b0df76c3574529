#!/usr/bin/env python3
"""Full-size parity: `dvae encode`/`decode` of an imported run against dall_e in PyTorch.

    /work/venv-ref/bin/python tools/make_openai_fixtures.py --full /tmp/dalle-full
    dvae import-openai --encoder /tmp/dalle-full/encoder.pkl \\
        --decoder /tmp/dalle-full/decoder.pkl --out /tmp/dalle-run
    dvae encode --run /tmp/dalle-run a.png b.png --out /tmp/t.npy      # 256x256 PNGs
    dvae decode --run /tmp/dalle-run /tmp/t.npy --out /tmp/dec
    /work/venv-ref/bin/python tools/compare_openai_full.py /tmp/dalle-full /tmp/t.npy /tmp/dec a.png b.png

Prints the fraction of identical tokens (with the smallest top-1/top-2 logit margin, so a
near-tie can be told from a bug) and, per image, the largest difference between our decoded
PNG and dall_e's decoding of the same tokens, in 8-bit levels.
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dall_e.utils import map_pixels, unmap_pixels


def main():
    folder, tokens_npy, decoded, *paths = sys.argv[1:]
    torch.set_num_threads(2)
    load = lambda name: torch.load(os.path.join(folder, name), weights_only=False).eval()
    enc, dec = load("encoder.pkl"), load("decoder.pkl")
    x = torch.stack([torch.tensor(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)
                     for p in paths]).float() / 255
    ours = torch.from_numpy(np.load(tokens_npy).astype(np.int64))
    with torch.no_grad():
        logits = enc(map_pixels(x))
        top2 = torch.topk(logits, 2, dim=1).values
        same = (logits.argmax(1) == ours).float().mean().item()
        print(f"identical tokens: {same:.6f} (smallest argmax margin "
              f"{(top2[:, 0] - top2[:, 1]).min().item():.3g})")
        z = F.one_hot(ours, dec.vocab_size).permute(0, 3, 1, 2).float()
        rec = unmap_pixels(torch.sigmoid(dec(z)[:, :3]))
    rec8 = (rec * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i in range(len(paths)):
        mine = np.array(Image.open(os.path.join(decoded, f"{i:06d}.png")).convert("RGB"))
        diff = np.abs(mine.astype(int) - rec8[i].astype(int)).max()
        print(f"image {i}: decoded max |diff| {diff} (8-bit levels)")


if __name__ == "__main__":
    main()
