#!/usr/bin/env python3
"""Generate reference fixtures for the `dvae` crate from OpenAI's `dall_e` package.

What it writes
--------------
crates/dvae/tests/fixtures/dalle_small.safetensors, containing:

  encoder.<state_dict name>   parameters of a small dall_e Encoder
                              (group_count=4, n_hid=16, n_blk_per_group=1,
                              input_channels=3, vocab_size=32), e.g.
                              `encoder.blocks.input.w`,
                              `encoder.blocks.group_1.block_1.res_path.conv_1.w`
  decoder.<state_dict name>   parameters of a small dall_e Decoder
                              (group_count=4, n_init=8, n_hid=16,
                              n_blk_per_group=1, output_channels=3, vocab_size=32)
  x        f32 [2,3,32,32]  raw pixels, uniform in [0,1)
  logits   f32 [2,32,4,4]   encoder(map_pixels(x))
  tokens   i64 [2,4,4]      argmax(logits, dim=1)
  dec_out  f32 [2,6,32,32]  decoder(one_hot(tokens, 32) as NCHW float)
  recon    f32 [2,3,32,32]  unmap_pixels(sigmoid(dec_out[:, :3]))
  nll      f32 [1]          mean over all elements of the logit-Laplace NLL of
                            x_m = map_pixels(x) with mu = dec_out[:, :3],
                            ln_b = dec_out[:, 3:], b = exp(ln_b):
                              ln(2b) + ln(x_m (1 - x_m)) + |logit(x_m) - mu| / b
                            (computed in float64, stored as float32)
  kl       f32 [1]          mean over batch and grid cells of
                            KL(softmax(logits, dim=1) || uniform(32))
                              = sum_k q_k (log q_k + log 32)

Weights keep DALL-E's init (normal, std = 1/sqrt(n_in * k^2)); every bias `.b`
(zero in DALL-E's init) is overwritten with normal(std=0.1) so biases are
exercised.  The safetensors header metadata records the hyper-parameters
(group_count, n_hid, n_blk_per_group, vocab_size, n_init, image_size, ...) and
the torch version.

Everything runs on CPU in float32 with a fixed seed (torch.manual_seed(0)) and a
single thread, so re-running reproduces the file.  The header JSON is rewritten
with sorted metadata keys (safetensors emits them in hash-map order), so the
file is byte-for-byte reproducible with the same torch version.

How to run (from the repository root)
-------------------------------------
    /work/venv-ref/bin/python tools/make_fixtures.py

Requires torch, safetensors and OpenAI's `dall_e` package.  Note: dall_e's attrs
validators reject such small sizes (n_hid >= 64, vocab_size >= 512), so they
are disabled here with attr.set_run_validators(False).  `group_count` is not
a constructor argument in dall_e (it is a class constant equal to 4); the
script asserts it instead of passing it.
"""

import json
import math
import os
import struct
import sys

import attr
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from dall_e.decoder import Decoder
from dall_e.encoder import Encoder
from dall_e.utils import logit_laplace_eps, map_pixels, unmap_pixels

# Seed 2 (rather than 0) is used because it yields 7 distinct tokens instead of 2,
# so the decoder's one-hot input is exercised more; the smallest top-1/top-2
# logit margin is still ~1.6e-3, far above float32 rounding differences.
SEED = 2
GROUP_COUNT = 4
N_HID = 16
N_BLK_PER_GROUP = 1
VOCAB_SIZE = 32
N_INIT = 8
IMAGE_SIZE = 32
BATCH = 2
IN_CHANNELS = 3
BIAS_STD = 0.1

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "crates", "dvae", "tests", "fixtures")
OUT_PATH = os.path.normpath(os.path.join(OUT_DIR, "dalle_small.safetensors"))


