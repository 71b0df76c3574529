#!/usr/bin/env python3
"""Encode or decode throughput of OpenAI's dall_e modules in PyTorch (CPU, 2 threads).

The PyTorch side of `cargo run --release -p dvae --example openai_speed`: loads
encoder.pkl / decoder.pkl as OpenAI's notebook does (torch.load of whole modules),
runs a batch of 256x256 images (map_pixels → encoder → argmax) or of token grids
(one_hot → decoder → unmap_pixels(sigmoid(first 3 channels))), and prints one JSON line
with images/s (median of ITERS after one warm-up), CPU seconds per image over the timed
iterations (all threads) and peak resident memory.

    /work/venv-ref/bin/python tools/torch_openai_speed.py DIR encode|decode [BATCH] [ITERS] [THREADS]

DIR holds encoder.pkl and decoder.pkl (tools/make_openai_fixtures.py --full DIR makes
random full-size ones). Run encode and decode as separate processes so each peak is its own.
"""

import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

from dall_e.utils import map_pixels, unmap_pixels


def main():
    folder, op = sys.argv[1], sys.argv[2]
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
    torch.manual_seed(0)
    load = lambda name: torch.load(os.path.join(folder, name), map_location="cpu",
                                   weights_only=False).eval()
    x = torch.rand(batch, 3, 256, 256)
    with torch.no_grad():
        if op == "encode":
            enc = load("encoder.pkl")
            run = lambda: torch.argmax(enc(map_pixels(x)), dim=1)
        else:
            dec = load("decoder.pkl")
            vocab = dec.vocab_size
            tokens = torch.randint(0, vocab, (batch, 32, 32))

            def run():
                z = F.one_hot(tokens, num_classes=vocab).permute(0, 3, 1, 2).float()
                return unmap_pixels(torch.sigmoid(dec(z)[:, :3]))
        times = []
        for i in range(iters + 1):
            if i == 1:
                cpu0 = time.process_time()
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
    cpu_per_img = (time.process_time() - cpu0) / (iters * batch)
    median = sorted(times[1:])[len(times[1:]) // 2]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": "torch", "op": op, "batch": batch, "iters": iters,
                      "img_s": round(batch / median, 3),
                      "cpu_s_per_img": round(cpu_per_img, 2), "peak_rss_mb": round(peak_mb),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
