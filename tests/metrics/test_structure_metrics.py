"""The structure metrics ssim_rgb, vif and gmsd (bench/metrics/structure.py) equal their references.

Each is checked on Kodak images and their JPEG decodings, at full size (768 x 512), at an odd size
(301 x 203), at the smallest size the metric allows, and below it (NaN with a warning naming why).
The colour metrics psnr_yuv and ciede2000 are in test_colour.py; the ``bench run`` test here writes
their columns too (all five are the classic full-reference metrics).

The torch references run on float64 tensors: in float32, pytorch_msssim and piq round visibly where an
image has regions of low variance (kodim20's sky after JPEG: piq.vif_p up to 40% off its own float64
value, pytorch_msssim.ssim 1e-4 off), while ours agree with the float64 values (VIF to ~1e-9, SSIM,
computed in float32, to ~4e-6).
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from bench.api.metric_registry import discover_metrics, metric_columns
from bench.metrics.colour import ciede2000, psnr_yuv
from bench.metrics.structure import GMSD_MIN_SIDE, SSIM_MIN_SIDE, VIF_MIN_SIDE, gmsd, ssim, ssim_db, vif
from conftest import bench_cli, jpeg_roundtrip, require_module

torch = require_module("torch", "the references' tensors")
piq = require_module("piq", "the reference VIF and GMSD")
pytorch_msssim = require_module("pytorch_msssim", "the reference SSIM")


def nchw(image: np.ndarray, scale: float) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float64) / scale).permute(2, 0, 1)[None]


# --------------------------------------------------------------------------------------- references
def reference_ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    return pytorch_msssim.ssim(nchw(ref, 1.0), nchw(dist, 1.0), data_range=255).item()


def reference_vif(ref: np.ndarray, dist: np.ndarray) -> float:
    return piq.vif_p(nchw(dist, 255.0), nchw(ref, 255.0), data_range=1.0).item()  # piq: distorted first


def reference_gmsd(ref: np.ndarray, dist: np.ndarray) -> float:
    return piq.gmsd(nchw(dist, 255.0), nchw(ref, 255.0), data_range=1.0).item()


#: name -> (ours, reference, tolerance for pytest.approx, smallest side the metric is defined for)
METRICS = {
    "ssim_rgb": (ssim, reference_ssim, {"abs": 1e-5}, 11),  # the 11 x 11 window fits
    "vif": (vif, reference_vif, {"rel": 1e-4}, 41),  # piq's own limit
    "gmsd": (gmsd, reference_gmsd, {"rel": 1e-4}, 5),  # the pooled image holds the 3 x 3 Prewitt window
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
    """301 x 203: odd in both directions (GMSD's zero padding before pooling, VIF's strided scales)."""
    for image, top, left, quality in ((kodim01, 150, 200, 70), (kodim20, 60, 250, 10)):
        crop = np.ascontiguousarray(image[top : top + 203, left : left + 301])
        assert crop.shape == (203, 301, 3)
        assert_equals_reference(name, crop, jpeg_roundtrip(crop, quality))


def test_vif_equals_piq_in_float64_where_piq_in_float32_is_off(kodim20):
    """Why the references run in float64: on kodim20's sky, float32 piq.vif_p is 40% off its own float64 value."""
    crop = np.ascontiguousarray(kodim20[30:233, 380:681])
    dist = jpeg_roundtrip(crop, 10)
    exact = reference_vif(crop, dist)
    in_float32 = piq.vif_p(nchw(dist, 255.0).float(), nchw(crop, 255.0).float(), data_range=1.0).item()
    assert abs(in_float32 - exact) > 0.1 * exact
    assert vif(crop, dist) == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_smallest_allowed_size_equals_the_reference(name, kodim01):
    side = METRICS[name][3]
    for shape in ((side, side + 2), (side + 3, side)):  # the shorter side at the limit, either way round
        crop = np.ascontiguousarray(kodim01[200 : 200 + shape[0], 300 : 300 + shape[1]])
        assert_equals_reference(name, crop, jpeg_roundtrip(crop, 20))


