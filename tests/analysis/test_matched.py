"""Matched-quality size ratios per image (bench/matched.py): the other codec's bpp at the anchor's quality."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.interpolate import PchipInterpolator

from bench.analysis.curves import Curve, mean_points
from bench.analysis.matched import MATCHED_COLUMNS, matched_points, matched_table
from bench.metrics.fidelity import ms_ssim_db

SETTINGS = (10, 30, 60, 90)
METRICS = ("psnr_rgb", "ms_ssim_rgb")


def _psnr(setting: float, image: int) -> float:
    return 26 + 7 * math.log2(1 + setting / 25) + 0.8 * image


def _ms_ssim(setting: float, image: int) -> float:
    return 1 - 0.15 / (1 + setting / 12) / (1 + image / 10)


def _bpp(setting: float, image: int) -> float:
    return (0.08 + setting / 45 + (setting / 70) ** 2) * (1 + image / 5)


def _rows(codec: str, images: int = 5, *, factor: float = 1.0, settings=SETTINGS, shift: float = 0.0) -> pd.DataFrame:
    """Per-image records: image ``i`` at ``setting`` has ``factor`` times the reference bpp at the
    reference quality of ``setting + shift`` (so ``shift`` moves the points along the same curve)."""
    out = []
    for i in range(images):
        for s in settings:
            ms_ssim = _ms_ssim(s + shift, i)
            out.append(dict(codec=codec, image=f"img{i}.png", quality=float(s), bpp=factor * _bpp(s + shift, i),
                            psnr_rgb=_psnr(s + shift, i), ms_ssim_rgb=ms_ssim, ms_ssim_db=ms_ssim_db(ms_ssim)))  # fmt: skip
    return pd.DataFrame(out)


def _curve(rows: pd.DataFrame) -> Curve:
    label = str(rows["codec"].iloc[0])
    return Curve(label=label, codec=label, kind="traditional", source="synthetic", points=mean_points(rows, METRICS),
                 per_image=rows, metrics=METRICS, run_images=frozenset(rows["image"]))  # fmt: skip


def _all(table: pd.DataFrame, codec: str, metric: str = "psnr_rgb") -> pd.Series:
    part = table[(table.codec == codec) & (table.metric == metric) & (table.setting == "all")]
    assert len(part) == 1, part
    return part.iloc[0]


def test_a_codec_against_itself_has_ratio_exactly_1_and_is_smaller_on_no_image():
    anchor = _curve(_rows("jpeg"))
    copy = _curve(anchor.per_image.assign(codec="copy"))
    result = matched_table([anchor, copy], anchor)
    table = result.table
    assert list(table.columns) == list(MATCHED_COLUMNS)
    assert set(table.metric) == {"psnr_rgb", "ms_ssim_db"}
    assert set(table.setting) == {"all", "10", "30", "60", "90"}
    assert (table.geomean_ratio == 1.0).all() and (table.p10_ratio == 1.0).all() and (table.p90_ratio == 1.0).all()
    assert (table.smaller_on == 0).all() and (table.left_out == 0).all()
    row = _all(table, "copy")
    assert (row.ratios, row.images) == (20, 5)
    points = matched_points(anchor, copy, "ms_ssim_db")
    assert len(points) == 20 and (points.ratio == 1.0).all()


def test_a_codec_with_half_the_bits_at_the_same_qualities_has_ratio_exactly_half():
    anchor = _curve(_rows("jpeg"))
    half = _curve(_rows("half", factor=0.5))
    table = matched_table([anchor, half], anchor).table
    for metric in ("psnr_rgb", "ms_ssim_db"):
        rows = table[table.metric == metric]
        assert (rows.geomean_ratio == 0.5).all() and (rows.p10_ratio == 0.5).all() and (rows.p90_ratio == 0.5).all()
        row = _all(table, "half", metric)
        assert (row.ratios, row.left_out, row.images, row.smaller_on) == (20, 0, 5, 5)
        per_setting = rows[rows.setting != "all"]
        assert (per_setting.ratios == 5).all() and (per_setting.smaller_on == 5).all()


def test_anchor_qualities_outside_the_other_codec_range_are_left_out_and_counted():
    anchor = _curve(_rows("jpeg", settings=(5, *SETTINGS)))
    narrow = _curve(_rows("narrow", factor=0.5, settings=(10, 30, 60)))  # no point below 10 or above 60
    table = matched_table([anchor, narrow], anchor, metrics=["psnr_rgb"]).table
    row = _all(table, "narrow")
    assert (row.ratios, row.left_out, row.images) == (15, 10, 5)  # settings 5 and 90 of each of 5 images
    assert row.geomean_ratio == 0.5 and "10 anchor point(s) outside narrow's quality range" in row.note
    by_setting = table[table.setting != "all"].set_index("setting")
    assert by_setting.loc["5", "ratios"] == 0 and by_setting.loc["5", "left_out"] == 5
    assert math.isnan(by_setting.loc["90", "geomean_ratio"]) and by_setting.loc["90", "left_out"] == 5
    assert by_setting.loc["30", "ratios"] == 5 and by_setting.loc["30", "left_out"] == 0
    points = matched_points(anchor, narrow, "psnr_rgb")
    assert points.ratio.isna().sum() == 10 and set(points[points.ratio.isna()].setting) == {5.0, 90.0}


def test_a_ratio_is_the_pchip_of_log_bpp_against_quality_on_the_image_s_own_curve():
    anchor = _curve(_rows("jpeg"))
    other = _curve(_rows("other", factor=0.7, shift=7.0))  # other qualities: interpolated between its points
    points = matched_points(anchor, other, "psnr_rgb")
    image = other.per_image[other.per_image.image == "img3.png"]
    interpolant = PchipInterpolator(image.psnr_rgb.to_numpy(), np.log(image.bpp.to_numpy()))
    row = points[(points.image == "img3.png") & (points.setting == 30.0)].iloc[0]
    quality = _psnr(30, 3)
    expected = math.exp(interpolant(quality)) / _bpp(30, 3)
    assert row.quality == quality and row.anchor_bpp == _bpp(30, 3)
    assert row.ratio == pytest.approx(expected, rel=1e-12)
    assert row.ratio != pytest.approx(0.7, rel=1e-3)  # not a node: a real interpolation
    assert math.isnan(points[(points.image == "img3.png") & (points.setting == 10.0)].ratio.iloc[0])  # below range


def test_a_lower_is_better_column_is_compared_in_its_own_direction():
    anchor = _curve(_rows("jpeg").assign(ciede2000=lambda f: 40 - f.psnr_rgb))
    half = _curve(_rows("half", factor=0.5).assign(ciede2000=lambda f: 40 - f.psnr_rgb))
    row = _all(matched_table([anchor, half], anchor, metrics=["ciede2000"]).table, "half", "ciede2000")
    assert (row.geomean_ratio, row.ratios, row.smaller_on) == (0.5, 20, 5)


def _run_folder(folder: Path, *codecs: tuple[str, float]) -> Path:
    folder.mkdir()
    rows = [_rows(codec, factor=factor).drop(columns="ms_ssim_db") for codec, factor in codecs]
    pd.concat(rows).assign(encode_s=0.01, decode_s=0.01).to_csv(folder / "records.csv", index=False)
    return folder


def test_the_report_writes_matched_quality_csv_and_the_sentence(tmp_path: Path, monkeypatch):
    import bench.report.writer as report

    monkeypatch.setattr(report, "rd_figure", lambda *a, **k: None)  # figures are tested in test_report.py
    monkeypatch.setattr(report, "speed_figure", lambda *a, **k: None)
    run = _run_folder(tmp_path / "run", ("jpeg", 1.0), ("avif", 0.5))
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps({"name": "paper", "results": {"bpp": [0.2, 0.5, 1.0], "psnr-rgb": [28, 31, 34]}}))
    result = report.make_report(report.ReportConfig(runs=(run,), references=(paper,), out=tmp_path / "out",
                                                    bootstrap=0))  # fmt: skip
    assert tmp_path / "out" / "matched_quality.csv" in result.files
    table = pd.read_csv(tmp_path / "out" / "matched_quality.csv", keep_default_na=False)
    assert list(table.columns) == list(MATCHED_COLUMNS)
    assert set(table.codec) == {"avif"}  # the published curve is skipped
    assert len(table) == 2 * (1 + len(SETTINGS))  # PSNR-RGB and MS-SSIM-dB: "all" and one row per setting
    page = (tmp_path / "out" / "report.md").read_text()
    assert "## Matched-quality size ratios" in page
    assert (
        "At equal PSNR-RGB, avif files are 0.50x the size of jpeg's (geometric mean of 20 ratios over 5 images; "
        "10th-90th percentile 0.50-0.50); smaller on 5 of 5 images." in page
    )
    assert "| avif | MS-SSIM-dB | 0.50 | 0.50–0.50 | 20 (0) | 5/5 images |" in page
    assert "Published curves have no per-image data and are not compared here: paper." in page
