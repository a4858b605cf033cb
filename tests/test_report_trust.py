"""Numbers you can trust and figures you can publish (issue 8): means over the same images, one rule for
undefined values, robust reading of published files, embedded fonts, legends clear of the data, stable
colours, the quality interval of every BD value, anchors named by file."""

from __future__ import annotations

import json
import math
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from bench.analysis.bd_table import bd_table
from bench.analysis.bdrate import bd_compare
from bench.analysis.curves import Curve, CurveError, curves_from_compressai, curves_from_run, to_compressai
from bench.report.figures import assign_styles, rd_figure, speed_figure
from bench.report.tables import bd_latex as to_latex
from bench.report.tables import bd_markdown as to_markdown
from bench.report.writer import ReportConfig, ReportError, load_curves, make_report, pick_anchor
from bench.run.runner import RunConfig, run
from conftest import bench_cli

QUALITIES = (10, 30, 60, 90)

# a byte-identical copy of jpeg that fails on the one image 240 pixels wide
JPEGCOPY_PLUGIN = '''
"""jpegcopy: jpeg, except that it refuses images 240 pixels wide."""
from bench.api.codec import register_codec
from bench_codecs.jpeg import JpegCodec


@register_codec
class JpegCopy(JpegCodec):
    name = "jpegcopy"

    def encode(self, image, quality):
        if image.shape[1] == 240:
            raise ValueError("jpegcopy cannot code 240-column images")
        return super().encode(image, quality)
'''


def _quiet_run(**kwargs) -> Path:
    run(RunConfig(**kwargs), progress=False, echo=lambda s: None)
    return kwargs["out"]


@pytest.fixture(scope="module")
def trust_run(tmp_path_factory, kodak_dir) -> Path:
    """jpeg, jpegcopy and webp on five images: three 192 x 256 crops, crop23 at 192 x 240 (jpegcopy fails on
    it) and tiny.png, 128 x 192 (MS-SSIM is undefined for it)."""
    base = tmp_path_factory.mktemp("trust")
    data = base / "data"
    data.mkdir()
    for i, width in ((1, 256), (4, 256), (13, 256), (23, 240)):
        im = np.asarray(Image.open(kodak_dir / f"kodim{i:02d}.png").convert("RGB"))
        Image.fromarray(np.ascontiguousarray(im[:192, :width])).save(data / f"crop{i:02d}.png")
    im = np.asarray(Image.open(kodak_dir / "kodim07.png").convert("RGB"))
    Image.fromarray(np.ascontiguousarray(im[200:328, 300:492])).save(data / "tiny.png")
    plugin = base / "jpegcopy.py"
    plugin.write_text(textwrap.dedent(JPEGCOPY_PLUGIN))
    return _quiet_run(dataset=str(data), codecs=("jpeg", "jpegcopy", "webp"), qualities=QUALITIES,
                      out=base / "trust-run", jobs=2, plugins=(str(plugin),))  # fmt: skip


def _row(table: pd.DataFrame, codec: str, metric: str = "psnr_rgb", aggregation: str = "mean-curve") -> pd.Series:
    part = table[(table.codec == codec) & (table.metric == metric) & (table.aggregation == aggregation)]
    assert len(part) == 1, part
    return part.iloc[0]


def _curve(label, bpp, quality, *, kind="published", codec=None, metric="psnr_rgb", device="") -> Curve:
    points = pd.DataFrame({"quality": np.arange(len(bpp), dtype=float), "bpp": bpp, metric: quality})
    return Curve(label=label, codec=codec or label, kind=kind, source=f"{label}.json", points=points,
                 device=device, metrics=(metric,))  # fmt: skip


# --- 1. mean curves over the same images --------------------------------------------------------------------


def test_a_copy_of_the_anchor_that_failed_on_one_image_has_a_bd_rate_of_zero(trust_run, tmp_path):
    result = make_report(ReportConfig(runs=(trust_run,), out=tmp_path / "rep"))
    table = pd.read_csv(tmp_path / "rep" / "bd_rate.csv")
    for aggregation in ("mean-curve", "per-image"):
        for metric in ("psnr_rgb", "ms_ssim_db", "psnr_y"):
            row = _row(table, "jpegcopy", metric, aggregation)
            assert abs(row.bd_rate) < 1e-9 and abs(row.bd_metric) < 1e-9, row
            assert row.images == 3
            assert "3 of the 5 images" in row.note and "crop23.png" in row.note and "tiny.png" in row.note
        webp = _row(table, "webp", "psnr_rgb", aggregation)
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
    _quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=QUALITIES, out=out, jobs=2, max_images=2)
    _quiet_run(dataset=str(small_dataset), codecs=("webp",), qualities=QUALITIES, out=out, jobs=2)
    table = make_report(ReportConfig(runs=(out,), out=tmp_path / "rep")).table
    row = _row(table, "webp")
    assert row.images == 2 and "2 of the 4 images" in row.note
    records = pd.read_csv(out / "records.csv")
    both = records[records.image.isin(["crop01.png", "crop04.png"])]
    means = {c: both[both.codec == c].groupby("quality")[["bpp", "psnr_rgb"]].mean() for c in ("jpeg", "webp")}
    expected = bd_compare(means["jpeg"].bpp, means["jpeg"].psnr_rgb, means["webp"].bpp, means["webp"].psnr_rgb)
    assert row.bd_rate == pytest.approx(expected.bd_rate, abs=1e-9)


