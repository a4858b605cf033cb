"""BD-rate tables of curves against an anchor, and their CSV, Markdown and LaTeX forms.

Two aggregations, each labelled in every table:

* ``mean-curve`` (CompressAI's convention): one BD computation between the curves of the means over
  the images;
* ``per-image`` (the JVET/JCT-VC convention for test sequences): one BD computation per image, then
  the mean over the images both curves measured. Published curves have no per-image data.

``overlap`` is the shared part of the quality range (the interval BD-rate averages over) as a fraction
of the shorter curve's range; ``note`` says what went wrong or what to be careful about.

``metric`` names a curve column: a metric's values, or their dB form where the metric has one
(MS-SSIM: ``ms_ssim_db``); by default every metric the curves have, in that form
(:meth:`bench.metric.Metric.compared_column`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from bench.bdrate import BDError, bd_compare
from bench.curves import Curve
from bench.metric import Column, MetricRegistry, discover_metrics, metric_columns

__all__ = ["BD_COLUMNS", "AGGREGATIONS", "bd_table", "compared_columns", "to_markdown", "to_latex"]

BD_COLUMNS = ("codec", "anchor", "metric", "method", "bd_rate", "bd_metric", "overlap", "note", "aggregation")
AGGREGATIONS = ("mean-curve", "per-image")


def compared_columns(curves: Sequence[Curve], registry: MetricRegistry | None = None) -> list[Column]:
    """The columns BD tables and RD figures compare: per registered metric that any of ``curves``
    has (in the order the curves name them), its dB form if it has one, else its values."""
    registry = registry or discover_metrics()
    names = dict.fromkeys(name for curve in curves for name in curve.metrics if name in registry)
    return [registry.get(name).compared_column() for name in names]


def _label(column: str, columns: dict[str, Column]) -> tuple[str, str]:
    """(short name, unit) of a curve column; a column no registered metric has is named as it is."""
    info = columns.get(column)
    return (info.label, info.unit) if info else (column, "")


@dataclass(frozen=True)
class _Row:
    codec: str
    anchor: str
    metric: str
    method: str
    bd_rate: float
    bd_metric: float
    overlap: float
    note: str
    aggregation: str


def _points(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    rate = frame["bpp"].to_numpy(float)
    quality = frame[metric].to_numpy(float)
    keep = np.isfinite(rate) & np.isfinite(quality)
    return rate[keep], quality[keep]


def _compare(
    anchor: pd.DataFrame, test: pd.DataFrame, metric: str, method: str, label: str
) -> tuple[float, float, float, str]:
    """(bd_rate, bd_metric, overlap, note) of two point sets; NaN and the reason on failure."""
    if metric not in anchor or metric not in test:
        which = "anchor" if metric not in anchor else "test"
        return math.nan, math.nan, math.nan, f"the {which} curve has no {label} values"
    ra, qa = _points(anchor, metric)
    rt, qt = _points(test, metric)
    for which, quality in (("anchor", qa), ("test", qt)):
        if quality.size == 0:
            return math.nan, math.nan, math.nan, f"the {which} curve has no {label} values"
    dropped = (len(anchor) - len(ra)) + (len(test) - len(rt))
    notes = [f"{dropped} point(s) without a finite value left out"] if dropped else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = bd_compare(ra, qa, rt, qt, method)
        except BDError as exc:
            return math.nan, math.nan, math.nan, "; ".join([*notes, str(exc)])
    notes += [str(w.message) for w in caught]
    return result.bd_rate, result.bd_metric, result.overlap_metric, "; ".join(notes)


def _per_image(anchor: Curve, test: Curve, metric: str, method: str, label: str) -> tuple[float, float, float, str]:
    missing = [c.label for c in (anchor, test) if c.per_image is None]
    if missing:
        return (
            math.nan,
            math.nan,
            math.nan,
            f"per-image BD needs per-image results; {', '.join(missing)} has means only",
        )
    images = sorted(set(anchor.per_image["image"]) & set(test.per_image["image"]))
    if not images:
        return math.nan, math.nan, math.nan, "no image measured by both"
    a_groups = dict(tuple(anchor.per_image.groupby("image")))
    t_groups = dict(tuple(test.per_image.groupby("image")))
    rates, metrics, overlaps, failed = [], [], [], []
    for image in images:
        rate, value, overlap, note = _compare(a_groups[image], t_groups[image], metric, method, label)
        if math.isnan(rate):
            failed.append(f"{image}: {note}")
            continue
        rates.append(rate)
        metrics.append(value)
        overlaps.append(overlap)
    notes = [f"mean over {len(rates)} of {len(images)} images"] if failed else []
    notes += failed[:3] + ([f"... {len(failed) - 3} more"] if len(failed) > 3 else [])
    if not rates:
        return math.nan, math.nan, math.nan, "; ".join(notes)
    return float(np.mean(rates)), float(np.mean(metrics)), float(np.min(overlaps)), "; ".join(notes)


def bd_table(
    curves: Sequence[Curve],
    anchor: Curve,
    *,
    metrics: Sequence[str] | None = None,
    method: str = "pchip",
) -> pd.DataFrame:
    """BD-rate (%) and BD-metric of every curve but the anchor, per metric column and aggregation
    (``metrics``: curve columns; by default :func:`compared_columns` of the anchor and the curves)."""
    registry = discover_metrics()
    if metrics is None:
        metrics = [c.name for c in compared_columns([anchor, *curves], registry)]
    columns = metric_columns(registry)
    rows = []
    for curve in curves:
        if curve is anchor:
            continue
        for metric in metrics:
            label = _label(metric, columns)[0]
            for aggregation in AGGREGATIONS:
                if aggregation == "mean-curve":
                    values = _compare(anchor.points, curve.points, metric, method, label)
                else:
                    values = _per_image(anchor, curve, metric, method, label)
                rows.append(_Row(curve.label, anchor.label, metric, method, *values, aggregation))
    return pd.DataFrame([asdict(r) for r in rows], columns=list(BD_COLUMNS))


def _pivot(table: pd.DataFrame, aggregation: str) -> tuple[list[str], list[str], dict, list[str]]:
    part = table[table["aggregation"] == aggregation]
    codecs = list(dict.fromkeys(part["codec"]))
    metrics = list(dict.fromkeys(part["metric"]))
    cells, notes = {}, []
    for row in part.itertuples():
        mark = ""
        if row.note:  # one footnote per distinct note text
            if row.note not in notes:
                notes.append(row.note)
            mark = f"[{notes.index(row.note) + 1}]"
        cells[row.codec, row.metric] = (row.bd_rate, row.bd_metric, mark)
    return codecs, metrics, cells, notes


def _fmt(value: float, digits: int, signed: bool = True) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _caption(table: pd.DataFrame, aggregation: str) -> str:
    anchor = table["anchor"].iloc[0] if len(table) else "?"
    method = table["method"].iloc[0] if len(table) else "?"
    how = (
        "BD from the curves of the means over the images (CompressAI convention)"
        if aggregation == "mean-curve"
        else "mean over images of the per-image BD values (JVET convention)"
    )
    return f"BD-rate against {anchor}; {how}; {method} interpolation; negative BD-rate = fewer bits"


def to_markdown(table: pd.DataFrame, aggregation: str = "mean-curve") -> str:
    """A Markdown table: one row per codec, BD-rate (%) and BD-metric per quality metric."""
    codecs, metrics, cells, notes = _pivot(table, aggregation)
    columns = metric_columns()
    header = ["codec"]
    for metric in metrics:
        name, unit = _label(metric, columns)
        header += [f"BD-rate {name} (%)", f"BD-{name} ({unit or 'linear'})"]
    lines = [f"*{_caption(table, aggregation)}.*", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for codec in codecs:
        row = [codec]
        for metric in metrics:
            rate, value, mark = cells.get((codec, metric), (math.nan, math.nan, ""))
            row += [_fmt(rate, 2) + mark, _fmt(value, 3)]
        lines.append("| " + " | ".join(row) + " |")
    if notes:
        lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(char, escaped)
    return text


def to_latex(table: pd.DataFrame, aggregation: str = "mean-curve") -> str:
    """A booktabs ``tabular`` of the BD-rates (%), ready to ``\\input`` (needs ``\\usepackage{booktabs}``)."""
    codecs, metrics, cells, notes = _pivot(table, aggregation)
    columns = metric_columns()
    lines = [
        f"% {_caption(table, aggregation)}.",
        "% Generated by codec-bench (bench report); requires \\usepackage{booktabs}.",
        "\\begin{tabular}{l" + "r" * len(metrics) + "}",
        "\\toprule",
        "Codec & " + " & ".join(f"BD-rate {_tex(_label(m, columns)[0])} (\\%)" for m in metrics) + " \\\\",
        "\\midrule",
    ]
    for codec in codecs:
        values = []
        for metric in metrics:
            rate, _, mark = cells.get((codec, metric), (math.nan, math.nan, ""))
            values.append(
                ("$" + _fmt(rate, 2) + "$" if math.isfinite(rate) else "n/a")
                + (f"\\textsuperscript{{{mark[1:-1]}}}" if mark else "")
            )
        lines.append(f"{_tex(codec)} & " + " & ".join(values) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"% [{i}] {_tex(note)}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"
