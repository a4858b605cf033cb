"""Rate-distortion and speed figures for papers (PNG, PDF and SVG).

Each curve's colour, marker and line style, and the points a dense curve is drawn through, come from
:mod:`bench.report.styles` (the page uses the same).

**Legends never cover data.** The RD figure's legend goes in the first corner of the axes (lower
right, upper left, lower left, upper right) where its box overlaps no plotted point or line segment;
when there is none, below the axes in as many columns as fit the width, the figure growing to hold it.

**Fonts.** Figures are sized for a single (3.5 in) or double (7.16 in) column with 8 pt fonts and
built with matplotlib's object API (no pyplot state); :func:`save_figure` writes PDFs with TrueType
(Type 42) fonts, never Type 3, and SVGs that keep text as ``<text>`` elements.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from bench.analysis.curves import Curve
from bench.api.metric_registry import metric_columns
from bench.report.styles import FORMATS, KNOWN_STYLES, MAX_DRAWN_POINTS, WIDTHS, Style, assign_styles, drawn_points

__all__ = [
    "MAX_DRAWN_POINTS",
    "drawn_points",
    "Style",
    "KNOWN_STYLES",
    "assign_styles",
    "rd_figure",
    "speed_figure",
    "complexity_figure",
    "per_image_figure",
    "save_figure",
    "device_note",
    "WIDTHS",
]

#: matplotlib rc settings of every figure: 8 pt fonts, thin lines, text kept as text.
_FIGURE_RC = {
    "font.size": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.1,
    "lines.markersize": 3.5,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.4,
    "font.family": "DejaVu Sans",
    "svg.fonttype": "none",  # text stays text in SVG
    "pdf.fonttype": 42,  # TrueType in PDF, as publishers ask
}


def _axis_label(column: str) -> str:
    """The axis label of a curve column (its metric's, or the column name for an unknown one)."""
    info = metric_columns().get(column)
    return info.axis_label if info else column


def _label_axes(ax, xlabel: str, ylabel: str) -> None:
    """Label both axes of ``ax`` and draw its grid."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.35)


def _legend_columns(labels: Sequence[str], width_in: float) -> int:
    """Legend columns that fit the figure width (legend font ~3.7 pt per character, handle ~35 pt)."""
    longest = max((len(label) for label in labels), default=10)
    return max(1, int(width_in * 72 // (longest * 3.7 + 35)))


def _renderer(fig: Figure, layout: bool = True):
    """A renderer of ``fig`` (an Agg canvas; saving in other formats still works), with the layout done
    when ``layout``."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if layout:
        fig.draw_without_rendering()
    return canvas.get_renderer()


def _segment_hits_box(p: np.ndarray, q: np.ndarray, box: Bbox) -> bool:
    """Whether the segment p-q (display coordinates) meets the box (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    d = q - p
    for delta, start, low, high in ((d[0], p[0], box.x0, box.x1), (d[1], p[1], box.y0, box.y1)):
        if delta == 0:
            if start < low or start > high:
                return False
            continue
        a, b = (low - start) / delta, (high - start) / delta
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 > t1:
            return False
    return True


def _covers_data(ax, box: Bbox, pad: float) -> bool:
    """Whether ``box`` (display coordinates) overlaps a point or a line segment drawn in ``ax``."""
    area = ax.get_window_extent()
    padded = Bbox.from_extents(box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad)
    for line in ax.get_lines():
        xy = line.get_xydata()
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            continue
        xy = line.get_transform().transform(xy)
        marker = line.get_markersize() * ax.figure.dpi / 72 / 2 if line.get_marker() not in (None, "", "None") else 0
        around = Bbox.from_extents(padded.x0 - marker, padded.y0 - marker, padded.x1 + marker, padded.y1 + marker)
        for point in xy:  # markers
            if around.contains(*point) and area.contains(*point):
                return True
        for p, q in zip(xy[:-1], xy[1:], strict=True):  # segments, as far as they are inside the axes
            if line.get_linestyle() not in ("None", "", " ") and _segment_hits_box(p, q, padded):
                clipped = Bbox.intersection(padded, area)
                if clipped is not None and _segment_hits_box(p, q, clipped):
                    return True
    return False


_LEGEND_CORNERS = ("lower right", "upper left", "lower left", "upper right")


def _legend_inside(fig: Figure, ax, **kwargs) -> bool:
    """Put the legend in the first corner of ``ax`` where it covers no data; False (and no legend) if none."""
    renderer = _renderer(fig)
    legend = ax.legend(loc=_LEGEND_CORNERS[0], **kwargs)
    area = ax.get_window_extent(renderer)
    pad = 2 * fig.dpi / 72  # 2 pt of air
    for corner in _LEGEND_CORNERS:
        legend.set_loc(corner)
        box = legend.get_window_extent(renderer)
        fits = box.x0 >= area.x0 and box.x1 <= area.x1 and box.y0 >= area.y0 and box.y1 <= area.y1
        if fits and not _covers_data(ax, box, pad):
            return True
    legend.remove()
    return False


def _legend_below(fig: Figure, handles, labels, base_height: float, **kwargs):
    """A legend below the axes, in as many columns as fit the figure's width; the figure grows to hold it."""
    width = fig.get_figwidth()
    ncols = min(len(labels), max(1, _legend_columns(labels, width) + 1))
    while True:
        legend = fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False, **kwargs)
        box = legend.get_window_extent(_renderer(fig, layout=False))  # its size does not depend on the layout
        if box.width <= fig.bbox.width * 0.98 or ncols == 1:
            break
        legend.remove()
        ncols -= 1
    fig.set_figheight(base_height + box.height / fig.dpi + 0.08)
    return legend


