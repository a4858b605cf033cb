"""BD-rate tables of curves against an anchor, and their CSV, Markdown and LaTeX forms.

Two aggregations, each labelled in every table:

* ``mean-curve`` (CompressAI's convention): one BD computation between the curves of the means over
  the images;
* ``per-image`` (the JVET/JCT-VC convention for test sequences): one BD computation per image, then
  the mean over the images. Published curves have no per-image data.

**Which images.** Both aggregations of a pair (anchor, test) use the same images: those each run
curve of the pair measured, with every metric of its run defined, at every one of its qualities
(:meth:`bench.curves.Curve.complete_images`; for two run curves, the images both have). The mean
curves of the pair are recomputed over exactly these images, so a codec that failed on an image, a
run folder that mixes ``--max-images`` runs, or an image with an undefined metric (MS-SSIM of small
images) never makes the two curves average different images. ``images`` says how many images each
value covers (mean-curve: the images of the means; per-image: the images whose BD was computed);
a note names the images left out when that is fewer than the run (or runs) measured. A published
curve has no per-image data: the note states the run curve's number of images and the number the
published file states (its ``meta``), or that it does not state one.

``overlap`` is the shared part of the quality range as a fraction of the shorter curve's range;
``quality_low``, ``quality_high`` bound the quality interval BD-rate integrated over (per-image: the
lowest and highest bound over the images); a note says when that interval is less than half of the
anchor's quality range. ``note`` says what went wrong or what to be careful about.

``metric`` names a curve column: a metric's values, or their dB form where the metric has one
(MS-SSIM: ``ms_ssim_db``); by default every metric the curves have, in that form
(:meth:`bench.metric.Metric.compared_column`).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd

from bench.bdrate import BDError, bd_compare
from bench.curves import Curve
from bench.metric import Column, MetricRegistry, discover_metrics, metric_columns

__all__ = ["BD_COLUMNS", "AGGREGATIONS", "bd_table", "compared_columns", "to_markdown", "to_latex"]

BD_COLUMNS = (
    "codec",
    "anchor",
    "metric",
    "method",
    "bd_rate",
    "bd_metric",
    "overlap",
    "note",
    "aggregation",
    "images",
    "quality_low",
    "quality_high",
)
AGGREGATIONS = ("mean-curve", "per-image")
#: An interval shorter than this fraction of the anchor's quality range gets a note.
NARROW_FRACTION = 0.5
_MAX_NAMED = 4  # images named in a note before "and N more"


def compared_columns(curves: Sequence[Curve], registry: MetricRegistry | None = None) -> list[Column]:
    """The columns BD tables and RD figures compare: per registered metric that any of ``curves``
    has (in the order the curves name them), its dB form if it has one, else its values."""
    registry = registry or discover_metrics()
    classes = _dataset_metric_classes(curves)
    names = dict.fromkeys(
        name
        for curve in curves
        for name in (*curve.metrics, *curve.dataset_metrics)
        if name in registry or name in classes
    )
    return [(registry.get(name) if name in registry else classes[name]).compared_column() for name in names]


def _dataset_metric_classes(curves: Sequence[Curve]) -> dict[str, type]:
    """The classes of the curves' dataset metrics (those of a run's plugin files included), by name."""
    return {m.name: type(m) for curve in curves if curve.dataset_features for m in curve.dataset_features.metrics}


def _columns(curves: Sequence[Curve], registry: MetricRegistry) -> dict[str, Column]:
    """Every curve column of the registered metrics and of the curves' dataset metrics, by column name."""
    columns = metric_columns(registry)
    for cls in _dataset_metric_classes(curves).values():
        columns.update({column.name: column for column in cls.columns()})
    return columns


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
    images: float
    quality_low: float
    quality_high: float


@dataclass(frozen=True)
class _Result:
    bd_rate: float = math.nan
    bd_metric: float = math.nan
    overlap: float = math.nan
    note: str = ""
    images: float = math.nan
    low: float = math.nan
    high: float = math.nan


def _quality(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.1f}" if unit == "dB" else f"{value:.4g}"


def _interval(low: float, high: float, unit: str, dash: str = "–") -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"{_quality(low, unit)}{dash}{_quality(high, unit)}"


