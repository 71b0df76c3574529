"""Reference values of the modern quantizers from `vector-quantize-pytorch`, for
crates/dvae/tests/lib/quantizers.rs.

FSQ, LFQ, BSQ (LFQ with spherical=True), the rotation trick (`rotate_to`) and SimVQ, each
on small fixed inputs: outputs, indices, losses, and the gradients of
`loss + sum(out * g)` for a fixed upstream gradient g. Every tensor is channel-first
`[B, D, h, w]` as the families take it (the modules' `channel_first` image path).

Run in the reference venv (../shared/reference/setup.sh) with the package added:

    /work/venv-ref/bin/pip install vector-quantize-pytorch==1.32.0
    /work/venv-ref/bin/python tools/make_quantizer_fixtures.py crates/dvae/tests/fixtures/quantizers
"""
import json
import os
import sys
from importlib.metadata import version

import torch
from vector_quantize_pytorch import FSQ, LFQ, SimVQ
from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to


def flat(t):
    return t.detach().reshape(-1).tolist()


def write(folder, name, d):
    d["package"] = f"vector-quantize-pytorch {version('vector-quantize-pytorch')}, torch {torch.__version__}"
    with open(os.path.join(folder, name), "w") as f:
        json.dump(d, f, indent=1)
    print("wrote", os.path.join(folder, name))


def fsq(folder):
    levels = [8, 5, 4]
    q = FSQ(levels=levels)
    z = (torch.randn(2, len(levels), 3, 3) * 2).requires_grad_()
    out, idx = q(z)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    write(folder, "fsq.json", {
        "levels": levels, "shape": list(z.shape),
        "z": flat(z), "out": flat(out), "indices": flat(idx), "g": flat(g),
        "grad_z": flat(z.grad),
        "codes_of_indices": flat(q.indices_to_codes(idx)),
    })


def lfq(folder, name, spherical, inv_temperature):
    d, k = 4, 16
    q = LFQ(dim=d, codebook_size=k, entropy_loss_weight=0.1, commitment_loss_weight=0.25,
            diversity_gamma=1.0, spherical=spherical)
    q.train()
    x = torch.randn(2, d, 3, 3).requires_grad_()
    (out, idx, aux), parts = q(x, inv_temperature=inv_temperature, return_loss_breakdown=True)
    g = torch.randn_like(out)
    (aux + (out * g).sum()).backward()
    write(folder, name, {
        "dim": d, "codebook_size": k, "spherical": spherical,
        "entropy_weight": 0.1, "commitment": 0.25, "diversity_gamma": 1.0,
        "inv_temperature": inv_temperature, "shape": list(x.shape),
        "x": flat(x), "out": flat(out), "indices": flat(idx), "g": flat(g),
        "aux_loss": aux.item(), "per_sample_entropy": parts.per_sample_entropy.item(),
        "codebook_entropy": parts.batch_entropy.item(), "commitment_loss": parts.commitment.item(),
        "grad_x": flat(x.grad),
        "codes_of_indices": flat(q.indices_to_codes(idx)),
    })


def rotation(folder):
    n, d = 6, 5
    src = torch.randn(n, d).requires_grad_()
    tgt = torch.randn(n, d).requires_grad_()
    out = rotate_to(src, tgt)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    write(folder, "rotation.json", {
        "n": n, "d": d, "src": flat(src), "tgt": flat(tgt), "out": flat(out), "g": flat(g),
        "grad_src": flat(src.grad),
        "grad_tgt": flat(tgt.grad) if tgt.grad is not None else [0.0] * (n * d),
    })


def simvq(folder):
    d, k = 4, 8
    q = SimVQ(dim=d, codebook_size=k, rotation_trick=True, channel_first=True)
    x = torch.randn(2, d, 3, 3).requires_grad_()
    out, idx, commit = q(x)
    g = torch.randn_like(out)
    (commit + (out * g).sum()).backward()
    write(folder, "simvq.json", {
        "dim": d, "codebook_size": k, "commitment": 0.25, "shape": list(x.shape),
        "frozen_codebook": flat(q.frozen_codebook), "w": flat(q.code_transform.weight),
        "x": flat(x), "out": flat(out), "indices": flat(idx), "g": flat(g),
        "commit_loss": commit.item(), "grad_x": flat(x.grad),
        "grad_w": flat(q.code_transform.weight.grad),
    })


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(11)
    fsq(folder)
    lfq(folder, "lfq.json", spherical=False, inv_temperature=2.0)
    lfq(folder, "lfq_t100.json", spherical=False, inv_temperature=100.0)
    lfq(folder, "bsq.json", spherical=True, inv_temperature=2.0)
    rotation(folder)
    simvq(folder)


if __name__ == "__main__":
    main()