def rd_figure(
    curves: Sequence[Curve],
    metric: str,
    styles: dict[str, Style],
    *,
    width: str = "single",
    max_bpp: float | None = 2.0,
) -> Figure | None:
    """Quality (``metric``) against bits per pixel, one line per curve; None if no curve has it. The
    legend covers no data (module docstring)."""
    shown = [c for c in curves if np.isfinite(c.column(metric)).any()]
    if not shown:
        return None
    with matplotlib.rc_context(_FIGURE_RC):
        w = WIDTHS[width]
        height = w * 0.75
        fig = Figure(figsize=(w, height), layout="constrained")
        ax = fig.subplots()
        ymin, ymax = np.inf, -np.inf
        for curve in shown:
            x, y = curve.column("bpp"), curve.column(metric)
            keep = np.isfinite(x) & np.isfinite(y)
            x, y = x[keep], y[keep]
            order = np.argsort(x, kind="stable")
            x, y = x[order], y[order]
            drawn = drawn_points(x, y)
            ax.plot(x[drawn], y[drawn], label=curve.label, **styles[curve.label].kwargs())
            # the y range covers the visible part, plus the first point beyond the right edge
            visible = (
                np.ones_like(x, dtype=bool)
                if not max_bpp
                else (x <= max_bpp) | (np.arange(x.size) == np.searchsorted(x, max_bpp))
            )
            if visible.any():
                ymin, ymax = min(ymin, y[visible].min()), max(ymax, y[visible].max())
        if max_bpp:
            ax.set_xlim(0, max_bpp)
        if np.isfinite(ymin):
            pad = 0.04 * (ymax - ymin or 1)
            ax.set_ylim(ymin - pad, ymax + pad)
        _label_axes(ax, "Rate [bpp]", _axis_label(metric))
        inside = len(shown) <= 12 and _legend_inside(fig, ax, frameon=True, framealpha=0.9, handlelength=2.6)
        if not inside:
            handles, labels = ax.get_legend_handles_labels()
            _legend_below(fig, handles, labels, height, handlelength=2.6)
    return fig


def device_note(curves: Sequence[Curve]) -> str:
    """One line naming the device(s) the curves' times were measured on ("Device: X" or
    "Devices: a, b: X; c: Y")."""
    by_device: dict[str, list[str]] = {}
    for curve in curves:
        by_device.setdefault(curve.device or "not recorded", []).append(curve.label)
    if len(by_device) == 1:
        return f"Device: {next(iter(by_device))}"
    return "Devices: " + "; ".join(f"{', '.join(labels)}: {device}" for device, labels in by_device.items())