def _points(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    rate = frame["bpp"].to_numpy(float)
    quality = frame[metric].to_numpy(float)
    keep = np.isfinite(rate) & np.isfinite(quality)
    return rate[keep], quality[keep]


def _compare(anchor: pd.DataFrame, test: pd.DataFrame, metric: str, method: str, label: str, unit: str,
             sign: float = 1.0) -> _Result:  # fmt: skip
    """BD of two point sets, with the quality interval integrated over; NaN and the reason on failure.

    ``sign`` -1 for a metric where lower is better (CIEDE2000, GMSD, NLPD): BD is computed on the
    negated values (quality then rises with rate), and BD-metric is given back in the metric's own
    direction (negative: the test codec is better)."""
    if metric not in anchor or metric not in test:
        which = "anchor" if metric not in anchor else "test"
        return _Result(note=f"the {which} curve has no {label} values")
    ra, qa = _points(anchor, metric)
    rt, qt = _points(test, metric)
    for which, quality in (("anchor", qa), ("test", qt)):
        if quality.size == 0:
            return _Result(note=f"the {which} curve has no {label} values")
    dropped = (len(anchor) - len(ra)) + (len(test) - len(rt))
    notes = [f"{dropped} point(s) without a finite value left out"] if dropped else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = bd_compare(ra, sign * qa, rt, sign * qt, method)
            result = replace(result, bd_metric=sign * result.bd_metric)
        except BDError as exc:
            return _Result(note="; ".join([*notes, str(exc)]))
    notes += [str(w.message) for w in caught]
    low, high = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    span = qa.max() - qa.min()
    if span > 0 and (high - low) < NARROW_FRACTION * span:
        u = f" {unit}" if unit else ""
        notes.append(
            f"integrated over {_interval(low, high, unit)}{u} only, {100 * (high - low) / span:.0f}% of the "
            f"anchor's range ({_interval(qa.min(), qa.max(), unit)}{u})"
        )
    return _Result(result.bd_rate, result.bd_metric, result.overlap_metric, "; ".join(notes), math.nan, low, high)


def _sign(metric: str, columns: dict[str, Column]) -> float:
    """-1 for a column whose metric is better when lower, else 1."""
    info = columns.get(metric)
    return -1.0 if info is not None and not info.higher_is_better else 1.0


def _title(dataset: str) -> str:
    return dataset[:1].upper() + dataset[1:]


def _stated(curve: Curve) -> str:
    if not curve.stated_images:
        return "number of images not stated in the file"
    return (
        f"{_title(curve.dataset)}: {curve.stated_images} images" if curve.dataset else f"{curve.stated_images} images"
    )


def _why_left_out(image: str, runs: Sequence[Curve], columns: dict[str, Column]) -> str:
    for curve in runs:
        if image not in curve.measured_images():
            return f"not measured by {curve.label}"
    for curve in runs:
        rows = curve.per_image[curve.per_image["image"].astype(str) == image]
        undefined = [_label(m, columns)[0] for m in curve.metrics if m in rows and rows[m].isna().any()]
        if undefined:
            return f"{', '.join(undefined)} undefined"
    for curve in runs:
        if image not in (curve.complete_images() or ()):
            return f"not measured by {curve.label} at every quality"
    return "not in both curves"


@dataclass(frozen=True)
class _Images:
    """The images a pair is compared over (``None``: both curves published), how many, and notes."""

    images: frozenset[str] | None
    count: float
    notes: tuple[str, ...]


def _pair_images(anchor: Curve, test: Curve, columns: dict[str, Column]) -> _Images:
    runs = [c for c in (anchor, test) if c.per_image is not None]
    published = [c for c in (anchor, test) if c.per_image is None]
    if not runs:
        stated = {c.stated_images for c in published}
        if len(stated) == 1 and None not in stated:
            return _Images(None, float(stated.pop()), ())
        known = [f"{c.label}: {c.stated_images}" for c in published if c.stated_images]
        notes = (
            (f"the published curves average different numbers of images ({', '.join(known)})",)
            if len(known) == 2
            else ()
        )
        return _Images(None, math.nan, notes)
    images = frozenset.intersection(*(c.complete_images() or frozenset() for c in runs))
    measured = frozenset().union(*(c.run_images or c.measured_images() for c in runs))
    notes = []
    if len(images) < len(measured):
        left = sorted(measured - images)
        named = [f"{image} ({_why_left_out(image, runs, columns)})" for image in left[:_MAX_NAMED]]
        if len(left) > _MAX_NAMED:
            named.append(f"{len(left) - _MAX_NAMED} more")
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        runs_word = "runs" if len({c.source for c in runs}) > 1 else "run"
        notes.append(f"over {len(images)} of the {len(measured)} images of the {runs_word}, leaving out {listed}")
    if published:
        notes.append(f"run curve over {len(images)} images compared with a published curve ({_stated(published[0])})")
    return _Images(images, float(len(images)), tuple(notes))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _mean_curve(anchor: Curve, test: Curve, pair: _Images, metric: str, method: str, label: str, unit: str,
                means: dict, sign: float = 1.0) -> _Result:  # fmt: skip
    if pair.images is not None and not pair.images:
        return _Result(note=_join(*pair.notes, "no image measured, with every metric defined, at every quality of both curves"), images=0.0)  # fmt: skip

    def points(curve: Curve) -> pd.DataFrame:
        if curve.per_image is None:
            return curve.points
        key = (id(curve), pair.images)
        if key not in means:
            means[key] = curve.means(pair.images)
        return means[key]

    result = _compare(points(anchor), points(test), metric, method, label, unit, sign)
    return replace(result, note=_join(*pair.notes, result.note), images=pair.count)


def _per_image(anchor: Curve, test: Curve, pair: _Images, metric: str, method: str, label: str, unit: str,
               sign: float = 1.0) -> _Result:  # fmt: skip
    missing = [c.label for c in (anchor, test) if c.per_image is None]
    if missing:
        return _Result(note=f"per-image BD needs per-image results; {', '.join(missing)} has means only")
    if any(metric in c.dataset_metrics for c in (anchor, test)):
        return _Result(note=f"{label} is computed over the whole dataset: it has no per-image values")
    images = sorted(pair.images or ())
    if not images:
        return _Result(note=_join(*pair.notes, "no image measured, with every metric defined, at every quality of both curves"), images=0.0)  # fmt: skip
    a_groups = dict(tuple(anchor.per_image.groupby(anchor.per_image["image"].astype(str))))
    t_groups = dict(tuple(test.per_image.groupby(test.per_image["image"].astype(str))))
    results, failed = [], []
    for image in images:
        result = _compare(a_groups[image], t_groups[image], metric, method, label, unit, sign)
        if math.isnan(result.bd_rate):
            failed.append(f"{image}: {result.note}")
        else:
            results.append(result)
    notes = list(pair.notes)
    if failed:
        notes.append(f"mean over {len(results)} of {len(images)} images")
        notes += failed[:3] + ([f"... {len(failed) - 3} more"] if len(failed) > 3 else [])
    narrow = sum("of the anchor's range" in r.note for r in results)
    if narrow:
        notes.append(f"{narrow} of {len(results)} images integrated over less than half of the anchor's range")
    if not results:
        return _Result(note=_join(*notes), images=0.0)
    return _Result(
        float(np.mean([r.bd_rate for r in results])),
        float(np.mean([r.bd_metric for r in results])),
        float(np.min([r.overlap for r in results])),
        _join(*notes),
        float(len(results)),
        float(np.min([r.low for r in results])),
        float(np.max([r.high for r in results])),
    )


def bd_table(
    curves: Sequence[Curve],
    anchor: Curve,
    *,
    metrics: Sequence[str] | None = None,
    method: str = "pchip",
) -> pd.DataFrame:
    """BD-rate (%) and BD-metric of every curve but the anchor, per metric column and aggregation
    (``metrics``: curve columns; by default :func:`compared_columns` of the anchor and the curves),
    each over the images of the module docstring, with the number of images and the quality interval."""
    registry = discover_metrics()
    if metrics is None:
        metrics = [c.name for c in compared_columns([anchor, *curves], registry)]
    columns = _columns([anchor, *curves], registry)
    rows, means = [], {}
    for curve in curves:
        if curve is anchor:
            continue
        pair = _pair_images(anchor, curve, columns)
        for metric in metrics:
            label, unit = _label(metric, columns)
            for aggregation in AGGREGATIONS:
                sign = _sign(metric, columns)
                if aggregation == "mean-curve":
                    r = _mean_curve(anchor, curve, pair, metric, method, label, unit, means, sign)
                else:
                    r = _per_image(anchor, curve, pair, metric, method, label, unit, sign)
                rows.append(_Row(curve.label, anchor.label, metric, method, r.bd_rate, r.bd_metric, r.overlap,
                                 r.note, aggregation, r.images, r.low, r.high))  # fmt: skip
    return pd.DataFrame([asdict(r) for r in rows], columns=list(BD_COLUMNS))


def _pivot(table: pd.DataFrame, aggregation: str) -> tuple[list[str], list[str], dict, list[str]]:
    part = table[table["aggregation"] == aggregation]
    codecs = list(dict.fromkeys(part["codec"]))
    metrics = list(dict.fromkeys(part["metric"]))
    cells, notes = {}, []
    for row in part.itertuples():
        marks = []
        for note in row.note.split("; ") if isinstance(row.note, str) else ():  # one footnote per distinct note
            if note and note not in notes:
                notes.append(note)
            if note:
                marks.append(str(notes.index(note) + 1))
        mark = f"[{','.join(marks)}]" if marks else ""
        cells[row.codec, row.metric] = _Cell(
            row.bd_rate, row.bd_metric, mark, getattr(row, "images", math.nan),
            getattr(row, "quality_low", math.nan), getattr(row, "quality_high", math.nan),
        )  # fmt: skip
    return codecs, metrics, cells, notes


@dataclass(frozen=True)
class _Cell:
    rate: float = math.nan
    value: float = math.nan
    mark: str = ""
    images: float = math.nan
    low: float = math.nan
    high: float = math.nan


def _images(cells: dict, codec: str, metrics: Sequence[str]) -> str:
    """The number of images of a codec's row: one number, or the range when metrics differ."""
    counts = sorted({int(c.images) for m in metrics if math.isfinite((c := cells.get((codec, m), _Cell())).images)})
    if not counts:
        return "n/a"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def _fmt(value: float, digits: int, signed: bool = True) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _anchor_of(table: pd.DataFrame, anchor: str | None) -> str | None:
    return str(table["anchor"].iloc[0]) if len(table) else anchor


def _caption(table: pd.DataFrame, aggregation: str, anchor: str | None = None) -> str:
    anchor = _anchor_of(table, anchor)
    method = table["method"].iloc[0] if len(table) else "pchip"
    how = (
        "BD from the curves of the means over the images (CompressAI convention)"
        if aggregation == "mean-curve"
        else "mean over images of the per-image BD values (JVET convention)"
    )
    return (
        f"BD-rate against {anchor}; {how}, over the images both curves measured at every quality; "
        f"{method} interpolation; negative BD-rate = fewer bits; interval: the quality range integrated over"
    )


def _nothing(anchor: str | None) -> str:
    if anchor:
        return f"No BD-rates: the report has no curve other than the anchor {anchor}, so there is nothing to compare"
    return "No BD-rates: the report has no curves to compare, so there is nothing to compare"


def to_markdown(table: pd.DataFrame, aggregation: str = "mean-curve", anchor: str | None = None) -> str:
    """A Markdown table: one row per codec, the number of images, and per quality metric BD-rate (%),
    BD-metric and the quality interval integrated over. ``anchor`` names the anchor of an empty table."""
    codecs, metrics, cells, notes = _pivot(table, aggregation)
    if not codecs:
        return f"*{_nothing(_anchor_of(table, anchor))}.*\n"
    columns = metric_columns()
    header = ["codec", "images"]
    for metric in metrics:
        name, unit = _label(metric, columns)
        header += [
            f"BD-rate {name} (%)",
            f"BD-{name} ({unit or 'linear'})",
            f"{name} interval{f' ({unit})' if unit else ''}",
        ]
    lines = [
        f"*{_caption(table, aggregation, anchor)}.*",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for codec in codecs:
        row = [codec, _images(cells, codec, metrics)]
        for metric in metrics:
            cell = cells.get((codec, metric), _Cell())
            row += [
                _fmt(cell.rate, 2) + cell.mark,
                _fmt(cell.value, 3),
                _interval(cell.low, cell.high, _label(metric, columns)[1]),
            ]
        lines.append("| " + " | ".join(row) + " |")
    if notes:
        lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
}


def _tex(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (one pass, so escapes are not escaped again)."""
    return re.sub("|".join(re.escape(c) for c in _TEX), lambda m: _TEX[m.group(0)], text)


def to_latex(table: pd.DataFrame, aggregation: str = "mean-curve", anchor: str | None = None) -> str:
    """A booktabs ``tabular`` ready to ``\\input`` (needs ``\\usepackage{booktabs}``): per codec the number
    of images and, per quality metric, the BD-rate (%) and the quality interval integrated over. A table
    with nothing to compare is a one-cell tabular saying so."""
    codecs, metrics, cells, notes = _pivot(table, aggregation)
    if not codecs:
        text = _nothing(_anchor_of(table, anchor))
        return "\n".join([f"% {_tex(text)}.", "% Generated by codec-bench (bench report).",
                          "\\begin{tabular}{l}", "\\toprule", f"{_tex(text)} \\\\", "\\bottomrule",
                          "\\end{tabular}"]) + "\n"  # fmt: skip
    columns = metric_columns()
    header = ["Codec", "Images"]
    for metric in metrics:
        name, unit = _label(metric, columns)
        header += [f"BD-rate {_tex(name)} (\\%)", f"{_tex(name)} interval" + (f" ({_tex(unit)})" if unit else "")]
    lines = [
        f"% {_tex(_caption(table, aggregation, anchor))}.",
        "% Generated by codec-bench (bench report); requires \\usepackage{booktabs}.",
        "\\begin{tabular}{lr" + "rc" * len(metrics) + "}",
        "\\toprule",
        " & ".join(header) + " \\\\",
        "\\midrule",
    ]
    for codec in codecs:
        values = [_tex(codec), _tex(_images(cells, codec, metrics))]
        for metric in metrics:
            cell = cells.get((codec, metric), _Cell())
            values.append(
                ("$" + _fmt(cell.rate, 2) + "$" if math.isfinite(cell.rate) else "n/a")
                + (f"\\textsuperscript{{{cell.mark[1:-1]}}}" if cell.mark else "")
            )
            values.append(_interval(cell.low, cell.high, _label(metric, columns)[1], dash="--"))
        lines.append(" & ".join(values) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"% [{i}] {_tex(note)}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"
