"""The colour metrics psnr_yuv and ciede2000 (bench/metrics/colour.py) equal their references.

Each is checked on Kodak images and their JPEG decodings, at full size (768 x 512), at an odd size
(301 x 203) and at any size down to one pixel (both are defined for any size). psnr_yuv's reference is
its formula computed pixel by pixel in float64, ciede2000's is scikit-image's ``deltaE_ciede2000``.
The structure metrics (ssim_rgb, vif, gmsd) are in test_structure_metrics.py, whose ``bench run`` test
writes these columns too.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from bench.api.metric_registry import discover_metrics
from bench.metrics.colour import ciede2000, psnr_yuv
from conftest import jpeg_roundtrip, require_module

skimage_color = require_module("skimage.color", "the reference CIEDE2000 (scikit-image)")


# --------------------------------------------------------------------------------------- references


def reference_psnr_yuv(ref: np.ndarray, dist: np.ndarray) -> float:
    """The formula, pixel by pixel in float64: BT.709 full-range YCbCr, (6 MSE_Y + MSE_Cb + MSE_Cr) / 8."""

    def ycbcr(image):
        r, g, b = (image[..., i].astype(np.float64) for i in range(3))
        y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        return y, (b - y) / 1.8556 + 128.0, (r - y) / 1.5748 + 128.0

    mse = [np.mean((p - q) ** 2) for p, q in zip(ycbcr(ref), ycbcr(dist), strict=True)]
    return 10.0 * math.log10(255.0**2 / ((6.0 * mse[0] + mse[1] + mse[2]) / 8.0))


def reference_ciede2000(ref: np.ndarray, dist: np.ndarray) -> float:
    return float(skimage_color.deltaE_ciede2000(skimage_color.rgb2lab(ref), skimage_color.rgb2lab(dist)).mean())


#: name -> (ours, reference, tolerance for pytest.approx, smallest side the metric is defined for)
METRICS = {
    "psnr_yuv": (psnr_yuv, reference_psnr_yuv, {"abs": 1e-9}, 1),
    "ciede2000": (ciede2000, reference_ciede2000, {"abs": 1e-6}, 1),
}
NAMES = list(METRICS)


def assert_equals_reference(name: str, ref: np.ndarray, dist: np.ndarray) -> None:
    ours, reference, tolerance, _ = METRICS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a defined value comes without warnings
        value = ours(ref, dist)
    assert value == pytest.approx(reference(ref, dist), **tolerance)


# ------------------------------------------------------------------------------- against references


@pytest.mark.parametrize("name", NAMES)
def test_a_full_kodak_image_equals_the_reference(name, kodim01):
    assert kodim01.shape == (512, 768, 3)
    assert_equals_reference(name, kodim01, jpeg_roundtrip(kodim01, 30))


@pytest.mark.parametrize("name", NAMES)
def test_odd_sizes_equal_the_reference(name, kodim01, kodim20):
    """301 x 203: odd in both directions."""
    for image, top, left, quality in ((kodim01, 150, 200, 70), (kodim20, 60, 250, 10)):
        crop = np.ascontiguousarray(image[top : top + 203, left : left + 301])
        assert crop.shape == (203, 301, 3)
        assert_equals_reference(name, crop, jpeg_roundtrip(crop, quality))


@pytest.mark.parametrize("name", NAMES)
def test_smallest_allowed_size_equals_the_reference(name, kodim01):
    side = METRICS[name][3]
    for shape in ((side, side + 2), (side + 3, side)):  # the shorter side at the limit, either way round
        crop = np.ascontiguousarray(kodim01[200 : 200 + shape[0], 300 : 300 + shape[1]])
        assert_equals_reference(name, crop, jpeg_roundtrip(crop, 20))


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (113, 145)])  # 113 x 145 = 16385 pixels: 2^14 + 1
def test_psnr_yuv_and_ciede2000_are_defined_for_any_size(shape, kodim01):
    ref = np.ascontiguousarray(kodim01[100 : 100 + shape[0], 200 : 200 + shape[1]])
    dist = jpeg_roundtrip(ref, 20)
    assert_equals_reference("psnr_yuv", ref, dist)
    assert_equals_reference("ciede2000", ref, dist)


def test_ciede2000_on_every_hue_pair_and_achromatic_pixels():
    """Random colour pairs, greys, black (chroma 0: the formula's special cases) and near-identical pairs."""
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    dist = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    ref[:8] = ref[:8, :, :1]  # grey rows
    dist[4:12] = 0  # black
    ref[20:24] = 0
    dist[30:40] = np.clip(ref[30:40].astype(int) + rng.integers(-1, 2, (10, 96, 3)), 0, 255)
    dist[40:44] = ref[40:44]
    assert_equals_reference("ciede2000", ref, dist)
    lab1, lab2 = skimage_color.rgb2lab(ref), skimage_color.rgb2lab(dist)
    per_pixel = skimage_color.deltaE_ciede2000(lab1, lab2)
    for i, j in ((5, 7), (21, 50), (33, 3), (41, 41), (60, 90)):  # single pixels, each case
        one = (ref[i : i + 1, j : j + 1], dist[i : i + 1, j : j + 1])
        assert ciede2000(*one) == pytest.approx(per_pixel[i, j], abs=1e-9)


def test_psnr_yuv_weights_luma_six_times_each_chroma_plane():
    ref = np.full((4, 4, 3), 100, np.uint8)
    dist = ref.copy()
    dist[..., 1] += 8  # green only: Y, Cb and Cr all change
    dy = 0.7152 * 8
    dcb, dcr = -dy / 1.8556, -dy / 1.5748
    mse = (6 * dy**2 + dcb**2 + dcr**2) / 8
    assert psnr_yuv(ref, dist) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)


# ------------------------------------------------------------------------------- identical images


def test_identical_images_give_the_natural_values(kodim01):
    crop = np.ascontiguousarray(kodim01[:203, :301])
    assert psnr_yuv(crop, crop) == math.inf
    assert ciede2000(crop, crop) == 0.0
    flat = np.full((64, 64, 3), 128, np.uint8)  # no structure at all: still the natural value
    assert ciede2000(flat, flat) == 0.0


# ----------------------------------------------------------------------------------------- registry


def test_metrics_are_registered_with_their_description():
    registry = discover_metrics(use_entry_points=False)
    expected = {  # name: (higher is better, dB form, words the convention must state)
        "psnr_yuv": (True, None, ["6 MSE_Y", "BT.709", "not rounded"]),
        "ciede2000": (False, None, ["D65", "2-degree", "skimage"]),
    }
    for name, (higher, db, words) in expected.items():
        metric = registry.get(name)()
        described = metric.describe()
        assert described["name"] == name and described["higher_is_better"] is higher
        assert (described["db"] or {}).get("name") == db
        assert all(word in described["convention"] for word in words), described["convention"]
        assert described["versions"]["numpy"] != "not installed"
        assert metric.label and metric.axis_label