def randomize_biases(module: torch.nn.Module) -> None:
    """Overwrite every `.b` parameter with normal(0, BIAS_STD) values."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name == "b" or name.endswith(".b"):
                p.normal_(mean=0.0, std=BIAS_STD)


def canonicalize_header(path: str) -> None:
    """Rewrite the safetensors header with metadata keys sorted.

    safetensors serializes `__metadata__` from a hash map, so its key order
    varies between runs.  Re-emitting it sorted (same compact JSON, padded with
    spaces to the original length, which the format allows) leaves all data
    offsets unchanged and makes the output byte-reproducible.
    """
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        meta = header.pop("__metadata__", None)
        out = {}
        if meta is not None:
            out["__metadata__"] = dict(sorted(meta.items()))
        out.update(sorted(header.items()))
        raw = json.dumps(out, separators=(",", ":")).encode("utf-8")
        assert len(raw) <= n, "canonical header longer than original"
        f.seek(8)
        f.write(raw + b" " * (n - len(raw)))


def logit_laplace_nll(x_m: torch.Tensor, mu: torch.Tensor, ln_b: torch.Tensor) -> torch.Tensor:
    x_m, mu, ln_b = x_m.double(), mu.double(), ln_b.double()
    b = torch.exp(ln_b)
    logit_x = torch.log(x_m) - torch.log1p(-x_m)
    per_elem = torch.log(2.0 * b) + torch.log(x_m * (1.0 - x_m)) + torch.abs(logit_x - mu) / b
    return per_elem.mean()


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    log_q = F.log_softmax(logits.double(), dim=1)
    q = log_q.exp()
    per_cell = (q * (log_q + math.log(logits.shape[1]))).sum(dim=1)  # [B, H, W]
    return per_cell.mean()


def main() -> int:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    attr.set_run_validators(False)

    assert Encoder.group_count == GROUP_COUNT and Decoder.group_count == GROUP_COUNT

    enc = Encoder(n_hid=N_HID, n_blk_per_group=N_BLK_PER_GROUP, input_channels=IN_CHANNELS,
                  vocab_size=VOCAB_SIZE, requires_grad=False, use_mixed_precision=False)
    dec = Decoder(n_init=N_INIT, n_hid=N_HID, n_blk_per_group=N_BLK_PER_GROUP,
                  output_channels=IN_CHANNELS, vocab_size=VOCAB_SIZE, requires_grad=False,
                  use_mixed_precision=False)
    randomize_biases(enc)
    randomize_biases(dec)
    enc.eval()
    dec.eval()

    x = torch.rand(BATCH, IN_CHANNELS, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.float32)

    with torch.no_grad():
        x_m = map_pixels(x)
        logits = enc(x_m).float()
        tokens = torch.argmax(logits, dim=1)
        z = F.one_hot(tokens, num_classes=VOCAB_SIZE).permute(0, 3, 1, 2).float()
        dec_out = dec(z).float()
        recon = unmap_pixels(torch.sigmoid(dec_out[:, :IN_CHANNELS]))
        nll = logit_laplace_nll(x_m, dec_out[:, :IN_CHANNELS], dec_out[:, IN_CHANNELS:])
        kl = kl_to_uniform(logits)

    # Guard against near-ties in the argmax, which would make `tokens` fragile
    # for a re-implementation with slightly different float rounding.
    top2 = torch.topk(logits, 2, dim=1).values
    min_margin = (top2[:, 0] - top2[:, 1]).min().item()

    tensors = {}
    for prefix, model in (("encoder.", enc), ("decoder.", dec)):
        for name, t in model.state_dict().items():
            tensors[prefix + name] = t.detach().to(torch.float32).contiguous().clone()
    tensors.update({
        "x": x.contiguous(),
        "logits": logits.contiguous(),
        "tokens": tokens.to(torch.int64).contiguous(),
        "dec_out": dec_out.contiguous(),
        "recon": recon.contiguous(),
        "nll": nll.to(torch.float32).reshape(1),
        "kl": kl.to(torch.float32).reshape(1),
    })

    metadata = {
        "group_count": str(GROUP_COUNT),
        "n_hid": str(N_HID),
        "n_blk_per_group": str(N_BLK_PER_GROUP),
        "vocab_size": str(VOCAB_SIZE),
        "n_init": str(N_INIT),
        "image_size": str(IMAGE_SIZE),
        "batch": str(BATCH),
        "input_channels": str(IN_CHANNELS),
        "output_channels": str(IN_CHANNELS),
        "logit_laplace_eps": repr(logit_laplace_eps),
        "bias_std": repr(BIAS_STD),
        "seed": str(SEED),
        "torch_version": torch.__version__,
        "generator": "tools/make_fixtures.py",
    }

    os.makedirs(OUT_DIR, exist_ok=True)
    save_file(tensors, OUT_PATH, metadata=metadata)
    canonicalize_header(OUT_PATH)

    # ---- summary ----
    n_params = {p: sum(t.numel() for k, t in tensors.items() if k.startswith(p))
                for p in ("encoder.", "decoder.")}
    print(f"wrote {OUT_PATH} ({os.path.getsize(OUT_PATH)} bytes)")
    print(f"torch {torch.__version__}, seed {SEED}")
    print(f"encoder params: {n_params['encoder.']}, decoder params: {n_params['decoder.']}")
    for k in sorted(tensors):
        t = tensors[k]
        print(f"  {k:55s} {str(t.dtype):14s} {list(t.shape)}")
    print("x[0,0,0,:4]        =", x[0, 0, 0, :4].tolist())
    print("logits[0,:4,0,0]   =", logits[0, :4, 0, 0].tolist())
    print("tokens[0]          =", tokens[0].tolist())
    print("tokens[1]          =", tokens[1].tolist())
    print("distinct tokens    =", tokens.unique().numel())
    print("min argmax margin  =", min_margin)
    print("dec_out[0,:,0,0]   =", dec_out[0, :, 0, 0].tolist())
    print("recon[0,0,0,:4]    =", recon[0, 0, 0, :4].tolist())
    print("nll                =", nll.item())
    print("kl                 =", kl.item())
    if min_margin < 1e-3:
        print("WARNING: argmax margin is tiny; tokens may be fragile", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
