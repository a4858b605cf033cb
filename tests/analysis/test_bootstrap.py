"""Bootstrap intervals of BD values (bench/analysis/bootstrap.py) and the BD table's intervals, paired test
and fixed ranges (bench/analysis/bd_table.py) on synthetic runs (issue 13)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from bench.analysis.bd_table import bd_table
from bench.analysis.bdrate import bd_rate
from bench.analysis.bootstrap import curve_values, paired_test, resample_counts, resampled_bd
from bench.analysis.curves import Curve
from bench.metrics.fidelity import ms_ssim_db
from rd_data import bd_row, bootstrap_curve, bootstrap_rows

# --- synthetic runs ---------------------------------------------------------------------------------------


def test_a_codec_against_itself_has_an_interval_of_exactly_zero_and_p_1():
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 12, 0.0, 1))
    copy = bootstrap_curve(anchor.per_image.assign(codec="copy"), "copy")
    table = bd_table([anchor, copy], anchor)
    for metric in ("psnr_rgb", "ms_ssim_db"):
        for aggregation in ("mean-curve", "per-image"):
            row = bd_row(table, "copy", metric, aggregation)
            assert (row.bd_rate, row.ci_low, row.ci_high) == (0.0, 0.0, 0.0), row
            assert (row.ci_metric_low, row.ci_metric_high) == (0.0, 0.0)
            assert row.p_value == 1.0 and row.wins == "0/12"
    assert paired_test([0.0, 0.0, 0.0]).p_value == 1.0


def test_intervals_contain_the_estimate_and_shrink_with_more_images():
    widths = {}
    for images in (8, 64):
        anchor = bootstrap_curve(bootstrap_rows("jpeg", images, 0.0, 2))
        test = bootstrap_curve(bootstrap_rows("test", images, 0.3, 3))
        table = bd_table([anchor, test], anchor)
        for aggregation in ("mean-curve", "per-image"):
            row = bd_row(table, "test", "psnr_rgb", aggregation)
            assert row.ci_low < row.bd_rate < row.ci_high, row
            assert row.ci_metric_low < row.bd_metric < row.ci_metric_high, row
            widths[images, aggregation] = row.ci_high - row.ci_low
        assert bd_row(table, "test").wins == f"{images}/{images}" and bd_row(table, "test").p_value < 0.01
    for aggregation in ("mean-curve", "per-image"):
        assert widths[64, aggregation] < 0.6 * widths[8, aggregation], widths


def test_intervals_are_the_same_for_a_seed_and_differ_for_another():
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 16, 0.0, 4))
    test = bootstrap_curve(bootstrap_rows("test", 16, 0.2, 5))
    columns = ["ci_low", "ci_high", "ci_metric_low", "ci_metric_high"]
    one = bd_table([anchor, test], anchor, seed=7)
    again = bd_table([anchor, test], anchor, seed=7)
    other = bd_table([anchor, test], anchor, seed=8)
    pd.testing.assert_frame_equal(one, again)
    assert (one[columns].to_numpy() != other[columns].to_numpy()).all()
    assert set(one.seed) == {7} and set(one.resamples) == {1000}
    each = bd_row(one, "test", aggregation="per-image")  # by hand: 2.5th and 97.5th percentiles of resampled means
    rates = [bd_rate(a.bpp, a.psnr_rgb, t.bpp, t.psnr_rgb) for (_, a), (_, t) in
             zip(anchor.per_image.groupby("image"), test.per_image.groupby("image"), strict=True)]  # fmt: skip
    means = np.random.default_rng(7).multinomial(16, np.full(16, 1 / 16), size=1000) @ np.array(rates) / 16
    assert (each.ci_low, each.ci_high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])), abs=1e-9)
    fewer = bd_table([anchor, test], anchor, resamples=0)
    assert fewer[columns].isna().all().all() and set(fewer.resamples) == {0}
    assert (fewer.p_value == one.p_value).all()  # the paired test needs no resampling


def test_resampled_mean_curves_are_the_report_s_mean_curves():
    """With every image drawn once, the bootstrap's mean curves (dB of the mean MS-SSIM) give the table's BD."""
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 10, 0.0, 6))
    test = bootstrap_curve(bootstrap_rows("test", 10, 0.25, 7))
    table = bd_table([anchor, test], anchor, resamples=0)
    images = sorted(anchor.complete_images())
    once = np.ones((1, len(images)))
    for metric, column, to_db in (("psnr_rgb", "psnr_rgb", None), ("ms_ssim_db", "ms_ssim_rgb", ms_ssim_db)):
        values = [curve_values(c.per_image, images, column, to_db) for c in (anchor, test)]
        rates, metrics = resampled_bd(*values, once)
        row = bd_row(table, "test", metric)
        assert rates[0] == pytest.approx(row.bd_rate, abs=1e-9) and metrics[0] == pytest.approx(row.bd_metric, abs=1e-9)
    counts = resample_counts(10, 50, 0)
    assert counts.shape == (50, 10) and (counts.sum(axis=1) == 10).all()


def test_published_curves_get_no_interval_and_say_why():
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 8, 0.0, 10))
    published = Curve(label="Paper", codec="Paper", kind="published", source="paper.json",
                      points=bootstrap_curve(bootstrap_rows("paper", 8, 0.2, 11)).points, metrics=("psnr_rgb",))  # fmt: skip
    table = bd_table([anchor, published], anchor, metrics=["psnr_rgb"])
    row = bd_row(table, "Paper")
    assert math.isfinite(row.bd_rate) and math.isnan(row.ci_low) and math.isnan(row.ci_high)
    assert "no interval: Paper has no per-image values (published curve)" in row.note
    assert row.wins == "" or (isinstance(row.wins, float) and math.isnan(row.wins))
    assert math.isnan(row.p_value)


def test_mean_curve_intervals_are_computed_for_pchip_only():
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 8, 0.0, 12))
    test = bootstrap_curve(bootstrap_rows("test", 8, 0.3, 13))
    table = bd_table([anchor, test], anchor, method="akima", metrics=["psnr_rgb"], resamples=100)
    mean, each = bd_row(table, "test"), bd_row(table, "test", aggregation="per-image")
    assert math.isnan(mean.ci_low) and "computed for pchip only, not akima" in mean.note
    assert each.ci_low < each.bd_rate < each.ci_high


def test_table_fixed_ranges_are_recorded_and_a_range_outside_a_curve_is_nan_with_a_note():
    anchor = bootstrap_curve(bootstrap_rows("jpeg", 8, 0.0, 14))
    test = bootstrap_curve(bootstrap_rows("test", 8, 0.3, 15))
    overlap = bd_table([anchor, test], anchor, metrics=["psnr_rgb"], resamples=100)
    row = shared = bd_row(overlap, "test")
    ranges = {"psnr_rgb": (row.quality_low, row.quality_high)}
    same = bd_table([anchor, test], anchor, metrics=["psnr_rgb"], resamples=100, quality_ranges=ranges,
                    rate_range=(row.rate_low, row.rate_high))  # fmt: skip
    fixed = bd_row(same, "test")
    for column in ("bd_rate", "bd_metric", "quality_low", "quality_high", "rate_low", "rate_high"):
        assert fixed[column] == pytest.approx(row[column], abs=1e-9), column
    # the resamples integrate over the fixed range, not over each resample's overlap: other intervals
    assert fixed.ci_low < fixed.bd_rate < fixed.ci_high and fixed.ci_low != pytest.approx(row.ci_low, abs=1e-6)
    outside = bd_table([anchor, test], anchor, metrics=["psnr_rgb"], resamples=100,
                       quality_ranges={"psnr_rgb": (20.0, 30.0)}, rate_range=(shared.rate_low, 0.8))  # fmt: skip
    row = bd_row(outside, "test")
    assert math.isnan(row.bd_rate) and math.isnan(row.ci_low) and math.isfinite(row.bd_metric)
    assert row.ci_metric_low < row.bd_metric < row.ci_metric_high
    assert (row.quality_low, row.quality_high, row.rate_low, row.rate_high) == (20.0, 30.0, shared.rate_low, 0.8)
    assert re.search(r"BD-rate: the (anchor|test) curve covers PSNR-RGB \d+\.\d–\d+\.\d dB, not the fixed range "
                     r"20\.0–30\.0 dB", row.note), row.note  # fmt: skip
    each = bd_row(outside, "test", aggregation="per-image")
    assert math.isnan(each.bd_rate) and "not the fixed range 20.0–30.0 dB" in each.note
