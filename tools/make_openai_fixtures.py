#!/usr/bin/env python3
"""Fixtures for `dvae import-openai`: dall_e modules pickled as OpenAI's files are.

OpenAI published the dVAE as `torch.save(module)` of whole `dall_e.encoder.Encoder` /
`dall_e.decoder.Decoder` objects. This script builds the same classes with small random
weights, saves them the same way, and records what PyTorch computes with them.

What it writes (crates/dvae/tests/fixtures/openai/)
---------------------------------------------------
  encoder.pkl, decoder.pkl     torch.save(module) in the zip format (torch >= 1.6 default)
  encoder_legacy.pkl,          the same modules with _use_new_zipfile_serialization=False
  decoder_legacy.pkl           (magic, protocol and sys-info pickles, the module pickle,
                               the storage keys, then the raw storages)
      Encoder(n_hid=8, n_blk_per_group=2, input_channels=3, vocab_size=128)
      Decoder(n_init=16, n_hid=8, n_blk_per_group=2, output_channels=3, vocab_size=128)
      DALL-E's init, with every bias `.b` redrawn from N(0, 0.1^2) so biases count.
  layouts.pkl, layouts_legacy.pkl
      an nn.Sequential of dall_e.utils.Conv2d whose parameters exercise the reader:
      float16, bfloat16 and float64 storages, a channels_last (non-contiguous) weight,
      two biases that are views at different offsets of one storage, and a weight that
      is a transposed view.
  evil_global.pkl              layouts.pkl with its `torch.nn.modules.container
                               Sequential` GLOBAL replaced by `os system` (zip entry
                               rewritten)
  evil_reduce.pkl              a legacy-format file whose pickle calls posix.system
                               through REDUCE (what a malicious checkpoint does)
  reference.safetensors
      x        f32 [2,3,32,32]   pixels in [0,1]: bilinear upsampling of 4x4 random colours
      logits   f32 [2,128,4,4]   encoder(map_pixels(x))
      tokens   i64 [2,4,4]       argmax(logits, 1)
      recon    f32 [2,3,32,32]   unmap_pixels(sigmoid(decoder(one_hot(tokens))[:, :3]))
      tokens_random  i64 [2,4,4] uniform random codes
      recon_random   f32 [2,3,32,32]  the same decoding of tokens_random
      layouts.<name>  f32        each parameter of layouts.pkl as float32, contiguous

With --full DIR it also writes the real architecture (n_hid 256, vocab 8192, 2 blocks per
group) with random weights as DIR/encoder.pkl and DIR/decoder.pkl (about 400 MB; not
committed), for timing `dvae import-openai` and the models at their real size.

Run from the repository root:
    /work/venv-ref/bin/python tools/make_openai_fixtures.py [--full /tmp/dalle-full]
Deterministic (seed 0, one thread); dall_e's attrs validators (n_hid >= 64,
vocab_size >= 512) are switched off for the small sizes.
"""

import argparse
import os
import sys
import zipfile

import attr
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from dall_e.decoder import Decoder
from dall_e.encoder import Encoder
from dall_e.utils import Conv2d, map_pixels, unmap_pixels

SEED = 4
N_HID = 8
N_BLK_PER_GROUP = 2
VOCAB_SIZE = 128
N_INIT = 16
IMAGE_SIZE = 32
BATCH = 2
BIAS_STD = 0.1

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "crates", "dvae", "tests", "fixtures", "openai"))


