"""Bootstrap intervals of BD values, the paired test, the vectorised PCHIP BD and fixed-range BD (issue 13)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.analysis.bd_table import BD_COLUMNS, bd_table
from bench.analysis.bdrate import OutsideRangeError, bd_compare, bd_metric, bd_rate
from bench.analysis.bdvector import pchip_bd
from bench.analysis.bootstrap import _bd_of_one_row as bootstrap_scalar
from bench.analysis.bootstrap import curve_values, paired_test, resample_counts, resampled_bd
from bench.analysis.curves import Curve, mean_points
from bench.metrics.fidelity import ms_ssim_db
from bench.report.tables import bd_latex as to_latex
from bench.report.tables import bd_markdown as to_markdown

QUALITIES = (10, 30, 50, 70, 90)


def _scalar(ra, qa, rt, qt, kind: str, interval=None) -> float:
    """bench.analysis.bdrate's BD (the reference), NaN where it raises."""
    return bootstrap_scalar(ra, qa, rt, qt, kind, interval)


def _assert_matches(ra, qa, rt, qt, kind: str, interval=None) -> int:
    """The vectorised BD of every row equals bench.analysis.bdrate's to 1e-9, NaN where it raises; returns the NaNs."""
    got = pchip_bd(ra, qa, rt, qt, kind, interval=interval)
    nans = 0
    for i in range(len(got)):
        expected = _scalar(ra[i], qa[i], rt[i], qt[i], kind, interval)
        if math.isnan(expected):
            assert math.isnan(got[i]), (kind, i, got[i])
            nans += 1
        else:
            assert got[i] == pytest.approx(expected, abs=1e-9), (kind, i)
    return nans


# --- the vectorised PCHIP BD ------------------------------------------------------------------------------


