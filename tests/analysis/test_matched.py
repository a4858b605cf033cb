"""Matched-quality size ratios per image (bench/analysis/matched.py): the other codec's bpp at the anchor's quality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.interpolate import PchipInterpolator

from bench.analysis.matched import MATCHED_COLUMNS, matched_points, matched_table
from rd_data import MATCHED_SETTINGS, matched_bpp, matched_curve, matched_psnr, matched_rows


def _all(table: pd.DataFrame, codec: str, metric: str = "psnr_rgb") -> pd.Series:
    part = table[(table.codec == codec) & (table.metric == metric) & (table.setting == "all")]
    assert len(part) == 1, part
    return part.iloc[0]


def test_a_codec_against_itself_has_ratio_exactly_1_and_is_smaller_on_no_image():
    anchor = matched_curve(matched_rows("jpeg"))
    copy = matched_curve(anchor.per_image.assign(codec="copy"))
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
    anchor = matched_curve(matched_rows("jpeg"))
    half = matched_curve(matched_rows("half", factor=0.5))
    table = matched_table([anchor, half], anchor).table
    for metric in ("psnr_rgb", "ms_ssim_db"):
        rows = table[table.metric == metric]
        assert (rows.geomean_ratio == 0.5).all() and (rows.p10_ratio == 0.5).all() and (rows.p90_ratio == 0.5).all()
        row = _all(table, "half", metric)
        assert (row.ratios, row.left_out, row.images, row.smaller_on) == (20, 0, 5, 5)
        per_setting = rows[rows.setting != "all"]
        assert (per_setting.ratios == 5).all() and (per_setting.smaller_on == 5).all()


def test_anchor_qualities_outside_the_other_codec_range_are_left_out_and_counted():
    anchor = matched_curve(matched_rows("jpeg", settings=(5, *MATCHED_SETTINGS)))
    narrow = matched_curve(matched_rows("narrow", factor=0.5, settings=(10, 30, 60)))  # no point below 10 or above 60
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
    anchor = matched_curve(matched_rows("jpeg"))
    other = matched_curve(
        matched_rows("other", factor=0.7, shift=7.0)
    )  # other qualities: interpolated between its points
    points = matched_points(anchor, other, "psnr_rgb")
    image = other.per_image[other.per_image.image == "img3.png"]
    interpolant = PchipInterpolator(image.psnr_rgb.to_numpy(), np.log(image.bpp.to_numpy()))
    row = points[(points.image == "img3.png") & (points.setting == 30.0)].iloc[0]
    quality = matched_psnr(30, 3)
    expected = math.exp(interpolant(quality)) / matched_bpp(30, 3)
    assert row.quality == quality and row.anchor_bpp == matched_bpp(30, 3)
    assert row.ratio == pytest.approx(expected, rel=1e-12)
    assert row.ratio != pytest.approx(0.7, rel=1e-3)  # not a node: a real interpolation
    assert math.isnan(points[(points.image == "img3.png") & (points.setting == 10.0)].ratio.iloc[0])  # below range


def test_a_lower_is_better_column_is_compared_in_its_own_direction():
    anchor = matched_curve(matched_rows("jpeg").assign(ciede2000=lambda f: 40 - f.psnr_rgb))
    half = matched_curve(matched_rows("half", factor=0.5).assign(ciede2000=lambda f: 40 - f.psnr_rgb))
    row = _all(matched_table([anchor, half], anchor, metrics=["ciede2000"]).table, "half", "ciede2000")
    assert (row.geomean_ratio, row.ratios, row.smaller_on) == (0.5, 20, 5)


def test_the_ratios_of_many_images_at_once_equal_those_of_one_image_at_a_time():
    import bench.analysis.matched as matched_module

    rng = np.random.default_rng(3)
    rows = matched_rows("jpeg", images=40)
    other = matched_rows("other", images=40, factor=0.7, shift=4.0)
    other["bpp"] *= rng.uniform(0.9, 1.1, len(other))  # each image its own curve
    other.loc[other.image == "img5.png", "psnr_rgb"] = 30.0  # flat: interpolated one by one, refused there
    other.loc[(other.image == "img6.png") & (other.quality == 60.0), "bpp"] = math.nan  # fewer points
    anchor, test = matched_curve(rows), matched_curve(other)
    at_once = matched_points(anchor, test, "psnr_rgb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matched_module, "_test_bpp_at_once", lambda *args: {})
        one_by_one = matched_points(anchor, test, "psnr_rgb")
    assert at_once.drop(columns=["test_bpp", "ratio"]).equals(one_by_one.drop(columns=["test_bpp", "ratio"]))
    np.testing.assert_allclose(at_once.ratio, one_by_one.ratio, rtol=1e-13, equal_nan=True)
    assert at_once.ratio.notna().sum() > 100 and at_once[at_once.image == "img5.png"].ratio.isna().all()
    assert at_once[at_once.image == "img6.png"].ratio.notna().any()
