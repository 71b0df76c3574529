"""dvae.metrics against `dvae eval`, and resize_crop against the file loader."""

import json

import numpy as np
import pytest

import dvae
from conftest import ODD_SIZES, picture, run_cli


def test_means_are_dvae_eval(cli, tok, run_tiny, photos, images):
    report = json.loads(run_cli(cli, "eval", "--run", run_tiny, "--data", photos, "--json").stdout)
    recon = tok.decode(tok.encode(images))
    scores = dvae.metrics(images, recon)
    assert set(scores) == {"mse", "psnr", "ssim", "ssim_uniform"}
    assert report["images"] == len(images)
    for key in scores:
        assert scores[key].dtype == np.float64 and scores[key].shape == (len(images),)
        assert scores[key].mean() == pytest.approx(report[key], rel=1e-12), key
    assert 5 < report["psnr"] < 60 and 0 < report["ssim"] < 1


def test_metrics_closed_forms_and_dtypes(images):
    same = dvae.metrics(images[:3], images[:3])
    assert np.all(same["psnr"] == 100.0) and np.allclose(same["ssim"], 1.0)
    off = np.clip(images[:2].astype(np.int16) + 10, 0, 255).astype(np.uint8)
    s = dvae.metrics(images[:2], off)
    mse = ((images[:2] / 255.0 - off / 255.0) ** 2).reshape(2, -1).mean(axis=1)
    assert np.allclose(s["mse"], mse, rtol=1e-6)
    assert np.allclose(s["psnr"], -10 * np.log10(mse), rtol=1e-6)
    # Floats NCHW against bytes NHWC: the same numbers.
    f = np.ascontiguousarray(off.transpose(0, 3, 1, 2)).astype(np.float32) / 255
    t = dvae.metrics(images[:2], f)
    assert all(np.array_equal(s[k], t[k]) for k in s)
    tiny = dvae.metrics(images[:1, :8, :8], images[:1, :8, :8])
    assert np.isnan(tiny["ssim"]).all() and tiny["psnr"][0] == 100.0
    with pytest.raises(ValueError, match="shape mismatch"):
        dvae.metrics(images[:2], images[:3])


def test_resize_crop_is_the_file_loaders(photos):
    files = sorted(photos.glob("odd*.png"))
    rng = np.random.default_rng(7)
    for i in range(24):
        picture(rng, 64, 64)  # the conftest's draws before the odd-sized ones
    for f, (h, w) in zip(files, ODD_SIZES):
        raw = picture(rng, h, w)
        got = dvae.resize_crop(raw, 64)
        assert got.shape == (64, 64, 3)
        assert np.array_equal(got, dvae.load_images(f, 64)[0]), f
    same = dvae.load_images(sorted(photos.glob("img*.png"))[0], 64)[0]
    assert np.array_equal(dvae.resize_crop(same, 64), same)
    grey = dvae.resize_crop(same[..., 0], 32)
    assert grey.shape == (32, 32, 3) and np.array_equal(grey[..., 0], grey[..., 2])
    rgba = np.concatenate([same, np.full((64, 64, 1), 9, np.uint8)], axis=2)
    assert np.array_equal(dvae.resize_crop(rgba, 64), same)
    with pytest.raises(ValueError, match="got dtype float32"):
        dvae.resize_crop(same.astype(np.float32), 64)
    with pytest.raises(ValueError, match=r"got shape \(64, 64, 5\)"):
        dvae.resize_crop(np.zeros((64, 64, 5), np.uint8), 64)