def test_published_comparisons_state_the_number_of_images(trust_run, tmp_path, compressai_reference):
    refs = (compressai_reference / "jpeg.json", compressai_reference / "paper-elic2022_mse.json")
    table = make_report(ReportConfig(runs=(trust_run,), references=refs, out=tmp_path / "rep")).table
    jpeg = _row(table, "JPEG")
    assert jpeg.images == 4
    assert "run curve over 4 images compared with a published curve (number of images not stated" in jpeg.note
    elic = _row(table, "elic2022")
    assert "run curve over 4 images compared with a published curve (Kodak: 24 images)" in elic.note


# --- 2. one rule for undefined values ---------------------------------------------------------------------


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


# --- 3. robust --reference reading ------------------------------------------------------------------------


def test_our_own_export_with_nulls_reads_back(tmp_path, compressai_reference):
    curve = _curve("mine", [0.2, 0.5, 1.0], [28.0, 31.0, 34.0], kind="traditional")
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
    assert np.isfinite(_row(report.table, "mine").bd_rate)


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


def test_cli_report_with_a_broken_reference_says_so_in_one_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"name": "Broken", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30, "x"]}}))
    result = bench_cli("report", "--reference", str(path), "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "broken.json" in result.stderr


# --- 4. fonts ---------------------------------------------------------------------------------------------


def test_pdfs_embed_truetype_fonts_and_svgs_keep_text(tmp_path, trust_run):
    out = make_report(ReportConfig(runs=(trust_run,), out=tmp_path / "rep")).out
    for stem in ("rd_psnr_rgb", "speed"):
        pdf = (out / f"{stem}.pdf").read_bytes()
        assert b"/Type3" not in pdf, stem
        assert b"/TrueType" in pdf or b"/CIDFontType2" in pdf, stem
        assert (out / f"{stem}.svg").read_text().count("<text") >= 5, stem


# --- 5. legends never cover data --------------------------------------------------------------------------


def _drawn(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _legend_hits_data(fig) -> list[str]:
    """Labels of the lines that pass under a legend (segments sampled densely, markers counted)."""
    renderer = _drawn(fig)
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    assert legends, "no legend"
    hits = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            clip = ax.get_window_extent(renderer)
            for line in ax.get_lines():
                xy = line.get_transform().transform(line.get_xydata())
                pad = line.get_markersize() * fig.dpi / 72 / 2
                t = np.linspace(0, 1, 60)[:, None]
                dense = np.concatenate([a + t * (b - a) for a, b in zip(xy[:-1], xy[1:], strict=True)] or [xy])
                inside_axes = (
                    (dense[:, 0] >= clip.x0)
                    & (dense[:, 0] <= clip.x1)
                    & (dense[:, 1] >= clip.y0)
                    & (dense[:, 1] <= clip.y1)
                )
                dense = dense[inside_axes]
                under = (
                    (dense[:, 0] >= box.x0 - pad) & (dense[:, 0] <= box.x1 + pad)
                    & (dense[:, 1] >= box.y0 - pad) & (dense[:, 1] <= box.y1 + pad)
                )  # fmt: skip
                if under.any():
                    hits.append(line.get_label())
    return hits


def _legends_fit(fig) -> bool:
    renderer = _drawn(fig)
    page = fig.bbox
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]:
        box = legend.get_window_extent(renderer)
        if box.x0 < page.x0 - 1 or box.y0 < page.y0 - 1 or box.x1 > page.x1 + 1 or box.y1 > page.y1 + 1:
            return False
    return True


def test_the_legend_avoids_a_curve_in_the_lower_right_corner():
    curves = [
        _curve("good", [0.2, 0.5, 1.0, 1.9], [28.0, 32.0, 36.0, 40.0], kind="traditional"),
        _curve("poor", [0.2, 0.6, 1.2, 1.95], [24.0, 24.6, 25.3, 26.0], kind="traditional"),
    ]
    fig = rd_figure(curves, "psnr_rgb", assign_styles(curves))
    assert _legend_hits_data(fig) == [] and _legends_fit(fig)


def test_many_published_curves_get_a_legend_that_fits(compressai_reference):
    curves = load_curves((), sorted(compressai_reference.glob("*.json")))
    assert len(curves) >= 40
    styles = assign_styles(curves)
    for width in ("single", "double"):
        fig = rd_figure(curves, "psnr_rgb", styles, width=width)
        assert _legends_fit(fig), width
        assert _legend_hits_data(fig) == [], width


def test_speed_figure_names_the_device_once_and_uses_the_rate_range():
    device = "CPU: Test Processor 9000 (1 thread)"
    curves = []
    for name, offset in (("jpeg", 0.0), ("webp", 0.5), ("avif", 1.0)):
        curve = _curve(name, [0.2, 0.8, 1.6, 3.0], [28.0, 32.0, 36.0, 40.0], kind="traditional", device=device)
        points = curve.points.assign(encode_s=[0.01 + offset, 0.02, 0.03, 0.04], decode_s=[0.01, 0.01, 0.02, 0.02])
        curves.append(replace(curve, points=points))
    fig = speed_figure(curves, assign_styles(curves), max_bpp=1.5)
    renderer = _drawn(fig)
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible())]
    assert sum(device in t for t in texts) == 1, texts
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert sorted(labels) == ["avif", "jpeg", "webp"]
    for ax in fig.axes:
        assert ax.get_xlim() == (0.0, 1.5)
    assert renderer is not None


