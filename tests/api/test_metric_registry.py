"""The metric seam (bench/api/metric_registry.py): registered metrics, entry points and plugin files,
``compute`` from Python, and the device network metrics run on."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from PIL import Image

import bench.api.executor
import bench.metrics.fidelity
from bench.api.metric import DEFAULT_METRICS, Metric, MetricError, register_metric
from bench.api.metric_registry import ENTRY_POINT_GROUP as METRIC_ENTRY_POINTS
from bench.api.metric_registry import compute, discover_metrics
from bench.run.runner import RunConfig, run
from conftest import NOT_HERE, TIMING, doc_example, read_csv

# --- registered metrics, entry points and plugin files --------------------------------------------------


def test_default_metrics_are_registered_with_what_reports_need():
    registry = discover_metrics(use_entry_points=False)
    assert registry.names()[:3] == list(DEFAULT_METRICS)
    psnr, psnr_y, ms_ssim = registry.create(DEFAULT_METRICS)
    assert (psnr.label, psnr.unit, psnr.compressai_key) == ("PSNR-RGB", "dB", "psnr-rgb")
    assert psnr_y.db is None and psnr_y.compared_column().name == "psnr_y"
    assert ms_ssim.compared_column().name == "ms_ssim_db" and ms_ssim.to_db(0.99) == pytest.approx(20.0)
    assert ms_ssim.db.invert(ms_ssim.to_db(0.97)) == pytest.approx(0.97)
    assert all(m.higher_is_better and m.per_image and m.describe()["versions"] for m in (psnr, psnr_y, ms_ssim))


def test_registered_metrics_compute_what_the_functions_compute(kodak_crop):
    from bench import metrics

    noisy = np.clip(kodak_crop.astype(int) + np.random.default_rng(1).integers(-9, 10, kodak_crop.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    psnr, psnr_y, ms_ssim = discover_metrics(use_entry_points=False).create(DEFAULT_METRICS)
    assert psnr.compute(kodak_crop, noisy) == metrics.psnr(kodak_crop, noisy)
    assert psnr_y.compute(kodak_crop, noisy) == metrics.psnr_y(kodak_crop, noisy)
    assert ms_ssim.compute(kodak_crop, noisy) == metrics.ms_ssim(kodak_crop, noisy)


def test_metric_names_must_be_column_names_and_unknown_metrics_are_named():
    class Bad(Metric):
        name = "Bad Name"
        label = axis_label = "bad"

        def compute(self, ref, dist):
            return 0.0

    with pytest.raises(TypeError, match="lower-case identifier"):
        register_metric(Bad)
    with pytest.raises(MetricError, match="unknown metric 'nope'; known metrics: psnr_rgb"):
        discover_metrics(use_entry_points=False).get("nope")


def test_a_plugin_metric_becomes_a_column_of_the_run(tmp_path, small_dataset):
    plugin = tmp_path / "mae.py"
    plugin.write_text(doc_example("guides/add-metric.md"))
    report = run(
        RunConfig(dataset=str(small_dataset), codecs=("jpeg",), qualities=(30, 90), out=tmp_path / "r", jobs=1,
                  max_images=2, plugins=(str(plugin),), metrics=("psnr_rgb", "mae")),
        progress=False, echo=lambda text: None,
    )  # fmt: skip
    assert report.ok
    with open(tmp_path / "r" / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0])[:11] == ("codec", "quality", "image", "width", "height", "bytes", "bpp", "psnr_rgb", "mae",
                                   "encode_s", "decode_s")  # fmt: skip
    assert set(tuple(rows[0])[11:]) <= set(TIMING)  # then the memory columns only
    low, high = (float(r["mae"]) for r in rows if r["image"] == rows[0]["image"])
    assert low > high > 0  # quality 30 errs more than quality 90


def test_a_package_registers_metrics_through_its_entry_point(tmp_path, monkeypatch):
    module = "mae_metric_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{module}.py").write_text(doc_example("guides/add-metric.md"))
    info = tmp_path / "mae_metric-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mae-metric\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{METRIC_ENTRY_POINTS}]\nmae = {module}:MeanAbsoluteError\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover_metrics()
    assert "mae" in registry and "mae" not in discover_metrics(use_entry_points=False)
    assert registry.get("mae")().higher_is_better is False


# --- compute, from Python -----------------------------------------------------------------------------------


def test_compute_gives_the_value_a_run_stores(saved_runs):
    reference = np.asarray(Image.open(saved_runs["images"] / "img1.png"))
    decoded = np.asarray(Image.open(saved_runs["reconstructions"] / "reconstructions" / "webp" / "30" / "img1.png"))
    stored = next(r for r in read_csv(saved_runs["reference"] / "records.csv") if r["codec"] == "webp"
                  and r["quality"] == "30" and r["image"] == "img1.png")  # fmt: skip
    assert repr(compute("psnr_rgb", reference, decoded)) == stored["psnr_rgb"]
    assert repr(compute("psnr_y", reference, decoded)) == stored["psnr_y"]
    assert repr(compute("mae", reference, decoded, plugins=(saved_runs["mae"],))) == stored["mae"]
    assert bench.metrics.compute is compute and bench.metrics.psnr_y is bench.metrics.fidelity.psnr_y
    assert compute("psnr_y", reference[::2, ::2], decoded[::2, ::2]) == bench.metrics.fidelity.psnr_y(
        np.ascontiguousarray(reference[::2, ::2]), np.ascontiguousarray(decoded[::2, ::2])
    )  # views are fine


def test_compute_refuses_unknown_per_dataset_or_unavailable_metrics_and_bad_arrays(saved_runs, tmp_path):
    plugin = tmp_path / "not_here.py"
    plugin.write_text(NOT_HERE)
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(MetricError, match=r"unknown metric 'psnr_rbg'; known metrics: psnr_rgb"):
        compute("psnr_rbg", image, image)
    with pytest.raises(MetricError, match=r"'dataset_wide' is computed over a whole dataset"):
        compute("dataset_wide", image, image, plugins=(plugin,))
    with pytest.raises(MetricError, match=r"'needs_weights' is not available here: weights nw\.pth"):
        compute("needs_weights", image, image, plugins=(plugin,))
    for bad in (image.astype(np.float32), image[..., 0], image[..., :2], image.tolist()):
        with pytest.raises(ValueError, match=r"distorted image must be an H x W x 3 uint8 RGB array"):
            compute("psnr_rgb", image, bad)
    with pytest.raises(ValueError, match=r"image shapes differ"):
        compute("mae", image, image[:8], plugins=(saved_runs["mae"],))


# --- the device the networks run on ------------------------------------------------------------


def test_network_metrics_take_the_run_device_and_record_it_the_others_stay_on_the_cpu():
    from bench.api.metric import Metric
    from bench.api.metric_registry import metric_device, resolve_metric_device

    registry = discover_metrics()
    lpips, psnr, fid = registry.create(["lpips", "psnr_rgb", "fid_patch"], "cuda:1")
    assert (lpips.device, psnr.device, fid.device) == ("cuda:1", "cpu", "cuda:1")
    assert Metric.describe(lpips)["device"] == "cuda:1"  # (the base description: no weights needed)
    assert "device" not in psnr.describe()
    assert metric_device([psnr, lpips]) == "cuda:1" and metric_device([psnr]) == "cpu"
    # no network among the metrics: the device asked for does not matter
    assert resolve_metric_device(registry, ["psnr_rgb", "ms_ssim_rgb"], "cuda") == "cpu"
    assert resolve_metric_device(registry, ["lpips"], "cpu") == "cpu"


def test_a_gpu_asked_for_network_metrics_where_there_is_none_is_refused_naming_them():
    import torch

    from bench.api.metric_registry import resolve_metric_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(MetricError, match=r"metrics lpips, dists: device 'cuda' was asked for but torch sees no"):
        resolve_metric_device(discover_metrics(), ["psnr_rgb", "lpips", "dists"], "cuda")
    assert resolve_metric_device(discover_metrics(), ["lpips"], "auto") == "cpu"
