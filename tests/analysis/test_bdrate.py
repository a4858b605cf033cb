"""BD-rate and BD-metric (bench/analysis/bdrate.py): published reference values, the reference
implementation, edge cases, and fixed ranges instead of the overlap."""

from __future__ import annotations

import json
import math
import random
import warnings

import numpy as np
import pytest

from bench.analysis.bdrate import (
    METHODS,
    DuplicatePointsWarning,
    InvalidPointsError,
    NonMonotonicError,
    NoOverlapError,
    OutsideRangeError,
    SmallOverlapWarning,
    TooFewPointsError,
    bd_compare,
    bd_metric,
    bd_rate,
)
from conftest import require_module

# JCTVC-E137 test data (kbit/s, Y-PSNR dB) with the BD-rates of the JCT-VC common-test-conditions Excel
# sheet (PCHIP), as reproduced to full precision in Netflix VMAF's test suite
# (python/test/bd_rate_calculator_test.py, BDrateCalculatorJCTVCTest; values there are fractions).
JCTVC_E137 = [
    (
        [108048.8736, 61279.976, 33905.6656, 18883.6928],
        [43.6471, 40.3953, 37.247, 34.2911],
        [108061.2784, 61299.9936, 33928.7472, 18910.912],
        [43.6768, 40.4232, 37.2761, 34.3147],
        -0.00465215420752807 * 100,
    ),
    (
        [40433.8848, 7622.7456, 2394.488, 1017.6184],
        [37.5761, 35.3756, 33.8977, 32.0603],
        [40370.12, 7587.0024, 2390.0944, 1017.0984],
        [37.5982, 35.4025, 33.9194, 32.0822],
        -0.018779823450567612 * 100,
    ),
]


# Curves of FAU-LMS's bjontegaard examples (libx265 presets) and CompressAI's published Kodak JPEG/WebP.
FAU_EXAMPLES = [
    ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851],
     [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]),
    ([82472.76, 26875.24, 9487.76, 4593.6], [43.825, 41.404, 40.037, 38.615],
     [99896.96, 33952.04, 9787.8, 4469.0], [44.731, 41.875, 40.121, 38.651]),
    ([82472.76, 26875.24, 9487.76, 4593.6, 3600, 2900], [43.825, 41.404, 40.037, 38.615, 36.5, 35.1],
     [99896.96, 33952.04, 9787.8, 4469.0, 4040, 3300], [44.731, 41.875, 40.121, 38.651, 37, 36.5]),
]  # fmt: skip


@pytest.mark.parametrize("anchor_r, anchor_q, test_r, test_q, expected", JCTVC_E137)
def test_pchip_reproduces_the_jctvc_excel_sheet(anchor_r, anchor_q, test_r, test_q, expected):
    assert bd_rate(anchor_r, anchor_q, test_r, test_q, "pchip") == pytest.approx(expected, abs=1e-6)


def compressai_curves(compressai_reference):
    curves = {}
    for name in ("jpeg", "webp", "bpg_444_x265_ycbcr"):
        results = json.loads((compressai_reference / f"{name}.json").read_text())["results"]
        curves[name] = (results["bpp"], results["psnr-rgb"])
    return curves


def reference_cases(compressai_reference):
    cases = [(ar, aq, tr, tq) for ar, aq, tr, tq, _ in JCTVC_E137] + FAU_EXAMPLES
    c = compressai_curves(compressai_reference)
    cases.append((*c["jpeg"], *c["webp"]))  # 19 points each
    cases.append((*c["jpeg"], *c["bpg_444_x265_ycbcr"]))  # 19 against 8 points
    return cases