@pytest.mark.parametrize(
    ("name", "reason"),
    [("ssim_rgb", "11 x 11 Gaussian window"), ("vif", "fourth scale"), ("gmsd", "Prewitt window")],
)
def test_below_the_smallest_size_the_value_is_nan_with_the_reason(name, reason, kodim01):
    ours, _, _, side = METRICS[name]
    assert {"ssim_rgb": SSIM_MIN_SIDE, "vif": VIF_MIN_SIDE, "gmsd": GMSD_MIN_SIDE}[name] == side
    for shape in ((side - 1, 60), (60, side - 1)):
        crop = np.ascontiguousarray(kodim01[: shape[0], : shape[1]])
        with pytest.warns(RuntimeWarning, match=rf"too small for .*at least {side}.*{reason}"):
            assert math.isnan(ours(crop, jpeg_roundtrip(crop, 30)))


def test_the_reference_itself_refuses_vif_below_41_pixels():
    """Where our limit comes from: piq's own check (our NaN replaces its exception)."""
    x = torch.rand(1, 3, VIF_MIN_SIDE - 1, 64, dtype=torch.float64)
    with pytest.raises(ValueError, match="41x41"):
        piq.vif_p(x, x, data_range=1.0)


# ------------------------------------------------------------------------------- identical images
def test_identical_images_give_the_natural_values(kodim01):
    crop = np.ascontiguousarray(kodim01[:203, :301])
    assert ssim(crop, crop) == 1.0
    assert vif(crop, crop) == 1.0
    assert gmsd(crop, crop) == 0.0
    assert ssim_db(ssim(crop, crop)) == math.inf
    flat = np.full((64, 64, 3), 128, np.uint8)  # no structure at all: still the natural values
    assert (ssim(flat, flat), vif(flat, flat), gmsd(flat, flat)) == (1.0, 1.0, 0.0)


# --------------------------------------------------------------------------------- registry, bench run
def test_metrics_are_registered_with_their_description():
    registry = discover_metrics(use_entry_points=False)
    expected = {  # name: (higher is better, dB form, words the convention must state)
        "ssim_rgb": (True, "ssim_db", ["pytorch_msssim", "11-tap", "1.5"]),
        "vif": (True, None, ["piq.vif_p", "0.299 R + 0.587 G + 0.114 B", "chroma ignored"]),
        "gmsd": (False, None, ["piq.gmsd", "0.299 R + 0.587 G + 0.114 B", "170 / 255^2"]),
    }
    for name, (higher, db, words) in expected.items():
        metric = registry.get(name)()
        described = metric.describe()
        assert described["name"] == name and described["higher_is_better"] is higher
        assert (described["db"] or {}).get("name") == db
        assert all(word in described["convention"] for word in words), described["convention"]
        assert described["versions"]["numpy"] != "not installed"
        assert metric.label and metric.axis_label
    assert metric_columns(registry)["ssim_db"].unit == "dB"
    assert registry.get("ssim_rgb").to_db(0.99) == pytest.approx(20.0)


def test_bench_run_writes_the_columns_and_the_report_uses_them(tmp_path, small_dataset):
    out = tmp_path / "run"
    names = "psnr_rgb,ssim_rgb,psnr_yuv,ciede2000,vif,gmsd"
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50",
                       "--metrics", names, "--out", str(out), "--no-report", "--no-progress", "-j", "1",
                       "--save-reconstructions", timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    columns = list(rows[0])
    assert [c for c in columns if c in names.split(",")] == names.split(",")
    for row in rows:  # the stored values are the metrics of the decoded images
        ref = np.asarray(Image.open(small_dataset / row["image"]).convert("RGB"))
        (decoded_path,) = (out / "reconstructions").rglob(row["image"])
        decoded = np.asarray(Image.open(decoded_path).convert("RGB"))
        for name, ours in (("ssim_rgb", ssim), ("psnr_yuv", psnr_yuv), ("ciede2000", ciede2000), ("vif", vif),
                           ("gmsd", gmsd)):  # fmt: skip
            assert float(row[name]) == pytest.approx(ours(ref, decoded), rel=1e-9), name
    with open(out / "summary.csv", newline="") as fh:
        (summary,) = list(csv.DictReader(fh))
    for name in names.split(","):
        assert float(summary[name]) == pytest.approx(np.mean([float(r[name]) for r in rows]), rel=1e-9)
    recorded = json.dumps(json.loads((out / "run.json").read_text()))
    assert "piq.vif_p" in recorded and "CIELAB" in recorded
    report = subprocess.run([sys.executable, "-m", "bench", "report", str(out)], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    for column in ("psnr_rgb", "ssim_db", "psnr_yuv", "ciede2000", "vif", "gmsd"):  # SSIM in its dB form
        assert (out / "report" / f"rd_{column}.png").is_file(), column
