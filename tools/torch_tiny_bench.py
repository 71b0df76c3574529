"""PyTorch reference timing of the `tiny` preset with OpenAI's own dall_e classes.

The same work `dvae bench --workload tiny` measures: a training step (hard Gumbel-softmax,
logit-Laplace NLL + KL to uniform, backward, AdamW), argmax encoding and one-hot decoding,
batch 32 of 64x64 images, medians after warm-up.

  /path/to/venv/bin/python tools/torch_tiny_bench.py --threads 2 --json
"""

import argparse
import json
import math
import resource
import statistics
import time

import attr
import torch
import torch.nn.functional as F

attr.set_run_validators(False)  # dall_e's validators reject n_hid < 64
from dall_e.decoder import Decoder  # noqa: E402
from dall_e.encoder import Encoder  # noqa: E402
from dall_e.utils import map_pixels  # noqa: E402


def timed(fn, n, warmup=2):
    times = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    k = 512
    # dall_e fills its weights in place, so they are made trainable afterwards.
    enc = Encoder(n_hid=32, n_blk_per_group=1, vocab_size=k, use_mixed_precision=False)
    dec = Decoder(n_init=64, n_hid=32, n_blk_per_group=1, vocab_size=k, use_mixed_precision=False)
    params = list(enc.parameters()) + list(dec.parameters())
    for prm in params:
        prm.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4)
    x = map_pixels(torch.rand(a.batch, 3, 64, 64))

    def train_step():
        opt.zero_grad(set_to_none=True)
        logits = enc(x)
        z = F.gumbel_softmax(logits, tau=1.0, hard=True, dim=1)
        out = dec(z)
        mu, ln_b = out[:, :3], out[:, 3:]
        logit_x = torch.log(x) - torch.log1p(-x)
        nll = (ln_b + math.log(2) + torch.log(x * (1 - x)) + (logit_x - mu).abs() * torch.exp(-ln_b)).mean()
        log_q = F.log_softmax(logits, 1)
        kl = (log_q.exp() * (log_q + math.log(k))).sum(1).mean()
        loss = nll + 1e-3 * kl
        loss.backward()
        opt.step()
        return loss.item()

    train_s = timed(train_step, a.iters)
    with torch.inference_mode():
        tokens = enc(x).argmax(1)
        enc_s = timed(lambda: enc(x).argmax(1), a.iters)
        dec_s = timed(lambda: dec(F.one_hot(tokens, k).permute(0, 3, 1, 2).float()), a.iters)
    res = {
        "framework": "pytorch+dall_e",
        "torch": torch.__version__,
        "threads": a.threads,
        "workload": "tiny",
        "batch": a.batch,
        "train_img_s": round(a.batch / train_s, 2),
        "encode_img_s": round(a.batch / enc_s, 2),
        "decode_img_s": round(a.batch / dec_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(res) if a.json else res)


if __name__ == "__main__":
    main()