def randomize_biases(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name == "b" or name.endswith(".b"):
                p.normal_(std=BIAS_STD)


def save_both(module, stem):
    torch.save(module, os.path.join(OUT_DIR, f"{stem}.pkl"))
    torch.save(module, os.path.join(OUT_DIR, f"{stem}_legacy.pkl"),
               _use_new_zipfile_serialization=False)


def layouts():
    """Parameters in every layout and dtype the reader must resolve."""
    seq = torch.nn.Sequential(Conv2d(3, 4, 3), Conv2d(4, 4, 1), Conv2d(4, 2, 1), Conv2d(2, 4, 1))
    with torch.no_grad():
        a, b, c, d = seq
        a.w = torch.nn.Parameter(torch.randn(4, 3, 3, 3).to(memory_format=torch.channels_last))
        shared = torch.randn(16)
        a.b = torch.nn.Parameter(shared[2:6])       # offset 2 into a shared storage
        b.b = torch.nn.Parameter(shared[9:13])      # offset 9 into the same storage
        b.w = torch.nn.Parameter(torch.randn(4, 4, 1, 1).half())
        c.w = torch.nn.Parameter(torch.randn(2, 4, 1, 1).to(torch.bfloat16))
        c.b = torch.nn.Parameter(torch.randn(2, dtype=torch.float64))
        d.w = torch.nn.Parameter(torch.randn(2, 4, 1, 1).permute(1, 0, 2, 3))  # transposed view
    assert not a.w.is_contiguous() and not d.w.is_contiguous()
    assert a.b.storage_offset() == 2 and b.b.storage_offset() == 9
    expected = {f"layouts.{k}": v.detach().to(torch.float32).contiguous().clone()
                for k, v in seq.state_dict().items()}
    return seq, expected


def tamper_global(src, dst):
    """Copy the zip file `src`, replacing the module's class GLOBAL in data.pkl by os.system."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("data.pkl"):
                old = b"ctorch.nn.modules.container\nSequential\n"
                assert data.count(old) == 1, "expected one GLOBAL of the Sequential class"
                data = data.replace(old, b"cos\nsystem\n")
            zout.writestr(info.filename, data)


def evil_reduce(dst):
    """A legacy-format file whose object pickle is `posix.system('touch …')` via REDUCE."""
    magic = 0x1950A86A20F9469CFC6C
    import pickle
    with open(dst, "wb") as f:
        pickle.dump(magic, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        # Written by hand so that no Python object is needed: GLOBAL posix.system,
        # a one-string tuple, REDUCE, STOP.
        f.write(b"\x80\x02cposix\nsystem\nX\x16\x00\x00\x00touch /tmp/dvae-pwned!\x85R.")
        pickle.dump([], f, protocol=2)


def full(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(SEED)
    enc = Encoder(requires_grad=False)
    dec = Decoder(requires_grad=False)
    torch.save(enc, os.path.join(out, "encoder.pkl"))
    torch.save(dec, os.path.join(out, "decoder.pkl"))
    print(f"wrote full-size encoder.pkl and decoder.pkl to {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", help="also write full-size random modules into this folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    os.makedirs(OUT_DIR, exist_ok=True)

    attr.set_run_validators(False)
    enc = Encoder(n_hid=N_HID, n_blk_per_group=N_BLK_PER_GROUP, input_channels=3,
                  vocab_size=VOCAB_SIZE, requires_grad=False)
    dec = Decoder(n_init=N_INIT, n_hid=N_HID, n_blk_per_group=N_BLK_PER_GROUP,
                  output_channels=3, vocab_size=VOCAB_SIZE, requires_grad=False)
    attr.set_run_validators(True)
    randomize_biases(enc)
    randomize_biases(dec)

    # Smooth colour fields rather than white noise, so cells differ and get distinct tokens.
    x = F.interpolate(torch.rand(BATCH, 3, 4, 4), size=IMAGE_SIZE, mode="bilinear",
                      align_corners=False).clamp(0, 1)
    grid = IMAGE_SIZE // 8
    # Random tokens too, so the decoder is checked on codes the encoder never picks.
    tokens_random = torch.randint(0, VOCAB_SIZE, (BATCH, grid, grid))

    def decode(t):
        z = F.one_hot(t, num_classes=VOCAB_SIZE).permute(0, 3, 1, 2).float()
        return unmap_pixels(torch.sigmoid(dec(z)[:, :3]))

    with torch.no_grad():
        logits = enc(map_pixels(x))
        tokens = torch.argmax(logits, dim=1)
        recon = decode(tokens)
        recon_random = decode(tokens_random)
    top2 = torch.topk(logits, 2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]).min().item()
    assert margin > 1e-3, f"argmax margin {margin} too small for a stable token test"

    save_both(enc, "encoder")
    save_both(dec, "decoder")
    seq, expected = layouts()
    save_both(seq, "layouts")
    tamper_global(os.path.join(OUT_DIR, "layouts.pkl"), os.path.join(OUT_DIR, "evil_global.pkl"))
    evil_reduce(os.path.join(OUT_DIR, "evil_reduce.pkl"))

    tensors = {"x": x, "logits": logits, "tokens": tokens.to(torch.int64), "recon": recon,
               "tokens_random": tokens_random.to(torch.int64), "recon_random": recon_random}
    tensors.update(expected)
    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(OUT_DIR, "reference.safetensors"),
              metadata={"generator": "tools/make_openai_fixtures.py",
                        "torch_version": torch.__version__, "image_size": str(IMAGE_SIZE)})

    total = 0
    for name in sorted(os.listdir(OUT_DIR)):
        size = os.path.getsize(os.path.join(OUT_DIR, name))
        total += size
        print(f"  {name:28s} {size:9d} bytes")
    print(f"total {total} bytes; distinct tokens {tokens.unique().numel()}, "
          f"min argmax margin {margin:.3g}")
    if args.full:
        full(args.full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
