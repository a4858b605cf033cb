"""The interactive report page (bench/report/html.py): one self-contained page that opens from disk, with the BD
tables of every anchor the page can switch to (drawn by a real browser: test_page_in_browser.py)."""

from __future__ import annotations

import json
import re

import pytest

from bench.analysis.bd_table import bd_table
from bench.report.html import PAGE_FILE, PLOTLY_FILE
from bench.report.writer import ReportConfig, load_curves, make_report, pick_anchor


@pytest.fixture
def page(tmp_path, small_run):
    result = make_report(ReportConfig(runs=(small_run,), out=tmp_path / "report"))
    text = (result.out / PAGE_FILE).read_text(encoding="utf-8")
    found = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', text, re.S)
    return result, text, json.loads(found.group(1))


def test_the_page_needs_nothing_but_its_folder(page):
    result, text, _ = page
    assert (result.out / PLOTLY_FILE).stat().st_size > 1_000_000  # plotly.js, copied from the plotly package
    sources = re.findall(r'<script[^>]*src="([^"]+)"', text) + re.findall(r'<link[^>]*href="([^"]+)"', text)
    assert sources == [PLOTLY_FILE]  # no CDN, no other file: opens over file:// and offline
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text


def test_the_page_embeds_every_curve_and_the_bd_table_of_every_anchor(page, small_run):
    result, _, data = page
    assert data["anchor"] == "jpeg" and [c["name"] for c in data["columns"]] == ["psnr_rgb", "psnr_y", "ms_ssim_db"]
    assert [c["label"] for c in data["curves"]] == ["jpeg", "webp"]
    jpeg = data["curves"][0]
    assert [p["quality"] for p in jpeg["points"]] == [10, 30, 60, 90] and all(p["images"] == 4 for p in jpeg["points"])
    assert set(data["bd"]) == {"jpeg", "webp"}
    # against the report's anchor: the report's own table, intervals included
    webp = next(r for r in data["bd"]["jpeg"] if r["codec"] == "webp" and r["metric"] == "psnr_rgb"
                and r["aggregation"] == "mean-curve")  # fmt: skip
    assert webp["bd_rate"] < -10 and webp["ci_low"] < webp["bd_rate"] < webp["ci_high"]
    # against another anchor: the same BD computation, without intervals
    curves = load_curves([small_run], [])
    expected = bd_table(curves, pick_anchor(curves, "webp"), metrics=["psnr_rgb"], resamples=0)
    expected = expected[(expected.codec == "jpeg") & (expected.aggregation == "mean-curve")].iloc[0]
    jpeg_vs_webp = next(r for r in data["bd"]["webp"] if r["codec"] == "jpeg" and r["metric"] == "psnr_rgb"
                        and r["aggregation"] == "mean-curve")  # fmt: skip
    assert jpeg_vs_webp["bd_rate"] == pytest.approx(expected.bd_rate) and jpeg_vs_webp["bd_rate"] > 10
    assert jpeg_vs_webp["ci_low"] is None
    # each image's BD-rate against the report's anchor: their mean is the per-image aggregation
    per_image = dict(data["per_image"]["webp"]["psnr_rgb"])
    assert sorted(per_image) == ["crop01.png", "crop04.png", "crop13.png", "crop23.png"]
    aggregated = next(r for r in data["bd"]["jpeg"] if r["codec"] == "webp" and r["metric"] == "psnr_rgb"
                      and r["aggregation"] == "per-image")  # fmt: skip
    assert sum(per_image.values()) / 4 == pytest.approx(aggregated["bd_rate"], rel=1e-12)
