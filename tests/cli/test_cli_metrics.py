"""`bench metrics` (bench/cli/metrics.py): every metric with its convention and availability."""

from __future__ import annotations

import json
import re

import bench.api.executor
import bench.metrics.fidelity
from conftest import NOT_HERE, bench_cli, doc_example


def test_bench_metrics_lists_every_metric_with_its_convention_and_availability(tmp_path):
    mae = tmp_path / "mae.py"
    mae.write_text(doc_example("guides/add-metric.md"))
    plugin = tmp_path / "not_here.py"
    plugin.write_text(NOT_HERE)
    listed = bench_cli("metrics", "--json", "--plugin", str(mae), "--plugin", str(plugin))
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    for cls in (bench.metrics.fidelity.PsnrRgb, bench.metrics.fidelity.PsnrY, bench.metrics.fidelity.MsSsimRgb):
        row = rows[cls.name]
        assert row["origin"] == "builtin" and row["available"] and row["default"] and row["per_image"]
        assert (row["label"], row["unit"], row["convention"]) == (cls.label, cls.unit, cls.convention)
        assert set(row["versions"]) == set(cls.packages) and "not installed" not in row["versions"].values()
    assert rows["ms_ssim_rgb"]["db"]["name"] == "ms_ssim_db" and rows["psnr_rgb"]["db"] is None
    assert rows["mae"]["origin"].startswith("plugin") and rows["mae"]["higher_is_better"] is False
    assert rows["dataset_wide"]["per_image"] is False
    assert rows["needs_weights"]["available"] is False and "weights nw.pth" in rows["needs_weights"]["reason"]
    text = bench_cli("metrics", "--plugin", str(plugin)).stdout
    assert re.search(r"^needs_weights +NOT AVAILABLE .*\n +why: weights nw\.pth", text, re.M)
    assert f"convention: {bench.metrics.fidelity.PsnrY.convention}" in text
