"""VQ-VAE reference values from PyTorch, for crates/dvae/tests/lib/families.rs.

The quantizer as the VQ-VAE reference implementations write it (nearest code by squared
L2, straight-through estimator, codebook loss F.mse_loss(e, sg[z]), commitment loss
F.mse_loss(z, sg[e])) and Sonnet's EMA update with Laplace smoothing, on small fixed
inputs. Run in the venv made by ../shared/reference/setup.sh:

    python tools/make_vq_fixture.py crates/dvae/tests/fixtures/vq/vq.json
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(7)
N, D, K = 12, 3, 5
decay, eps, commitment = 0.9, 1e-5, 0.25

z = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
codes = torch.randn(K, D, dtype=torch.float64, requires_grad=True)

dist = (z.detach() ** 2).sum(1, keepdim=True) - 2 * z.detach() @ codes.detach().T + (codes.detach() ** 2).sum(1)
idx = dist.argmin(1)
e = codes[idx]
codebook_loss = F.mse_loss(e, z.detach())
commit_loss = F.mse_loss(z, e.detach())
z_q = z + (e - z).detach()
loss = codebook_loss + commitment * commit_loss
w = torch.linspace(-1, 1, N * D, dtype=torch.float64).reshape(N, D)
(loss + (z_q * w).sum()).backward()

# EMA update (Sonnet VectorQuantizerEMA), counts starting at 1 and sums at the codes.
count = torch.ones(K, dtype=torch.float64)
ema_sum = codes.detach().clone()
onehot = F.one_hot(idx, K).double()
count = decay * count + (1 - decay) * onehot.sum(0)
ema_sum = decay * ema_sum + (1 - decay) * onehot.T @ z.detach()
n = count.sum()
smoothed = (count + eps) / (n + K * eps) * n
new_codes = ema_sum / smoothed[:, None]

out = {
    "n": N, "d": D, "k": K, "decay": decay, "eps": eps, "commitment": commitment,
    "z": z.detach().flatten().tolist(),
    "codes": codes.detach().flatten().tolist(),
    "indices": idx.tolist(),
    "codebook_loss": codebook_loss.item(),
    "commit_loss": commit_loss.item(),
    "w": w.flatten().tolist(),
    "grad_z": z.grad.flatten().tolist(),
    "grad_codes": codes.grad.flatten().tolist(),
    "ema_count": count.tolist(),
    "ema_sum": ema_sum.flatten().tolist(),
    "ema_codes": new_codes.flatten().tolist(),
}
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
print("wrote", sys.argv[1])
