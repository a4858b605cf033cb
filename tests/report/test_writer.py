"""The report (bench/report/writer.py): BD tables, figures, report page, CompressAI export, several runs
at once, means over the same images, published anchors, matched-quality ratios, chosen metrics."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.analysis.bd_table import BD_COLUMNS
from bench.analysis.bdrate import bd_compare
from bench.analysis.matched import MATCHED_COLUMNS
from bench.report.writer import ReportConfig, ReportError, load_curves, make_report, pick_anchor
from conftest import bench_cli, quiet_run, read_csv
from rd_data import MATCHED_SETTINGS, bd_row, matched_run_folder


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


QUALITIES = (10, 30, 60, 90)


# --- means over the same images (issue 8) -------------------------------------------------------------------


def test_a_copy_of_the_anchor_that_failed_on_one_image_has_a_bd_rate_of_zero(trust_run, tmp_path):
    result = make_report(ReportConfig(runs=(trust_run,), out=tmp_path / "rep"))
    table = pd.read_csv(tmp_path / "rep" / "bd_rate.csv")
    for aggregation in ("mean-curve", "per-image"):
        for metric in ("psnr_rgb", "ms_ssim_db", "psnr_y"):
            row = bd_row(table, "jpegcopy", metric, aggregation)
            assert abs(row.bd_rate) < 1e-9 and abs(row.bd_metric) < 1e-9, row
            assert row.images == 3
            assert "3 of the 5 images" in row.note and "crop23.png" in row.note and "tiny.png" in row.note
        webp = bd_row(table, "webp", "psnr_rgb", aggregation)
        assert webp.images == 4 and "4 of the 5 images" in webp.note and "tiny.png" in webp.note
    assert result.anchor == "jpeg"
    md = (tmp_path / "rep" / "bd_rate.md").read_text()
    assert re.search(r"\| jpegcopy \| 3 \|", md) and re.search(r"\| webp \| 4 \|", md)
    tex = (tmp_path / "rep" / "bd_rate.tex").read_text()
    assert "Images" in tex and re.search(r"jpegcopy & 3 &", tex)
    page = (tmp_path / "rep" / "report.md").read_text()
    assert "jpeg 4, jpegcopy 3, webp 4" in page  # the RD figures' captions: images per curve


def test_mixed_max_images_runs_are_compared_over_the_images_both_measured(tmp_path, small_dataset):
    out = tmp_path / "mixed"
    quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=QUALITIES, out=out, jobs=2, max_images=2)
    quiet_run(dataset=str(small_dataset), codecs=("webp",), qualities=QUALITIES, out=out, jobs=2)
    table = make_report(ReportConfig(runs=(out,), out=tmp_path / "rep")).table
    row = bd_row(table, "webp")
    assert row.images == 2 and "2 of the 4 images" in row.note
    records = pd.read_csv(out / "records.csv")
    both = records[records.image.isin(["crop01.png", "crop04.png"])]
    means = {c: both[both.codec == c].groupby("quality")[["bpp", "psnr_rgb"]].mean() for c in ("jpeg", "webp")}
    expected = bd_compare(means["jpeg"].bpp, means["jpeg"].psnr_rgb, means["webp"].bpp, means["webp"].psnr_rgb)
    assert row.bd_rate == pytest.approx(expected.bd_rate, abs=1e-9)


def test_published_comparisons_state_the_number_of_images(trust_run, tmp_path, compressai_reference):
    refs = (compressai_reference / "jpeg.json", compressai_reference / "paper-elic2022_mse.json")
    table = make_report(ReportConfig(runs=(trust_run,), references=refs, out=tmp_path / "rep")).table
    jpeg = bd_row(table, "JPEG")
    assert jpeg.images == 4
    assert "run curve over 4 images compared with a published curve (number of images not stated" in jpeg.note
    elic = bd_row(table, "elic2022")
    assert "run curve over 4 images compared with a published curve (Kodak: 24 images)" in elic.note


def test_cli_report_with_a_broken_reference_says_so_in_one_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"name": "Broken", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30, "x"]}}))
    result = bench_cli("report", "--reference", str(path), "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "broken.json" in result.stderr


# --- --anchor by file stem, suggestions ---------------------------------------------------------------


def test_the_anchor_can_be_a_published_file_stem_and_unknown_names_get_suggestions(compressai_reference):
    refs = [compressai_reference / f for f in ("jpeg.json", "bpg_444_x265_ycbcr.json", "webp.json", "vtm.json")]
    curves = load_curves((), refs)
    for name in ("bpg_444_x265_ycbcr", "BPG_444_X265_YCBCR", "bpg 8b 444 x265 YCBCR", "BPG 8b 444 x265 ycbcr"):
        assert pick_anchor(curves, name).label == "BPG 8b 444 x265 ycbcr", name
    assert pick_anchor(curves, "VTM").label == pick_anchor(curves, "vtm").label == "VTM"
    with pytest.raises(ReportError, match=r"no curve named 'bpg_444_x265'.*did you mean.*bpg_444_x265_ycbcr"):
        pick_anchor(curves, "bpg_444_x265")
    with pytest.raises(ReportError, match=r"no curve named 'wepb'.*did you mean.*WebP"):
        pick_anchor(curves, "wepb")


# --- matched-quality ratios, report options ----------------------------------------------------------------


def test_the_report_writes_matched_quality_csv_and_the_sentence(tmp_path: Path):
    import bench.report.writer as report

    run = matched_run_folder(tmp_path / "run", ("jpeg", 1.0), ("avif", 0.5))
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps({"name": "paper", "results": {"bpp": [0.2, 0.5, 1.0], "psnr-rgb": [28, 31, 34]}}))
    result = report.make_report(
        report.ReportConfig(runs=(run,), references=(paper,), out=tmp_path / "out", bootstrap=0, figures=False)
    )  # figures: test_figures.py
    assert tmp_path / "out" / "matched_quality.csv" in result.files
    table = pd.read_csv(tmp_path / "out" / "matched_quality.csv", keep_default_na=False)
    assert list(table.columns) == list(MATCHED_COLUMNS)
    assert set(table.codec) == {"avif"}  # the published curve is skipped
    assert len(table) == 2 * (1 + len(MATCHED_SETTINGS))  # PSNR-RGB and MS-SSIM-dB: "all" and one row per setting
    page = (tmp_path / "out" / "report.md").read_text()
    assert "## Matched-quality size ratios" in page
    assert (
        "At equal PSNR-RGB, avif files are 0.50x the size of jpeg's (geometric mean of 20 ratios over 5 images; "
        "10th-90th percentile 0.50-0.50); smaller on 5 of 5 images." in page
    )
    assert "| avif | MS-SSIM-dB | 0.50 | 0.50–0.50 | 20 (0) | 5/5 images |" in page
    assert "Published curves have no per-image data and are not compared here: paper." in page


def test_report_options_reach_the_table(tmp_path: Path):
    from bench.report.writer import _quality_ranges, quality_range

    assert quality_range("30,36") == ("", 30.0, 36.0) and quality_range("psnr_rgb=30,36") == ("psnr_rgb", 30.0, 36.0)
    from bench.api.metric_registry import discover_metrics

    registry = discover_metrics()
    columns = [registry.get(name).compared_column() for name in ("psnr_rgb", "ms_ssim_rgb")]
    assert _quality_ranges(columns, [("ms_ssim_rgb", 10.0, 14.0)]) == {"ms_ssim_db": (10.0, 14.0)}
    assert _quality_ranges(columns, [("", 1.0, 2.0)]) == {"psnr_rgb": (1.0, 2.0), "ms_ssim_db": (1.0, 2.0)}


# --- bench report --metric ---------------------------------------------------------------------


def test_report_shows_only_the_metrics_asked_for(saved_runs, tmp_path):
    made = make_report(ReportConfig(runs=(saved_runs["reference"],), out=tmp_path / "report", metrics=("psnr_y",)))
    assert set(made.table["metric"]) == {"psnr_y"}
    assert (tmp_path / "report" / "rd_psnr_y.png").is_file() and not (tmp_path / "report" / "rd_psnr_rgb.png").exists()
    assert "rd_psnr_rgb" not in (tmp_path / "report" / "report.md").read_text()
    both = make_report(
        ReportConfig(runs=(saved_runs["reference"],), out=tmp_path / "both", metrics=("psnr_y", "psnr_rgb"))
    )
    assert list(dict.fromkeys(both.table["metric"])) == ["psnr_y", "psnr_rgb"]  # in the order asked
    with pytest.raises(ReportError, match=r"--metric: no curve has ssim_rgbb; the curves' metrics: psnr_rgb, psnr_y"):
        make_report(ReportConfig(runs=(saved_runs["reference"],), out=tmp_path / "bad", metrics=("ssim_rgbb",)))


def test_bench_report_takes_the_metric_option(saved_runs, tmp_path):
    done = bench_cli("report", str(saved_runs["reference"]), "--metric", "psnr_y", "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert {row["metric"] for row in read_csv(tmp_path / "r" / "bd_rate.csv")} == {"psnr_y"}


def test_the_report_page_escapes_curve_names(tmp_path, compressai_reference):
    from test_tables import _check_markdown_tables

    hostile = json.loads((compressai_reference / "webp.json").read_text())
    hostile["name"] = "<script>x</script> a|b\nc"
    (tmp_path / "hostile.json").write_text(json.dumps(hostile))
    refs = (compressai_reference / "jpeg.json", tmp_path / "hostile.json")
    make_report(ReportConfig(references=refs, out=tmp_path / "rep", anchor="JPEG", bootstrap=0))
    for name in ("report.md", "bd_rate.md"):
        text = (tmp_path / "rep" / name).read_text()
        _check_markdown_tables(text)
        assert "&lt;script&gt;x&lt;/script&gt; a\\|b c" in text


# --- runs that give no curve: say what is wrong (issue 23) ---------------------------------------------------


def test_a_run_where_no_image_has_every_metric_defined_gives_a_warning_not_an_empty_report(tmp_path, tiny_folder):
    quiet_run(dataset=str(tiny_folder), codecs=("jpeg",), qualities=(30, 70), out=tmp_path / "run")
    result = make_report(ReportConfig(runs=(tmp_path / "run",), out=tmp_path / "rep"))
    (warning,) = result.warnings
    assert warning.startswith(f"{tmp_path / 'run'}: jpeg: no image has every metric defined (ms_ssim_rgb undefined")
    assert warning.endswith("--metrics psnr_rgb,psnr_y")
    assert "**Warning:** " in (tmp_path / "rep" / "report.md").read_text()
    assert not (tmp_path / "rep" / "compressai").exists()  # no file of no points


def test_a_rate_matched_run_that_reached_no_target_says_so(tmp_path, tiny_folder):
    quiet_run(dataset=str(tiny_folder), codecs=("jpeg",), target_bpp=(50.0, 60.0), out=tmp_path / "run",
              metrics=("psnr_rgb",))  # fmt: skip
    with pytest.raises(ReportError) as caught:
        make_report(ReportConfig(runs=(tmp_path / "run",), out=tmp_path / "rep"))
    message = str(caught.value)
    assert message.startswith(
        f"{tmp_path / 'run'}: jpeg reached no target on every image: 50 bpp reached on 0 of 2 "
        "images (above on 2), 60 bpp reached on 0 of 2 images (above on 2); its probes gave "
    )
    assert "give at least one run folder" not in message and "target_rates_per_image.csv" in message


# --- images of several runs paired by content (issue 23) ----------------------------------------------------


def test_images_of_several_runs_are_paired_by_content_not_by_name(tmp_path, tiny_folder):
    from conftest import gradient, pillow_bytes

    renamed, other = tmp_path / "renamed", tmp_path / "other"
    renamed.mkdir(), other.mkdir()
    for i in range(2):  # the same files under other names; other files under the same names
        (renamed / f"u{i}.png").write_bytes((tiny_folder / f"t{i}.png").read_bytes())
        (other / f"t{i}.png").write_bytes(pillow_bytes(gradient(48, 64, seed=10 + i), "PNG"))
    for name, data in (("runA", tiny_folder), ("runB", renamed), ("runC", other)):
        quiet_run(dataset=str(data), codecs=("jpeg",), qualities=(30, 70), metrics=("psnr_rgb",), out=tmp_path / name)
    result = make_report(ReportConfig(runs=tuple(tmp_path / n for n in ("runA", "runB", "runC")), out=tmp_path / "r"))
    same = bd_row(result.table, "jpeg (runB)")
    assert same.images == 2 and same.bd_rate == pytest.approx(0.0, abs=1e-9)
    different = bd_row(result.table, "jpeg (runC)")
    assert different.images == 0 and np.isnan(different.bd_rate)  # never jpeg against itself on other pictures
    assert "jpeg (runC) has another image under this name (sha256 differ)" in different.note
    aliases, clashes = result.notes
    assert aliases == "runB has images of an earlier run under other names (same sha256), compared as one image: " \
                      "u0.png = t0.png of runA, u1.png = t1.png of runA"  # fmt: skip
    assert clashes.startswith("runC names other images than an earlier run under the same names (t0.png, t1.png: "
                              "their sha256 differ)")  # fmt: skip
    assert f"**Note:** {clashes}" in (tmp_path / "r" / "report.md").read_text()


def test_one_image_twice_under_two_names_in_a_run_gets_a_note(tmp_path, tiny_folder):
    (tiny_folder / "t0-again.png").write_bytes((tiny_folder / "t0.png").read_bytes())
    quiet_run(
        dataset=str(tiny_folder), codecs=("jpeg",), qualities=(30, 70), metrics=("psnr_rgb",), out=tmp_path / "run"
    )
    result = make_report(ReportConfig(runs=(tmp_path / "run",), out=tmp_path / "r"))
    assert result.notes == ["run: t0-again.png and t0.png are the same file (same sha256): that image counts 2 times "
                            "in every mean"]  # fmt: skip


def test_a_report_without_figures_says_where_they_are_and_leaves_no_older_figure_behind(tmp_path: Path):
    import bench.report.writer as report

    run = matched_run_folder(tmp_path / "run", ("jpeg", 1.0), ("avif", 0.5))
    out = tmp_path / "out"
    drawn = report.make_report(report.ReportConfig(runs=(run,), out=out, bootstrap=0))
    assert (out / "rd_psnr_rgb.png").is_file() and (out / "rd_psnr_rgb.pdf").is_file() and (out / "speed.svg").is_file()
    assert "![PSNR-RGB [dB] against rate](rd_psnr_rgb.png)" in (out / "report.md").read_text()
    lighter = report.make_report(report.ReportConfig(runs=(run,), out=out, bootstrap=0, figures=False))
    assert not [p.name for p in out.iterdir() if p.suffix in (".png", ".pdf", ".svg")]  # the older ones are gone
    assert not any(p.suffix in (".png", ".pdf", ".svg") for p in lighter.files)
    page = (out / "report.md").read_text()
    assert f"`bench report {run}` draws the figures for a paper (PNG, PDF and SVG)" in page
    assert "](rd_psnr_rgb.png)" not in page and (out / "index.html").is_file()
    assert len(drawn.table) == len(lighter.table)  # the same tables either way