def _random_curves(rng, rows: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    rate = np.sort(rng.uniform(0.05, 2.0, (rows, points)), axis=1)
    quality = 22 + np.cumsum(rng.uniform(0.05, 4.0, (rows, points)), axis=1)
    return rate, quality


@pytest.mark.parametrize("na, nt", [(2, 2), (2, 5), (4, 4), (6, 3), (10, 19)])
def test_vectorised_pchip_equals_bdrate_on_random_curves(na, nt):
    rng = np.random.default_rng(na * 100 + nt)
    ra, qa = _random_curves(rng, 200, na)
    rt, qt = _random_curves(rng, 200, nt)
    qt[::13] += 40  # no overlap
    qa[::17, 0] = qa[::17, -1] + 1  # quality falls with rate
    ra[::19, 0] = -1.0  # a rate <= 0
    qt[::23, -1] = math.nan  # a non-finite value
    order = rng.permutation(na)  # points in any order
    ra, qa = ra[:, order], qa[:, order]
    for kind in ("rate", "metric"):
        nans = _assert_matches(ra, qa, rt, qt, kind)
        assert 0 < nans < 100  # both kinds of row are checked


def test_vectorised_pchip_equals_bdrate_over_fixed_ranges():
    rng = np.random.default_rng(5)
    ra, qa = _random_curves(rng, 200, 5)
    rt, qt = _random_curves(rng, 200, 4)
    assert _assert_matches(ra, qa, rt, qt, "rate", (30.0, 34.0)) > 0
    assert _assert_matches(ra, qa, rt, qt, "metric", (0.4, 0.9)) > 0


def test_vectorised_pchip_equals_bdrate_on_published_kodak_curves(compressai_reference):
    curves = []
    for path in sorted(compressai_reference.glob("*.json")):
        results = json.loads(path.read_text())["results"]
        bpp, psnr = results.get("bpp"), results.get("psnr-rgb")
        if isinstance(psnr, list) and all(isinstance(v, (int, float)) for v in [*bpp, *psnr]):
            curves.append((np.array(bpp, float), np.array(psnr, float)))
    by_length: dict[int, list] = {}
    for curve in curves:
        by_length.setdefault(len(curve[0]), []).append(curve)
    checked = 0
    for anchors in by_length.values():
        for tests in by_length.values():
            pairs = [(a, t) for a in anchors for t in tests]
            arrays = [np.array([p[i][j] for p in pairs]) for i in (0, 1) for j in (0, 1)]
            for kind in ("rate", "metric"):
                _assert_matches(*arrays, kind)
            checked += len(pairs)
    assert checked > 500


def test_vectorised_pchip_equals_bdrate_on_real_per_image_curves(small_dataset, tmp_path):
    """Per-image curves of a real run (jpeg, webp and the default learned codec on four Kodak crops)."""
    from bench.run.runner import RunConfig, run

    config = RunConfig(dataset=str(small_dataset), codecs=("jpeg", "webp", "mean-scale-small"), jobs=2,
                       qualities=None, out=tmp_path / "run")  # fmt: skip
    assert run(config, progress=False, echo=lambda text: None).ok
    rows = pd.read_csv(tmp_path / "run" / "records.csv")
    curves = {
        (codec, image): (group["bpp"].to_numpy(float), group["psnr_y"].to_numpy(float))
        for (codec, image), group in rows.groupby(["codec", "image"])
    }
    jpeg = [curves[key] for key in sorted(curves) if key[0] == "jpeg"]
    for codec in ("webp", "mean-scale-small"):
        tests = [curves[key] for key in sorted(curves) if key[0] == codec]
        arrays = [np.array([c[i] for c in group]) for group in (jpeg, tests) for i in (0, 1)]
        for kind in ("rate", "metric"):
            _assert_matches(*arrays, kind)


# --- synthetic runs ---------------------------------------------------------------------------------------


def _rows(codec: str, images: int, saving: float, seed: int, spread: float = 0.1) -> pd.DataFrame:
    """Per-image records of a codec that needs ``1 - saving`` of a reference rate, varying by image (each
    image's difficulty, ``scale``, is the same for every codec)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(images):
        scale = math.exp(np.random.default_rng(1000 + i).normal(0, 0.3))
        factor = (1 - saving) * math.exp(rng.normal(0, spread))
        for q in QUALITIES:
            bpp = scale * factor * (0.1 + q / 40)
            psnr = 24 + 6 * math.log2(1 + q / 20) + rng.normal(0, 0.05)
            ms_ssim = 1 - 0.2 / (1 + q / 10) * math.exp(rng.normal(0, 0.02))
            out.append(dict(codec=codec, quality=float(q), image=f"img{i:03d}.png", bpp=bpp, psnr_rgb=psnr,
                            ms_ssim_rgb=ms_ssim, ms_ssim_db=ms_ssim_db(ms_ssim)))  # fmt: skip
    return pd.DataFrame(out)


def _curve(rows: pd.DataFrame, label: str | None = None) -> Curve:
    metrics = ("psnr_rgb", "ms_ssim_rgb")
    label = label or str(rows["codec"].iloc[0])
    return Curve(label=label, codec=label, kind="traditional", source="synthetic", points=mean_points(rows, metrics),
                 per_image=rows, metrics=metrics, run_images=frozenset(rows["image"]))  # fmt: skip


def _row(table: pd.DataFrame, codec: str, metric: str = "psnr_rgb", aggregation: str = "mean-curve") -> pd.Series:
    part = table[(table.codec == codec) & (table.metric == metric) & (table.aggregation == aggregation)]
    assert len(part) == 1, part
    return part.iloc[0]


def test_a_codec_against_itself_has_an_interval_of_exactly_zero_and_p_1():
    anchor = _curve(_rows("jpeg", 12, 0.0, 1))
    copy = _curve(anchor.per_image.assign(codec="copy"), "copy")
    table = bd_table([anchor, copy], anchor)
    for metric in ("psnr_rgb", "ms_ssim_db"):
        for aggregation in ("mean-curve", "per-image"):
            row = _row(table, "copy", metric, aggregation)
            assert (row.bd_rate, row.ci_low, row.ci_high) == (0.0, 0.0, 0.0), row
            assert (row.ci_metric_low, row.ci_metric_high) == (0.0, 0.0)
            assert row.p_value == 1.0 and row.wins == "0/12"
    assert paired_test([0.0, 0.0, 0.0]).p_value == 1.0


def test_intervals_contain_the_estimate_and_shrink_with_more_images():
    widths = {}
    for images in (8, 64):
        anchor = _curve(_rows("jpeg", images, 0.0, 2))
        test = _curve(_rows("test", images, 0.3, 3))
        table = bd_table([anchor, test], anchor)
        for aggregation in ("mean-curve", "per-image"):
            row = _row(table, "test", "psnr_rgb", aggregation)
            assert row.ci_low < row.bd_rate < row.ci_high, row
            assert row.ci_metric_low < row.bd_metric < row.ci_metric_high, row
            widths[images, aggregation] = row.ci_high - row.ci_low
        assert _row(table, "test").wins == f"{images}/{images}" and _row(table, "test").p_value < 0.01
    for aggregation in ("mean-curve", "per-image"):
        assert widths[64, aggregation] < 0.6 * widths[8, aggregation], widths


def test_intervals_are_the_same_for_a_seed_and_differ_for_another():
    anchor = _curve(_rows("jpeg", 16, 0.0, 4))
    test = _curve(_rows("test", 16, 0.2, 5))
    columns = ["ci_low", "ci_high", "ci_metric_low", "ci_metric_high"]
    one = bd_table([anchor, test], anchor, seed=7)
    again = bd_table([anchor, test], anchor, seed=7)
    other = bd_table([anchor, test], anchor, seed=8)
    pd.testing.assert_frame_equal(one, again)
    assert (one[columns].to_numpy() != other[columns].to_numpy()).all()
    assert set(one.seed) == {7} and set(one.resamples) == {1000}
    each = _row(one, "test", aggregation="per-image")  # by hand: 2.5th and 97.5th percentiles of resampled means
    rates = [bd_rate(a.bpp, a.psnr_rgb, t.bpp, t.psnr_rgb) for (_, a), (_, t) in
             zip(anchor.per_image.groupby("image"), test.per_image.groupby("image"), strict=True)]  # fmt: skip
    means = np.random.default_rng(7).multinomial(16, np.full(16, 1 / 16), size=1000) @ np.array(rates) / 16
    assert (each.ci_low, each.ci_high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])), abs=1e-9)
    fewer = bd_table([anchor, test], anchor, resamples=0)
    assert fewer[columns].isna().all().all() and set(fewer.resamples) == {0}
    assert (fewer.p_value == one.p_value).all()  # the paired test needs no resampling


def test_resampled_mean_curves_are_the_report_s_mean_curves():
    """With every image drawn once, the bootstrap's mean curves (dB of the mean MS-SSIM) give the table's BD."""
    anchor = _curve(_rows("jpeg", 10, 0.0, 6))
    test = _curve(_rows("test", 10, 0.25, 7))
    table = bd_table([anchor, test], anchor, resamples=0)
    images = sorted(anchor.complete_images())
    once = np.ones((1, len(images)))
    for metric, column, to_db in (("psnr_rgb", "psnr_rgb", None), ("ms_ssim_db", "ms_ssim_rgb", ms_ssim_db)):
        values = [curve_values(c.per_image, images, column, to_db) for c in (anchor, test)]
        rates, metrics = resampled_bd(*values, once)
        row = _row(table, "test", metric)
        assert rates[0] == pytest.approx(row.bd_rate, abs=1e-9) and metrics[0] == pytest.approx(row.bd_metric, abs=1e-9)
    counts = resample_counts(10, 50, 0)
    assert counts.shape == (50, 10) and (counts.sum(axis=1) == 10).all()


def test_the_table_columns_and_cells_show_the_interval():
    anchor = _curve(_rows("jpeg", 8, 0.0, 8))
    test = _curve(_rows("test", 8, 0.3, 9))
    table = bd_table([anchor, test], anchor, resamples=200, seed=3)
    assert tuple(table.columns) == BD_COLUMNS
    row = _row(table, "test")
    md = to_markdown(table, "mean-curve")
    cell = f"{row.bd_rate:+.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    assert cell in md and "[95% CI]" in md and "(200 resamples, seed 3)" in md
    tex = to_latex(table, "mean-curve")
    assert f"${row.bd_rate:+.2f}$ [${row.ci_low:.2f}$, ${row.ci_high:.2f}$]" in tex and "[95\\% CI]" in tex
    assert re.search(r"\[\$-?\d+\.\d\d\$, \$-?\d+\.\d\d\$\] & ", tex)
    plain = bd_table([anchor, test], anchor, resamples=0)
    assert "[95% CI]" not in to_markdown(plain) and re.search(r"\| -\d+\.\d\d \|", to_markdown(plain))


def test_published_curves_get_no_interval_and_say_why():
    anchor = _curve(_rows("jpeg", 8, 0.0, 10))
    published = Curve(label="Paper", codec="Paper", kind="published", source="paper.json",
                      points=_curve(_rows("paper", 8, 0.2, 11)).points, metrics=("psnr_rgb",))  # fmt: skip
    table = bd_table([anchor, published], anchor, metrics=["psnr_rgb"])
    row = _row(table, "Paper")
    assert math.isfinite(row.bd_rate) and math.isnan(row.ci_low) and math.isnan(row.ci_high)
    assert "no interval: Paper has no per-image values (published curve)" in row.note
    assert row.wins == "" or (isinstance(row.wins, float) and math.isnan(row.wins))
    assert math.isnan(row.p_value)


def test_mean_curve_intervals_are_computed_for_pchip_only():
    anchor = _curve(_rows("jpeg", 8, 0.0, 12))
    test = _curve(_rows("test", 8, 0.3, 13))
    table = bd_table([anchor, test], anchor, method="akima", metrics=["psnr_rgb"], resamples=100)
    mean, each = _row(table, "test"), _row(table, "test", aggregation="per-image")
    assert math.isnan(mean.ci_low) and "computed for pchip only, not akima" in mean.note
    assert each.ci_low < each.bd_rate < each.ci_high


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


def test_table_fixed_ranges_are_recorded_and_a_range_outside_a_curve_is_nan_with_a_note():
    anchor = _curve(_rows("jpeg", 8, 0.0, 14))
    test = _curve(_rows("test", 8, 0.3, 15))
    overlap = bd_table([anchor, test], anchor, metrics=["psnr_rgb"], resamples=100)
    row = shared = _row(overlap, "test")
    ranges = {"psnr_rgb": (row.quality_low, row.quality_high)}
    same = bd_table([anchor, test], anchor, metrics=["psnr_rgb"], resamples=100, quality_ranges=ranges,
                    rate_range=(row.rate_low, row.rate_high))  # fmt: skip
    fixed = _row(same, "test")
    for column in ("bd_rate", "bd_metric", "quality_low", "quality_high", "rate_low", "rate_high"):
        assert fixed[column] == pytest.approx(row[column], abs=1e-9), column
    # the resamples integrate over the fixed range, not over each resample's overlap: other intervals
    assert fixed.ci_low < fixed.bd_rate < fixed.ci_high and fixed.ci_low != pytest.approx(row.ci_low, abs=1e-6)
    outside = bd_table([anchor, test], anchor, metrics=["psnr_rgb"], resamples=100,
                       quality_ranges={"psnr_rgb": (20.0, 30.0)}, rate_range=(shared.rate_low, 0.8))  # fmt: skip
    row = _row(outside, "test")
    assert math.isnan(row.bd_rate) and math.isnan(row.ci_low) and math.isfinite(row.bd_metric)
    assert row.ci_metric_low < row.bd_metric < row.ci_metric_high
    assert (row.quality_low, row.quality_high, row.rate_low, row.rate_high) == (20.0, 30.0, shared.rate_low, 0.8)
    assert re.search(r"BD-rate: the (anchor|test) curve covers PSNR-RGB \d+\.\d–\d+\.\d dB, not the fixed range "
                     r"20\.0–30\.0 dB", row.note), row.note  # fmt: skip
    each = _row(outside, "test", aggregation="per-image")
    assert math.isnan(each.bd_rate) and "not the fixed range 20.0–30.0 dB" in each.note


def test_report_options_reach_the_table(tmp_path: Path):
    from bench.report.writer import _quality_ranges, quality_range

    assert quality_range("30,36") == ("", 30.0, 36.0) and quality_range("psnr_rgb=30,36") == ("psnr_rgb", 30.0, 36.0)
    from bench.api.metric_registry import discover_metrics

    registry = discover_metrics()
    columns = [registry.get(name).compared_column() for name in ("psnr_rgb", "ms_ssim_rgb")]
    assert _quality_ranges(columns, [("ms_ssim_rgb", 10.0, 14.0)]) == {"ms_ssim_db": (10.0, 14.0)}
    assert _quality_ranges(columns, [("", 1.0, 2.0)]) == {"psnr_rgb": (1.0, 2.0), "ms_ssim_db": (1.0, 2.0)}