def speed_figure(
    curves: Sequence[Curve],
    styles: dict[str, Style],
    *,
    width: str = "double",
    max_bpp: float | None = 2.0,
) -> Figure | None:
    """Encode and decode time per image (log scale) against bpp over the RD figures' rate range, with
    one line naming the device(s) (:func:`device_note`) and the legend below."""
    shown = [c for c in curves if np.isfinite(c.column("encode_s")).any()]
    if not shown:
        return None
    with matplotlib.rc_context(_FIGURE_RC):
        w = WIDTHS[width]
        height = w * 0.4
        fig = Figure(figsize=(w, height), layout="constrained")
        axes = fig.subplots(1, 2, squeeze=False)
        for ax, column, title in zip(axes[0], ("encode_s", "decode_s"), ("Encoding", "Decoding"), strict=True):
            for curve in shown:
                x, y = curve.column("bpp"), curve.column(column)
                keep = np.isfinite(x) & np.isfinite(y) & (y > 0)
                order = np.argsort(x[keep], kind="stable")
                x_drawn, y_drawn = x[keep][order], y[keep][order]
                drawn = drawn_points(x_drawn, np.log(y_drawn))
                ax.plot(x_drawn[drawn], y_drawn[drawn], label=curve.label, **styles[curve.label].kwargs())
            ax.set_yscale("log")
            if max_bpp:
                ax.set_xlim(0, max_bpp)
            ax.set_title(f"{title} time per image", fontsize=8)
            _label_axes(ax, "Rate [bpp]", "Time [s]")
        fig.suptitle(device_note(shown), fontsize=_FIGURE_RC["legend.fontsize"])
        handles, labels = axes[0, 0].get_legend_handles_labels()
        _legend_below(fig, handles, labels, height + 0.15)
    return fig


def complexity_figure(
    table: pd.DataFrame,
    bd_rates: dict[str, float],
    styles: dict[str, Style],
    *,
    metric_label: str,
    anchor: str,
) -> Figure | None:
    """BD-rate against complexity, one point per codec at its middle quality (a complexity table's rows,
    :func:`bench.analysis.complexity.complexity_table`): left, against decoder kMAC/pixel (log axis) for
    the codecs that count MACs, the others as dashed horizontal lines at their BD-rate ("no MAC count");
    right, every codec against its decode time per image (log axis). ``bd_rates``: percent against
    ``anchor`` (:func:`bench.analysis.complexity.bd_rates_of`). None when no codec has both."""
    rows = [r for r in table.to_dict("records") if r["codec"] in bd_rates]
    counted = [r for r in rows if np.isfinite(r["dec_kmac_px"]) and r["dec_kmac_px"] > 0]
    timed = [r for r in rows if np.isfinite(r["decode_s"]) and r["decode_s"] > 0]
    if not counted and not timed:
        return None
    with matplotlib.rc_context(_FIGURE_RC):
        w = WIDTHS["double"]
        height = w * 0.42
        fig = Figure(figsize=(w, height), layout="constrained")
        mac_ax, time_ax = fig.subplots(1, 2, squeeze=True, sharey=True)
        for ax, shown, column in ((mac_ax, counted, "dec_kmac_px"), (time_ax, timed, "decode_s")):
            for row in shown:
                style = styles[row["codec"]].kwargs()
                ax.plot([row[column]], [bd_rates[row["codec"]]], linestyle="none", label=row["codec"],
                        **{k: v for k, v in style.items() if k != "linestyle"})  # fmt: skip
                ax.annotate(row["codec"], (row[column], bd_rates[row["codec"]]), xytext=(4, 3),
                            textcoords="offset points", fontsize=6, color=styles[row["codec"]].color)  # fmt: skip
            _log_axis_over_a_decade(ax, [row[column] for row in shown])
            ax.axhline(0.0, color="0.3", linewidth=0.6)
        uncounted = [r for r in rows if r not in counted]
        for row in uncounted:  # no MAC count: a line at its BD-rate, in its colour (not in the legend)
            mac_ax.axhline(bd_rates[row["codec"]], color=styles[row["codec"]].color, linestyle="--", linewidth=0.7,
                           label="_no MAC count")  # fmt: skip
        _label_axes(mac_ax, "Decoder complexity [kMAC/pixel]", f"BD-rate vs {anchor} [%] ({metric_label})")
        _label_axes(time_ax, "Decode time per image [s]", "")
        mac_ax.set_title("Learned codecs: counted MACs" + ("\n(dashed: codecs without a MAC count)" if uncounted else ""),
                         fontsize=8)  # fmt: skip
        time_ax.set_title("All codecs: decode time", fontsize=8)
        fig.suptitle(_devices_text(timed), fontsize=_FIGURE_RC["legend.fontsize"])
        handles: dict = {}
        for ax in (mac_ax, time_ax):
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        _legend_below(fig, list(handles.values()), list(handles), height + 0.15)
    return fig