@pytest.mark.parametrize("method", METHODS)
def test_all_methods_agree_with_the_reference_implementation(method, compressai_reference):
    """FAU-LMS's bjontegaard (its PCHIP matches the JVET Excel sheet to 10 decimals) on every case."""
    bjontegaard = require_module("bjontegaard", "the reference BD-rate implementation")
    for anchor_r, anchor_q, test_r, test_q in reference_cases(compressai_reference):
        kwargs = {"method": method, "require_matching_points": False}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected_rate = bjontegaard.bd_rate(anchor_r, anchor_q, test_r, test_q, **kwargs)
            expected_metric = bjontegaard.bd_psnr(anchor_r, anchor_q, test_r, test_q, **kwargs)
            result = bd_compare(anchor_r, anchor_q, test_r, test_q, method)
        assert result.bd_rate == pytest.approx(expected_rate, abs=1e-6)
        assert result.bd_metric == pytest.approx(expected_metric, abs=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_a_curve_at_twice_the_rate_costs_exactly_100_percent(method):
    rate = [0.2, 0.45, 0.9, 1.7, 3.1]
    quality = [27.0, 30.5, 33.2, 36.9, 40.0]
    assert bd_rate(rate, quality, [2 * r for r in rate], quality, method) == pytest.approx(100.0, abs=1e-9)
    assert bd_rate([2 * r for r in rate], quality, rate, quality, method) == pytest.approx(-50.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_a_constant_quality_gain_is_the_bd_metric(method):
    rate = [0.2, 0.45, 0.9, 1.7]
    quality = [27.0, 30.5, 33.2, 36.9]
    assert bd_metric(rate, quality, rate, [q + 0.75 for q in quality], method) == pytest.approx(0.75, abs=1e-12)
    assert bd_rate(rate, quality, rate, quality, method) == pytest.approx(0.0, abs=1e-12)


def test_points_are_sorted_units_cancel_and_counts_may_differ():
    anchor_r, anchor_q, test_r, test_q = FAU_EXAMPLES[2]
    expected = bd_rate(anchor_r, anchor_q, test_r, test_q)
    order = list(range(len(anchor_r)))
    random.Random(3).shuffle(order)
    shuffled = bd_rate([anchor_r[i] for i in order], [anchor_q[i] for i in order], test_r, test_q)
    in_bits = bd_rate([r * 1000 for r in anchor_r], anchor_q, [r * 1000 for r in test_r], test_q)
    assert shuffled == pytest.approx(expected, abs=1e-12) and in_bits == pytest.approx(expected, abs=1e-9)
    assert np.isfinite(bd_rate(anchor_r, anchor_q, test_r[:4], test_q[:4]))


def test_no_overlap_is_an_error():
    with pytest.raises(NoOverlapError, match="share no quality interval: anchor 30..35, test 36..40"):
        bd_rate([1, 2, 3, 4], [30, 32, 33, 35], [1, 2, 3, 4], [36, 38, 39, 40])


def test_small_overlap_warns_and_says_how_much():
    with pytest.warns(SmallOverlapWarning, match="share only 20% of the shorter one's quality range"):
        value = bd_rate([1, 2, 3, 4], [30, 31, 32, 35], [1, 2, 3, 4], [34, 36, 38, 40])
    assert np.isfinite(value)
    result = bd_compare([1, 2, 3, 4], [30, 31, 32, 35], [1, 2, 3, 4], [34, 36, 38, 40], min_overlap=0.0)
    assert result.overlap_metric == pytest.approx(0.2) and result.notes == ()


def test_cubic_needs_four_points_pchip_two():
    with pytest.raises(TooFewPointsError, match="test curve has 3 distinct point.*'cubic' needs 4"):
        bd_rate([1, 2, 3, 4], [30, 32, 34, 36], [1, 2, 3], [31, 33, 35], "cubic")
    assert np.isfinite(bd_rate([1, 2, 3, 4], [30, 32, 34, 36], [1, 2, 3], [31, 33, 35], "pchip"))
    assert bd_rate([1, 4], [30, 36], [2, 8], [30, 36], "akima") == pytest.approx(100.0)


def test_non_monotonic_curves_are_refused_with_the_offending_points():
    with pytest.raises(
        NonMonotonicError, match=r"anchor curve: quality does not strictly increase.*\(2, 33\) -> \(3, 32\)"
    ):
        bd_rate([1, 2, 3, 4], [30, 33, 32, 36], [1, 2, 3, 4], [31, 33, 34, 37])
    with pytest.raises(NonMonotonicError, match="test curve"):  # same rate, two qualities
        bd_rate([1, 2, 3, 4], [30, 32, 34, 36], [1, 2, 2, 4], [31, 33, 34, 37])


def test_duplicated_points_are_merged_with_a_warning():
    clean = bd_rate([1, 2, 3, 4], [30, 32, 34, 36], [1, 2, 3, 4], [31, 33, 35, 37])
    with pytest.warns(DuplicatePointsWarning, match="repeats 1 point"):
        doubled = bd_rate([1, 2, 2, 3, 4], [30, 32, 32, 34, 36], [1, 2, 3, 4], [31, 33, 35, 37])
    assert doubled == clean


@pytest.mark.parametrize("rate, quality, match", [
    ([1, 2, 0, 4], [30, 32, 34, 36], "rates <= 0"),
    ([1, 2, 3, 4], [30, 32, float("nan"), 36], "non-finite"),
    ([1, 2, 3], [30, 32, 34, 36], "3 rates but 4 quality values"),
])  # fmt: skip
def test_invalid_points_are_refused(rate, quality, match):
    with pytest.raises(InvalidPointsError, match=match):
        bd_rate(rate, quality, [1, 2, 3, 4], [30, 32, 34, 36])


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'spline'"):
        bd_rate([1, 2, 3, 4], [30, 32, 34, 36], [1, 2, 3, 4], [30, 32, 34, 36], "spline")


def test_metrics_where_lower_is_better_get_bd_values_in_their_own_direction():
    """CIEDE2000, GMSD, NLPD fall as rate grows: BD is computed on the negated values, and BD-metric
    comes back in the metric's units (negative: the test codec has the smaller error)."""
    import pandas as pd

    from bench.analysis.bd_table import _compare, metric_sign
    from bench.api.metric_registry import discover_metrics, metric_columns

    anchor = pd.DataFrame({"bpp": [0.25, 0.5, 1.0, 2.0], "ciede2000": [6.0, 4.5, 3.0, 2.0]})
    test = pd.DataFrame({"bpp": [0.125, 0.25, 0.5, 1.0], "ciede2000": [6.0, 4.5, 3.0, 2.0]})  # half the rate
    columns = metric_columns(discover_metrics(use_entry_points=False))
    assert metric_sign("ciede2000", columns) == -1.0 and metric_sign("psnr_rgb", columns) == 1.0
    result = _compare(anchor, test, "ciede2000", "pchip", "CIEDE2000", "", metric_sign("ciede2000", columns))
    assert result.bd_rate == pytest.approx(-50.0, abs=1e-9) and result.bd_metric < 0
    unsigned = _compare(anchor, test, "ciede2000", "pchip", "CIEDE2000", "")
    assert math.isnan(unsigned.bd_rate) and "increase" in unsigned.note


# --- fixed ranges -----------------------------------------------------------------------------------------


def test_a_fixed_range_equal_to_the_overlap_gives_the_overlap_bd():
    ra, qa, rt, qt = [0.2, 0.5, 1.0, 2.0], [28.0, 31.0, 34.0, 38.0], [0.15, 0.4, 0.9, 1.5], [29.0, 32.0, 35.0, 37.0]
    overlap = bd_compare(ra, qa, rt, qt)
    fixed = bd_compare(ra, qa, rt, qt, quality_range=(29.0, 37.0), rate_range=(0.2, 1.5))
    assert fixed.bd_rate == pytest.approx(overlap.bd_rate, abs=1e-12)
    assert fixed.bd_metric == pytest.approx(overlap.bd_metric, abs=1e-12)
    narrower = bd_rate(ra, qa, rt, qt, quality_range=(30.0, 33.0))
    assert narrower != pytest.approx(overlap.bd_rate, abs=1e-3)
    with pytest.raises(OutsideRangeError, match=r"the test curve covers quality 29\.\.37, not the range 30\.\.38"):
        bd_rate(ra, qa, rt, qt, quality_range=(30.0, 38.0))
    with pytest.raises(OutsideRangeError, match=r"the anchor curve covers rate 0\.2\.\.2, not the range 0\.1\.\.1"):
        bd_metric(ra, qa, rt, qt, rate_range=(0.1, 1.0))
