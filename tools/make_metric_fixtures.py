#!/usr/bin/env python3
"""Reference values for dvae's metrics (SSIM, PSNR, discretised logit-Laplace bits/dim).

Writes into crates/dvae/tests/fixtures/metrics/ (the Rust tests read these; they never
run Python):
  pair{i}_a.png, pair{i}_b.png   small 8-bit RGB image pairs
  expected.json                  scikit-image SSIM / PSNR of each pair, and the
                                 discretised logit-Laplace log-likelihood of a set
                                 of pixels under given (mu, ln b)

SSIM: skimage.metrics.structural_similarity on float64 images (bytes / 255) with
channel_axis=-1 (per channel, then averaged), data_range=1.0:
  "ssim":         gaussian_weights=True, sigma=1.5, use_sample_covariance=False
                  (Wang et al. 2004)
  "ssim_uniform": the defaults (7x7 uniform window, sample covariance)

Bits/dim: pixel byte k in {0..255} stands for x = k/255, as in dvae's data loader.
The decoder gives mu and ln b of a Laplace distribution on logit(y), where
y = eps + (1 - 2 eps) x is the mapped pixel (eps = 0.1, DALL-E's map_pixels).
Bin k of the pixel axis is [(k - 0.5)/255, (k + 0.5)/255], centred on the value the
decoder is trained on; the first and last bins are extended to the ends of the mapped
interval (0, 1), i.e. logit -inf / +inf, so the 256 masses sum to one (PixelCNN++'s
discretisation, carried through the logit of the mapped pixel). The reference here
computes each mass as a plain difference of Laplace CDFs with mpmath at 2500 digits
(enough that no difference cancels to zero, even 4000 scales into the tail), an
implementation independent of the Rust one (which works in log space in f64).

Usage: /work/venv-ref/bin/python tools/make_metric_fixtures.py
Requires numpy, pillow, scikit-image, mpmath.
"""

import json
import os

import mpmath
import numpy as np
import skimage
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "dvae", "tests", "fixtures", "metrics")
EPS = 0.1


def pairs(rng):
    """Three (a, b) uint8 HWC pairs: a photo crop with noise, a smooth image with a
    shift and blocking, and pure noise against a darker copy. Non-square on purpose."""
    photo = skimage.data.astronaut()[120:144, 200:232]  # 24 x 32
    noisy = np.clip(photo.astype(np.float64) + rng.normal(0, 18, photo.shape), 0, 255)
    yield photo, noisy.round().astype(np.uint8)

    yy, xx = np.mgrid[0:20, 0:28]
    smooth = np.stack(
        [128 + 100 * np.sin(xx / 5.0), 128 + 90 * np.cos(yy / 4.0), 40 + 6 * (xx + yy)], -1
    )
    smooth = np.clip(smooth, 0, 255).round().astype(np.uint8)
    blocky = smooth.reshape(10, 2, 14, 2, 3).mean((1, 3)).repeat(2, 0).repeat(2, 1)
    blocky = np.roll(blocky, 1, axis=1)
    yield smooth, np.clip(blocky, 0, 255).round().astype(np.uint8)

    noise = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    darker = (noise.astype(np.float64) * 0.7 + rng.normal(0, 5, noise.shape)).clip(0, 255)
    yield noise, darker.round().astype(np.uint8)


def laplace_cdf(z):
    return mpmath.mpf(0.5) * mpmath.exp(z) if z < 0 else 1 - mpmath.mpf(0.5) * mpmath.exp(-z)


def bin_log_prob(k, mu, ln_b):
    """ln P(byte k | mu, ln b) with 2500-digit arithmetic."""
    mpmath.mp.dps = 2500
    b = mpmath.exp(mpmath.mpf(ln_b))
    mu = mpmath.mpf(mu)

    def edge(t):  # logit of the mapped pixel-axis point t
        y = EPS + (1 - 2 * mpmath.mpf(EPS)) * t
        return mpmath.log(y) - mpmath.log(1 - y)

    lo = 0 if k == 0 else laplace_cdf((edge(mpmath.mpf(k - 0.5) / 255) - mu) / b)
    hi = 1 if k == 255 else laplace_cdf((edge(mpmath.mpf(k + 0.5) / 255) - mu) / b)
    return float(mpmath.log(hi - lo))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(9)
    expected = {"skimage_version": skimage.__version__, "pairs": []}
    for i, (a, b) in enumerate(pairs(rng)):
        Image.fromarray(a).save(os.path.join(OUT, f"pair{i}_a.png"))
        Image.fromarray(b).save(os.path.join(OUT, f"pair{i}_b.png"))
        fa, fb = a.astype(np.float64) / 255, b.astype(np.float64) / 255
        expected["pairs"].append(
            {
                "a": f"pair{i}_a.png",
                "b": f"pair{i}_b.png",
                "height": a.shape[0],
                "width": a.shape[1],
                "ssim": structural_similarity(
                    fa, fb, channel_axis=-1, data_range=1.0, gaussian_weights=True,
                    sigma=1.5, use_sample_covariance=False,
                ),
                "ssim_uniform": structural_similarity(fa, fb, channel_axis=-1, data_range=1.0),
                "mse": float(((fa - fb) ** 2).mean()),
                "psnr": peak_signal_noise_ratio(fa, fb, data_range=1.0),
            }
        )

    # Bits/dim: every byte value at a few decoder outputs, and random pixels near and far
    # from the predicted mean (tails included), with narrow and wide scales.
    cases = []
    for k in [0, 1, 2, 37, 127, 128, 200, 253, 254, 255]:
        for mu, ln_b in [(0.0, -3.0), (-2.1, -5.0), (1.7, 0.5), (8.0, -1.0), (-8.0, -6.0)]:
            cases.append((k, mu, ln_b))
    for _ in range(40):
        k = int(rng.integers(0, 256))
        y = EPS + (1 - 2 * EPS) * k / 255
        mu = float(np.log(y / (1 - y)) + rng.normal(0, 1.0))
        cases.append((k, mu, float(rng.uniform(-6.0, 1.0))))
    expected["bits"] = {
        "eps": EPS,
        "pixels": [c[0] for c in cases],
        "mu": [c[1] for c in cases],
        "ln_b": [c[2] for c in cases],
        "log_prob": [bin_log_prob(*c) for c in cases],
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
