"""Fidelity metrics (bench/metrics/fidelity.py): CompressAI's PSNR, BT.709 Y-PSNR, and MS-SSIM equal to
pytorch_msssim."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from PIL import Image

from bench.metrics.fidelity import MS_SSIM_MIN_SIDE, ms_ssim, ms_ssim_db, psnr, psnr_y
from conftest import jpeg_roundtrip, require_module

torch = require_module("torch", "the reference MS-SSIM's tensors")
pytorch_msssim = require_module("pytorch_msssim", "the reference MS-SSIM")


def reference_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch_msssim on float32 NCHW tensors, data range 255, as CompressAI calls it."""
    ta = torch.from_numpy(a.copy()).float().permute(2, 0, 1)[None]
    tb = torch.from_numpy(b.copy()).float().permute(2, 0, 1)[None]
    return pytorch_msssim.ms_ssim(ta, tb, data_range=255).item()


def test_psnr_is_one_mse_over_all_channels_with_peak_255():
    ref = np.zeros((4, 5, 3), np.uint8)
    dist = ref.copy()
    dist[..., 0] = 3  # error 3 in one channel only: MSE = 9 / 3 = 3
    assert psnr(ref, dist) == pytest.approx(10 * math.log10(255**2 / 3.0), abs=1e-12)


def test_identical_images_have_infinite_psnr():
    image = np.full((8, 8, 3), 77, np.uint8)
    assert psnr(image, image) == math.inf
    assert psnr_y(image, image) == math.inf


def test_psnr_y_uses_bt709_luma_weights():
    ref = np.full((6, 6, 3), 100, np.uint8)
    dist = ref.copy()
    dist[..., 2] += 10  # only blue changes: luma changes by 0.0722 * 10
    assert psnr_y(ref, dist) == pytest.approx(10 * math.log10(255**2 / (0.722**2)), abs=1e-9)


def test_psnr_matches_compressai_float_formula(kodim01):
    dist = jpeg_roundtrip(kodim01, 40)
    mse = np.mean((kodim01.astype(np.float64) - dist.astype(np.float64)) ** 2)
    assert psnr(kodim01, dist) == pytest.approx(20 * math.log10(255) - 10 * math.log10(mse), abs=1e-9)


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8)]
)
def test_metrics_reject_arrays_that_are_not_rgb8(bad):
    good = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        psnr(good, bad)


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


@pytest.mark.parametrize("index", [1, 4, 13, 23])
@pytest.mark.parametrize("quality", [5, 30, 90])
def test_ms_ssim_equals_pytorch_msssim_on_kodak(kodak_dir, index, quality):
    ref = np.asarray(Image.open(kodak_dir / f"kodim{index:02d}.png").convert("RGB"))
    dist = jpeg_roundtrip(ref, quality)
    assert ms_ssim(ref, dist) == pytest.approx(reference_ms_ssim(ref, dist), abs=1e-5)


@pytest.mark.parametrize("shape", [(161, 161), (171, 250), (321, 481), (255, 300), (512, 167)])
def test_ms_ssim_equals_pytorch_msssim_on_odd_sizes(shape):
    """Odd sizes exercise pytorch_msssim's zero-padded average pooling between scales."""
    rng = np.random.default_rng(sum(shape))
    smooth = np.cumsum(np.cumsum(rng.normal(size=(*shape, 3)), axis=0), axis=1)
    ref = np.clip((smooth - smooth.min()) / np.ptp(smooth) * 255, 0, 255).astype(np.uint8)
    dist = np.clip(ref.astype(int) + rng.integers(-25, 26, ref.shape), 0, 255).astype(np.uint8)
    assert ms_ssim(ref, dist) == pytest.approx(reference_ms_ssim(ref, dist), abs=1e-5)


def test_ms_ssim_of_identical_images_is_one(kodim01):
    assert ms_ssim(kodim01, kodim01) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_of_too_small_image_is_nan_with_warning():
    image = np.zeros((MS_SSIM_MIN_SIDE, 400, 3), np.uint8)
    with pytest.warns(RuntimeWarning, match="too small"):
        assert math.isnan(ms_ssim(image, image))


def test_ms_ssim_of_smallest_allowed_image_is_finite():
    image = np.random.default_rng(0).integers(0, 256, (MS_SSIM_MIN_SIDE + 1, 200, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 0.0 < ms_ssim(image, image[::-1].copy()) < 1.0


def test_ms_ssim_db():
    assert ms_ssim_db(0.99) == pytest.approx(20.0)
    assert ms_ssim_db(1.0) == math.inf
