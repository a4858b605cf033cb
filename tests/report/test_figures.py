"""Figures (bench/report/figures.py): stable colours and line styles, legends clear of the data, the speed
figure, embedded fonts (issue 8)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from bench.analysis.curves import curves_from_compressai, curves_from_run
from bench.report.figures import assign_styles, rd_figure, speed_figure
from bench.report.writer import ReportConfig, load_curves, make_report
from rd_data import points_curve


def test_our_jpeg_and_compressai_jpeg_share_a_colour_but_not_a_line_style(small_run, compressai_reference):
    curves = curves_from_run(small_run) + [curves_from_compressai(compressai_reference / "jpeg.json")]
    styles = assign_styles(curves)
    assert styles["jpeg"].color == styles["JPEG"].color
    assert styles["jpeg"].linestyle == "-" and styles["JPEG"].linestyle == ":" and styles["JPEG"].hollow
    assert styles["webp"].color != styles["jpeg"].color
    assert assign_styles(list(reversed(curves))) == styles  # the same whatever the order


# --- fonts (issue 8) -----------------------------------------------------------------------------------


def test_pdfs_embed_truetype_fonts_and_svgs_keep_text(tmp_path, trust_run):
    out = make_report(ReportConfig(runs=(trust_run,), out=tmp_path / "rep")).out
    for stem in ("rd_psnr_rgb", "speed"):
        pdf = (out / f"{stem}.pdf").read_bytes()
        assert b"/Type3" not in pdf, stem
        assert b"/TrueType" in pdf or b"/CIDFontType2" in pdf, stem
        assert (out / f"{stem}.svg").read_text().count("<text") >= 5, stem


# --- legends never cover data ---------------------------------------------------------------------------


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
        points_curve("good", [0.2, 0.5, 1.0, 1.9], [28.0, 32.0, 36.0, 40.0], kind="traditional"),
        points_curve("poor", [0.2, 0.6, 1.2, 1.95], [24.0, 24.6, 25.3, 26.0], kind="traditional"),
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
        curve = points_curve(name, [0.2, 0.8, 1.6, 3.0], [28.0, 32.0, 36.0, 40.0], kind="traditional", device=device)
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


# --- stable colours -------------------------------------------------------------------------------------


def test_a_codec_keeps_its_style_whatever_else_is_in_the_report():
    def curve(name, kind="traditional"):
        return points_curve(name, [0.1, 0.2], [30.0, 31.0], kind=kind)

    one = assign_styles([curve("jpeg"), curve("webp")])
    other = assign_styles([curve("avif"), curve("jpeg"), curve("factorized-small", "neural"), curve("mycodec")])
    alone = assign_styles([curve("jpeg")])
    assert one["jpeg"] == other["jpeg"] == alone["jpeg"]
    assert assign_styles([curve("mycodec")])["mycodec"] == other["mycodec"]
    published = assign_styles([curve("JPEG", "published"), curve("avif")])["JPEG"]
    assert published.color == one["jpeg"].color and published.hollow


def test_a_curve_of_a_million_points_is_drawn_through_at_most_max_drawn_points_of_them():
    from bench.report.figures import MAX_DRAWN_POINTS, drawn_points
    from bench.report.html import _points

    bpp = np.linspace(0.05, 3.0, 1_000_000)
    psnr = 30 + 8 * np.log(bpp)
    drawn = drawn_points(bpp, psnr)
    assert len(drawn) <= MAX_DRAWN_POINTS + 1 and drawn[0] == 0 and drawn[-1] == bpp.size - 1
    assert np.all(np.diff(drawn) > 0)
    # evenly along the curve: no gap on the figure wider than two steps of its length
    steps = np.hypot(np.diff(bpp[drawn]) / np.ptp(bpp), np.diff(psnr[drawn]) / np.ptp(psnr))
    assert steps.max() < 2.5 / MAX_DRAWN_POINTS
    assert list(drawn_points(bpp[:50], psnr[:50])) == list(range(50))  # small curves: every point
    dense = points_curve("dense", bpp, psnr)
    fig = rd_figure([dense], "psnr_rgb", assign_styles([dense]), max_bpp=None)
    (line,) = fig.axes[0].get_lines()
    assert len(line.get_xdata()) == len(drawn)
    assert len(_points(dense, [])) == len(drawn)  # the page's plot too
