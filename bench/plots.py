"""Rate-distortion and speed figures for papers (PNG, PDF and SVG).

Every curve keeps one colour and marker across all figures of a report (:func:`assign_styles`);
traditional codecs are drawn with solid lines and filled markers, neural codecs with dashed lines,
published curves with dotted lines and hollow markers. A published curve of a codec we also ran
(CompressAI's "JPEG" and our ``jpeg``) shares that codec's colour, so the two are easy to compare.
Figures are sized for a single (3.5 in) or double (7.16 in) column with 8 pt fonts, and built with
matplotlib's object API (no pyplot state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from bench.curves import Curve
from bench.metric import metric_columns

__all__ = ["Style", "assign_styles", "rd_figure", "speed_figure", "per_image_figure", "save_figure", "WIDTHS"]

WIDTHS = {"single": 3.5, "double": 7.16}  # inches: IEEE/ACM column widths
FORMATS = ("png", "pdf", "svg")
_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_LINESTYLES = {"traditional": "-", "neural": "--", "published": ":"}
_KIND_ORDER = {"traditional": 0, "neural": 1, "published": 2}
_RC = {
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


@dataclass(frozen=True)
class Style:
    color: str
    marker: str
    linestyle: str
    hollow: bool

    def kwargs(self) -> dict:
        return {
            "color": self.color,
            "marker": self.marker,
            "linestyle": self.linestyle,
            "markerfacecolor": "white" if self.hollow else self.color,
            "markeredgecolor": self.color,
        }


def _alnum(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _family(curve: Curve, measured: set[str]) -> str:
    """Published curves of a codec we measured join its family ("JPEG", "BPG 8b 444 ..." -> jpeg, bpg)."""
    if curve.kind != "published":
        return _alnum(curve.codec)
    for candidate in (_alnum(curve.codec), _alnum(curve.codec.split()[0])):
        if candidate in measured:
            return candidate
    return _alnum(curve.label)


def assign_styles(curves: Sequence[Curve]) -> dict[str, Style]:
    """A fixed style per curve label, shared by all figures of one report.

    The first ten families get distinct colours and markers (readable in black and white too);
    after that the marker shifts by one per round of colours, so up to 100 pairs stay distinct.
    """
    ordered = sorted(curves, key=lambda c: (_KIND_ORDER.get(c.kind, 3), c.label))
    measured = {_alnum(c.codec) for c in curves if c.kind != "published"}
    family_slot: dict[str, int] = {}
    styles: dict[str, Style] = {}
    for curve in ordered:
        slot = family_slot.setdefault(_family(curve, measured), len(family_slot))
        styles[curve.label] = Style(
            color=_PALETTE[slot % len(_PALETTE)],
            marker=_MARKERS[(slot + slot // len(_PALETTE)) % len(_MARKERS)],
            linestyle=_LINESTYLES.get(curve.kind, "-."),
            hollow=curve.kind == "published",
        )
    return styles


def _axis_label(column: str) -> str:
    """The axis label of a curve column (its metric's, or the column name for an unknown one)."""
    info = metric_columns().get(column)
    return info.axis_label if info else column


def _finish(ax, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.35)


def _legend_columns(labels: Sequence[str], width_in: float) -> int:
    """Legend columns that fit the figure width (legend font ~3.7 pt per character, handle ~35 pt)."""
    longest = max((len(label) for label in labels), default=10)
    return max(1, int(width_in * 72 // (longest * 3.7 + 35)))


def rd_figure(
    curves: Sequence[Curve],
    metric: str,
    styles: dict[str, Style],
    *,
    width: str = "single",
    max_bpp: float | None = 2.0,
) -> Figure | None:
    """Quality (``metric``) against bits per pixel, one line per curve; None if no curve has it."""
    shown = [c for c in curves if np.isfinite(c.column(metric)).any()]
    if not shown:
        return None
    many = len(shown) > 8  # then the legend goes below the axes, in as many columns as fit
    ncols = _legend_columns([c.label for c in shown], WIDTHS[width])
    legend_rows = -(-len(shown) // ncols) if many else 0
    with matplotlib.rc_context(_RC):
        w = WIDTHS[width]
        fig = Figure(figsize=(w, w * 0.75 + 0.13 * legend_rows), layout="constrained")
        ax = fig.subplots()
        ymin, ymax = np.inf, -np.inf
        for curve in shown:
            x, y = curve.column("bpp"), curve.column(metric)
            keep = np.isfinite(x) & np.isfinite(y)
            x, y = x[keep], y[keep]
            ax.plot(x, y, label=curve.label, **styles[curve.label].kwargs())
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
        _finish(ax, "Rate [bpp]", _axis_label(metric))
        if many:
            fig.legend(loc="outside lower center", ncols=ncols, frameon=False, handlelength=2.6)
        else:
            ax.legend(loc="lower right", frameon=True, framealpha=0.9, handlelength=2.6)
    return fig


def speed_figure(curves: Sequence[Curve], styles: dict[str, Style], *, width: str = "double") -> Figure | None:
    """Encode and decode time per image (log scale) against bpp, with the device of each curve."""
    shown = [c for c in curves if np.isfinite(c.column("encode_s")).any()]
    if not shown:
        return None
    labels = [f"{c.label} ({c.device or 'device not recorded'})" for c in shown]
    ncols = _legend_columns(labels, WIDTHS[width])
    legend_rows = -(-len(shown) // ncols)
    with matplotlib.rc_context(_RC):
        w = WIDTHS[width]
        fig = Figure(figsize=(w, w * 0.4 + 0.13 * legend_rows), layout="constrained")
        axes = fig.subplots(1, 2, squeeze=False)
        for ax, column, title in zip(axes[0], ("encode_s", "decode_s"), ("Encoding", "Decoding"), strict=True):
            for curve in shown:
                x, y = curve.column("bpp"), curve.column(column)
                keep = np.isfinite(x) & np.isfinite(y) & (y > 0)
                device = curve.device or "device not recorded"
                ax.plot(x[keep], y[keep], label=f"{curve.label} ({device})", **styles[curve.label].kwargs())
            ax.set_yscale("log")
            ax.set_title(f"{title} time per image", fontsize=8)
            _finish(ax, "Rate [bpp]", "Time [s]")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)
    return fig


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
    with matplotlib.rc_context({**_RC, "font.size": 6, "xtick.labelsize": 5, "ytick.labelsize": 5}):
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


def save_figure(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (300 dpi), ``stem.pdf`` and ``stem.svg``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = folder / f"{stem}.{fmt}"
        fig.savefig(
            path, dpi=300 if fmt == "png" else None, metadata={"Creator": "codec-bench"} if fmt != "png" else None
        )
        paths.append(path)
    return paths