def _log_axis_over_a_decade(ax, values: Sequence[float]) -> None:
    """A log x axis spanning ``values`` with room for labels, at least one decade wide, ticks as plain numbers."""
    ax.set_xscale("log")
    if not values:
        return
    low, high = min(values) / 1.5, max(values) * 5.0
    if high / low < 10.0:
        centre = math.sqrt(low * high)
        low, high = centre / math.sqrt(10.0), centre * math.sqrt(10.0)
    ax.set_xlim(low, high)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    few_decades = high / low < 100.0  # then label the minor ticks at 2 and 5 too
    ax.xaxis.set_minor_formatter(
        ticker.FuncFormatter(lambda v, _: f"{v:g}" if few_decades and f"{v:.0e}"[0] in "25" else "")
    )


def _devices_text(rows: Sequence[dict]) -> str:
    """The devices of complexity-table rows, once each: ``Decode times on CPU: ...``."""
    devices = sorted({str(r["device"]) for r in rows if r.get("device")})
    return "Decode times on " + "; ".join(devices) if devices else "Device not recorded"


def per_image_figure(
    curves: Sequence[Curve], metric: str, styles: dict[str, Style], *, max_bpp: float | None = 2.0
) -> Figure | None:
    """Small multiples: one panel per image with every curve that has per-image results."""
    shown = [
        c
        for c in curves
        if c.per_image is not None and metric in c.per_image and np.isfinite(c.per_image[metric].to_numpy(float)).any()
    ]
    if not shown:
        return None
    images = sorted(set().union(*(set(c.per_image["image"]) for c in shown)))
    ncols = min(6, len(images))
    nrows = -(-len(images) // ncols)
    with matplotlib.rc_context({**_FIGURE_RC, "font.size": 6, "xtick.labelsize": 5, "ytick.labelsize": 5}):
        fig = Figure(figsize=(WIDTHS["double"], 1.25 * nrows + 0.6), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
        for ax, image in zip(axes.flat, images, strict=False):
            for curve in shown:
                rows = curve.per_image[curve.per_image["image"] == image].sort_values("bpp")
                ax.plot(
                    rows["bpp"],
                    rows[metric],
                    label=curve.label,
                    **styles[curve.label].kwargs(),
                    markersize=2,
                    linewidth=0.8,
                )
            ax.set_title(image, fontsize=6)
            ax.grid(True, alpha=0.3)
            if max_bpp:
                ax.set_xlim(0, max_bpp)
        for ax in list(axes.flat)[len(images) :]:
            ax.set_visible(False)
        fig.supxlabel("Rate [bpp]", fontsize=7)
        fig.supylabel(_axis_label(metric), fontsize=7)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=min(6, len(labels)), frameon=False)
    return fig


#: The rc settings of saving: TrueType (Type 42) fonts in PDF and PostScript, text kept as text in SVG.
_SAVE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}


def save_figure(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (300 dpi), ``stem.pdf`` and ``stem.svg``; return the paths. The font settings
    are read when a file is written, so they apply here (module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(_SAVE_RC):
        for fmt in FORMATS:
            path = folder / f"{stem}.{fmt}"
            fig.savefig(
                path, dpi=300 if fmt == "png" else None, metadata={"Creator": "codec-bench"} if fmt != "png" else None
            )
            paths.append(path)
            # the layout the first file found is kept for the others: finding it again took most of each save
            fig.set_layout_engine("none")
    return paths
