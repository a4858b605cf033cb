"""Curves (bench/analysis/curves.py): means over the images with every value defined, CompressAI files
written and read back, published files read robustly (one-line errors naming file and key)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bench.analysis.curves import CurveError, curves_from_compressai, curves_from_run, to_compressai
from bench.report.writer import ReportConfig, make_report
from conftest import bench_cli
from rd_data import bd_row, points_curve


def test_compressai_files_round_trip(small_run, tmp_path):
    (curve,) = [c for c in curves_from_run(small_run) if c.codec == "webp"]
    path = tmp_path / "webp.json"
    path.write_text(json.dumps(to_compressai(curve)))
    back = curves_from_compressai(path)
    for column in ("bpp", "psnr_rgb", "ms_ssim_rgb", "psnr_y", "encode_s", "decode_s"):
        np.testing.assert_allclose(back.column(column), curve.column(column), rtol=1e-12)


def test_paper_files_with_ms_ssim_in_db_are_read(compressai_reference):
    curve = curves_from_compressai(compressai_reference / "paper-elic2022_ms-ssim.json")
    assert curve.kind == "published" and np.isfinite(curve.column("ms_ssim_db")).all()
    np.testing.assert_allclose(-10 * np.log10(1 - curve.column("ms_ssim_rgb")), curve.column("ms_ssim_db"))
    assert np.isnan(curve.column("psnr_rgb")).all()
    assert list(curve.column("bpp")) == sorted(curve.column("bpp"))


# --- one rule for undefined values (issue 8) ----------------------------------------------------------------


def test_means_leave_out_images_with_an_undefined_metric(trust_run, tmp_path):
    records = pd.read_csv(trust_run / "records.csv")
    assert records[records.image == "tiny.png"].ms_ssim_rgb.isna().all()
    defined = records[(records.codec == "jpeg") & (records.image != "tiny.png")]
    expected = defined.groupby("quality")[["bpp", "psnr_rgb", "ms_ssim_rgb"]].mean()
    (jpeg,) = [c for c in curves_from_run(trust_run) if c.codec == "jpeg"]
    points = jpeg.points.set_index("quality").loc[expected.index]
    assert (points["images"] == 4).all()
    for column in ("bpp", "psnr_rgb", "ms_ssim_rgb"):
        np.testing.assert_allclose(points[column], expected[column], rtol=1e-12)
    exported = to_compressai(jpeg)
    np.testing.assert_allclose(sorted(exported["results"]["bpp"]), sorted(expected["bpp"]), rtol=1e-12)
    assert exported["meta"]["images"] == 4
    cli = bench_cli("export", str(trust_run), "--codec", "jpeg", "--out", str(tmp_path / "exp"))
    assert cli.returncode == 0, cli.stderr
    back = curves_from_compressai(tmp_path / "exp" / "jpeg.json")
    np.testing.assert_allclose(back.column("bpp"), jpeg.column("bpp"), rtol=1e-12)


# --- robust --reference reading (issue 8) -------------------------------------------------------------------


def test_our_own_export_with_nulls_reads_back(tmp_path, compressai_reference):
    curve = points_curve("mine", [0.2, 0.5, 1.0], [28.0, 31.0, 34.0], kind="traditional")
    points = curve.points.assign(ms_ssim_rgb=[0.9, math.nan, 0.97], encode_s=math.nan, decode_s=0.01)
    curve = replace(curve, points=points, metrics=("psnr_rgb", "ms_ssim_rgb"))
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(to_compressai(curve)))
    assert "null" in path.read_text()
    back = curves_from_compressai(path)
    np.testing.assert_allclose(back.column("bpp"), [0.2, 0.5, 1.0])
    np.testing.assert_allclose(back.column("ms_ssim_rgb"), [0.9, math.nan, 0.97])
    assert np.isnan(back.column("encode_s")).all()
    report = make_report(
        ReportConfig(references=(path, compressai_reference / "jpeg.json"), out=tmp_path / "r", anchor="JPEG")
    )
    assert np.isfinite(bd_row(report.table, "mine").bd_rate)


BROKEN = {
    "string": ({"bpp": [0.1, 0.2], "psnr-rgb": [30.0, "abc"]}, "psnr-rgb"),
    "numeric string": ({"bpp": [0.1, "0.2"], "psnr-rgb": [30.0, 31.0]}, "bpp"),
    "nested list": ({"bpp": [0.1, 0.2], "psnr-rgb": [[30.0], [31.0]]}, "psnr-rgb"),
    "mismatched length": ({"bpp": [0.1, 0.2], "ms-ssim-rgb": [0.9]}, "ms-ssim-rgb"),
    "scalar": ({"bpp": 0.1, "psnr-rgb": 30.0}, "bpp"),
    "object": ({"bpp": [0.1, 0.2], "encoding_time": {"a": 1}}, "encoding_time"),
    "boolean": ({"bpp": [0.1, 0.2], "decoding_time": [True, 0.1]}, "decoding_time"),
    "results a list": ([0.1, 0.2], "results"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_reference_files_are_one_line_errors_naming_file_and_key(tmp_path, case):
    results, key = BROKEN[case]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"name": "Broken", "results": results}))
    with pytest.raises(CurveError) as caught:
        curves_from_compressai(path)
    message = str(caught.value)
    assert "broken.json" in message and f"'{key}'" in message and "\n" not in message


@pytest.mark.parametrize("doc", [[1, 2], "text", {"name": ["x"], "meta": "m", "results": {"bpp": [0.1, None]}}])
def test_odd_documents_give_a_curve_or_a_curve_error(tmp_path, doc):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    try:
        curve = curves_from_compressai(path)
    except CurveError as exc:
        assert "odd.json" in str(exc)
    else:
        assert np.isnan(curve.column("bpp")).sum() == 1


OUT_OF_RANGE = {
    "negative MS-SSIM": ({"bpp": [0.1, 0.2], "ms-ssim-rgb": [-0.5, 0.9]}, "ms-ssim-rgb"),
    "MS-SSIM above 1": ({"bpp": [0.1, 0.2], "ms-ssim-rgb": [0.9, 1.5]}, "ms-ssim-rgb"),
    "MS-SSIM in dB below 0": ({"bpp": [0.1, 0.2], "ms-ssim-db-rgb": [-3.0, 12.0]}, "ms-ssim-db-rgb"),
    "negative PSNR": ({"bpp": [0.1, 0.2], "psnr-rgb": [-1.0, 31.0]}, "psnr-rgb"),
    "bpp of 1e308": ({"bpp": [0.1, 1e308], "psnr-rgb": [30.0, 31.0]}, "bpp"),
    "bpp of 0": ({"bpp": [0.0, 0.2], "psnr-rgb": [30.0, 31.0]}, "bpp"),
    "negative bpp": ({"bpp": [-0.1, 0.2], "psnr-rgb": [30.0, 31.0]}, "bpp"),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_reference_values_outside_their_valid_range_are_refused(tmp_path, case):
    results, key = OUT_OF_RANGE[case]
    path = tmp_path / "ranged.json"
    path.write_text(json.dumps({"name": "Ranged", "results": results}))
    with pytest.raises(CurveError, match=rf"ranged\.json: '{key}'\[\d\] is .*(range|not a rate)") as caught:
        curves_from_compressai(path)
    assert "\n" not in str(caught.value)


def test_values_at_the_ends_of_their_range_and_nulls_are_accepted(tmp_path):
    path = tmp_path / "edges.json"
    results = {"bpp": [0.05, 24.0, None], "psnr-rgb": [0.0, 99.0, None], "ms-ssim-rgb": [0.0, 1.0, None]}
    path.write_text(json.dumps({"name": "Edges", "results": results}))
    np.testing.assert_allclose(curves_from_compressai(path).column("ms_ssim_rgb"), [0.0, 1.0, math.nan])


@pytest.mark.parametrize("text, reason", [
    ('{"name": "x", "results": {"bpp": [0.1, 1%s]}}' % ("0" * 400), "'bpp'[1] is 1000"),  # beyond a float
    ('{"name": "x", "results": {"bpp": [0.1, 1%s]}}' % ("0" * 5000), "digits"),  # beyond Python's int parser
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])  # fmt: skip
def test_huge_integers_and_deep_nesting_are_one_line_errors(tmp_path, text, reason):
    path = tmp_path / "hostile.json"
    path.write_text(text)
    with pytest.raises(CurveError) as caught:
        curves_from_compressai(path)
    assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_bench_report_refuses_an_out_of_range_reference_in_one_line(tmp_path):
    path = tmp_path / "ranged.json"
    path.write_text(json.dumps({"name": "R", "results": {"bpp": [0.1, 0.2], "ms-ssim-rgb": [-0.5, 0.9]}}))
    result = bench_cli("report", "--reference", str(path), "--out", str(tmp_path / "rep"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"bench report: {path}: 'ms-ssim-rgb'[0] is -0.5, outside the valid range [0, 1]"


def test_runs_in_folders_of_one_name_with_other_images_under_one_name_are_never_paired():
    from bench.analysis.curves import _Contents

    contents = _Contents()  # three copies of results/kodak from three machines, each with its own kodim01
    names = [contents.place("kodak", {"kodim01.png": sha})[0]["kodim01.png"] for sha in ("a", "b", "c", "b")]
    assert names == ["kodim01.png", "kodak/kodim01.png", "kodak/kodim01.png (2)", "kodak/kodim01.png"]
