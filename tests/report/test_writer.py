"""The reporter: BD tables, figures, report page, CompressAI import/export, several runs at once."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.analysis.bd_table import BD_COLUMNS
from bench.analysis.curves import curves_from_compressai, curves_from_run, to_compressai
from bench.report.figures import assign_styles
from bench.report.writer import ReportConfig, ReportError, make_report
from bench.run.runner import RunConfig, run
from conftest import bench_cli


@pytest.fixture
def small_run(tmp_path, small_dataset):
    out = tmp_path / "small-run"
    run(RunConfig(dataset=str(small_dataset), codecs=("jpeg", "webp"), qualities=(10, 30, 60, 90), out=out, jobs=2),
        progress=False, echo=lambda s: None)  # fmt: skip
    return out


def test_report_writes_tables_figures_and_page(tmp_path, small_run, compressai_reference):
    result = make_report(
        ReportConfig(runs=(small_run,), references=(compressai_reference / "jpeg.json",), out=tmp_path / "rep")
    )
    out = result.out
    for stem in ("rd_psnr_rgb", "rd_ms_ssim_db", "rd_psnr_y", "speed"):
        for ext in ("png", "pdf", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000, f"{stem}.{ext}"
    assert (out / "rd_psnr_rgb.pdf").read_bytes().startswith(b"%PDF")
    assert Image.open(out / "rd_psnr_rgb.png").size[0] == 1050  # single column: 3.5 in at 300 dpi
    table = pd.read_csv(out / "bd_rate.csv")
    assert tuple(table.columns) == BD_COLUMNS
    webp = table[(table.codec == "webp") & (table.metric == "psnr_rgb") & (table.aggregation == "mean-curve")].iloc[0]
    assert webp.anchor == "jpeg" and webp.method == "pchip" and webp.bd_rate < -10 and webp.bd_metric > 0.5
    per_image = table[(table.codec == "webp") & (table.aggregation == "per-image") & (table.metric == "psnr_rgb")].iloc[
        0
    ]
    assert per_image.bd_rate < -10
    published = table[(table.codec == "JPEG") & (table.aggregation == "per-image")]
    assert published.bd_rate.isna().all() and published.note.str.contains("means only").all()
    assert webp.ci_low < webp.bd_rate < webp.ci_high and webp.resamples == 1000 and webp.seed == 0
    assert webp.wins == f"{int(webp.images)}/{int(webp.images)}" and 0 < webp.p_value <= 1
    assert table[table.codec == "JPEG"].ci_low.isna().all()  # a published curve: no interval
    md = (out / "bd_rate.md").read_text()
    assert "CompressAI convention" in md and "JVET convention" in md and "| webp |" in md
    tex = (out / "bd_rate.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "BD-rate PSNR-RGB (\\%)" in tex
    page = (out / "report.md").read_text()
    assert "![PSNR-RGB [dB] against rate](rd_psnr_rgb.png)" in page and "bench run --dataset" not in page
    assert "| jpeg | traditional |" in page and "| JPEG | published | jpeg.json |" in page
    assert "95% bootstrap percentile intervals over images (1000 resamples, seed 0" in page
    assert "### Paired test across images" in page and "Wilcoxon" in page
    exported = json.loads((out / "compressai" / "webp.json").read_text())
    # CompressAI's keys, and the metrics CompressAI does not compute under codec-bench's names
    assert set(exported["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "psnr_y", "encoding_time", "decoding_time"}


def test_our_jpeg_and_compressai_jpeg_share_a_colour_but_not_a_line_style(small_run, compressai_reference):
    curves = curves_from_run(small_run) + [curves_from_compressai(compressai_reference / "jpeg.json")]
    styles = assign_styles(curves)
    assert styles["jpeg"].color == styles["JPEG"].color
    assert styles["jpeg"].linestyle == "-" and styles["JPEG"].linestyle == ":" and styles["JPEG"].hollow
    assert styles["webp"].color != styles["jpeg"].color
    assert assign_styles(list(reversed(curves))) == styles  # the same whatever the order


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


def test_a_published_curve_can_be_the_anchor(tmp_path, small_run, compressai_reference):
    refs = (compressai_reference / "jpeg.json", compressai_reference / "webp.json")
    result = make_report(ReportConfig(runs=(small_run,), references=refs, out=tmp_path / "r", anchor="JPEG"))
    assert result.anchor == "JPEG" and set(result.table.anchor) == {"JPEG"}
    with pytest.raises(ReportError, match="no curve named 'nope'; curves: jpeg, webp, JPEG, WebP"):
        make_report(ReportConfig(runs=(small_run,), references=refs, out=tmp_path / "r", anchor="nope"))
    with pytest.raises(ReportError, match="anchor 'Jpeg' is ambiguous: jpeg, JPEG"):
        make_report(ReportConfig(runs=(small_run,), references=refs, out=tmp_path / "r", anchor="Jpeg"))


def test_several_runs_combine_and_keep_their_curves_apart(tmp_path, small_run):
    other = tmp_path / "other-machine"
    shutil.copytree(small_run, other)
    result = make_report(ReportConfig(runs=(small_run, other), out=tmp_path / "both"))
    labels = set(result.table.codec) | {result.anchor}
    assert labels == {"jpeg (small-run)", "webp (small-run)", "jpeg (other-machine)", "webp (other-machine)"}
    same = result.table[(result.table.codec == "jpeg (other-machine)") & (result.table.metric == "psnr_rgb")]
    assert np.allclose(same.bd_rate, 0.0, atol=1e-9)  # identical data, so BD-rate 0


def test_bad_inputs_are_clear_errors(tmp_path):
    (tmp_path / "bad.json").write_text('{"name": "x"}')
    with pytest.raises(ReportError, match="bad.json: not a CompressAI results file"):
        make_report(ReportConfig(references=(tmp_path / "bad.json",), out=tmp_path / "r"))
    with pytest.raises(ReportError, match="is not a run folder"):
        make_report(ReportConfig(runs=(tmp_path,), out=tmp_path / "r"))
    with pytest.raises(ReportError, match="nothing to report"):
        make_report(ReportConfig(out=tmp_path / "r"))


def test_cli_report_and_export(tmp_path, small_run, compressai_reference):
    result = bench_cli("report", str(small_run), "--reference", str(compressai_reference / "jpeg.json"),
                       str(compressai_reference / "webp.json"), "--out", str(tmp_path / "rep"), "--width", "double",
                       "--per-image", "--method", "akima", "--bootstrap", "50", "--seed", "3",
                       "--quality-range", "psnr_rgb=30,32", "--rate-range", "0.3,0.6")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "rep" / "rd_psnr_rgb.png").size[0] == 2148  # 7.16 in at 300 dpi
    assert (tmp_path / "rep" / "per_image_psnr_rgb.svg").is_file()
    table = pd.read_csv(tmp_path / "rep" / "bd_rate.csv")
    assert set(table.method) == {"akima"} and set(table.resamples) == {50} and set(table.seed) == {3}
    mean = table[table.aggregation == "mean-curve"]
    psnr = mean[mean.metric == "psnr_rgb"]
    assert (psnr.quality_low == 30).all() and (psnr.quality_high == 32).all() and (psnr.rate_high == 0.6).all()
    assert "fixed quality ranges, not the overlap: PSNR-RGB 30–32 dB" in (tmp_path / "rep" / "report.md").read_text()
    exported = bench_cli("export", str(small_run), "--codec", "jpeg", "--out", str(tmp_path / "exp"))
    assert exported.returncode == 0 and json.loads((tmp_path / "exp" / "jpeg.json").read_text())["name"] == "jpeg"


def test_bench_run_ends_with_a_report(tmp_path, small_dataset):
    out = tmp_path / "r"
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg,webp", "--quality", "20,50,80",
                       "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"report: {out}/report/report.md (BD-rates against jpeg)" in result.stdout
    assert (out / "report" / "rd_psnr_rgb.png").is_file() and (out / "report" / "bd_rate.tex").is_file()


def test_an_export_cut_while_writing_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    """``bench export`` writes each ``<codec>.json`` atomically: `bench report --reference` reads it back."""
    import argparse
    from pathlib import Path

    from bench.cli.export import handle
    from conftest import REPO

    run_folder = tmp_path / "run"
    shutil.copytree(REPO / "tests" / "data" / "flat_layout" / "run", run_folder)
    out = tmp_path / "exp"
    out.mkdir()
    (out / "jpeg.json").write_text("{}\n")
    write_text = Path.write_text

    def cut_write(self, data, *args, **kwargs):  # half of the bytes, then the disk is full
        if self.name.startswith("jpeg.json"):
            write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device")
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", cut_write)
    assert handle(argparse.Namespace(run=run_folder, codec=["jpeg"], out=out)) == 2
    monkeypatch.undo()
    assert (out / "jpeg.json").read_text() == "{}\n" and sorted(p.name for p in out.iterdir()) == ["jpeg.json"]
    assert handle(argparse.Namespace(run=run_folder, codec=["jpeg"], out=out)) == 0
    assert json.loads((out / "jpeg.json").read_text())["name"] == "jpeg"