# --- 6. stable colours ------------------------------------------------------------------------------------


def test_a_codec_keeps_its_style_whatever_else_is_in_the_report():
    def curve(name, kind="traditional"):
        return _curve(name, [0.1, 0.2], [30.0, 31.0], kind=kind)

    one = assign_styles([curve("jpeg"), curve("webp")])
    other = assign_styles([curve("avif"), curve("jpeg"), curve("factorized-small", "neural"), curve("mycodec")])
    alone = assign_styles([curve("jpeg")])
    assert one["jpeg"] == other["jpeg"] == alone["jpeg"]
    assert assign_styles([curve("mycodec")])["mycodec"] == other["mycodec"]
    published = assign_styles([curve("JPEG", "published"), curve("avif")])["JPEG"]
    assert published.color == one["jpeg"].color and published.hollow


# --- 7. quality intervals, one-curve reports ---------------------------------------------------------------


def test_bd_rows_show_the_interval_integrated_over_and_warn_when_it_is_narrow():
    anchor = _curve("A", [0.1, 0.3, 0.8, 2.0], [25.0, 30.0, 37.0, 45.0])
    test = _curve("T", [0.25, 0.4, 0.6], [30.0, 31.5, 33.0])
    table = bd_table([anchor, test], anchor)
    row = _row(table, "T")
    assert row.quality_low == pytest.approx(30.0) and row.quality_high == pytest.approx(33.0)
    assert "anchor" in row.note and "15%" in row.note
    md = to_markdown(table, "mean-curve")
    assert "30.0–33.0" in md
    tex = to_latex(table, "mean-curve")
    assert "30.0--33.0" in tex
    _check_tabulars(tex)


def _check_tabulars(tex: str) -> None:
    """Every tabular's rows have as many cells as its column spec (\\multicolumn counted)."""
    blocks = re.findall(r"\\begin\{tabular\}\{([^}]*)\}(.*?)\\end\{tabular\}", tex, re.S)
    assert blocks, tex
    for spec, body in blocks:
        columns = len(re.findall(r"[lrcp]", re.sub(r"@\{[^}]*\}", "", spec)))
        assert columns >= 1, spec
        for line in body.split("\\\\")[:-1]:
            line = re.sub(r"\\(toprule|midrule|bottomrule|cmidrule(\([lr]+\))?\{[^}]*\})", "", line).strip()
            line = "\n".join(part for part in line.splitlines() if not part.lstrip().startswith("%")).strip()
            if not line:
                continue
            cells = re.split(r"(?<!\\)&", line)
            spans = sum(int(m) for m in re.findall(r"\\multicolumn\{(\d+)\}", line))
            count = len(cells) - len(re.findall(r"\\multicolumn", line)) + spans
            assert count == columns, (spec, line)


def test_a_report_with_one_codec_is_sensible(tmp_path, small_dataset):
    out = _quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=QUALITIES, out=tmp_path / "one", jobs=2)
    result = make_report(ReportConfig(runs=(out,), out=tmp_path / "rep"))
    md = (tmp_path / "rep" / "bd_rate.md").read_text()
    page = (tmp_path / "rep" / "report.md").read_text()
    tex = (tmp_path / "rep" / "bd_rate.tex").read_text()
    for text in (md, page, tex):
        assert "against ?" not in text, text
    assert "nothing to compare" in md
    _check_tabulars(tex)
    assert result.table.empty
    empty = result.table
    assert "against ?" not in to_markdown(empty) and "against ?" not in to_latex(empty)
    _check_tabulars(to_latex(empty))


# --- 8. --anchor by file stem, suggestions ----------------------------------------------------------------


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
