"""BD-rate tables: the BD-rate and BD-metric of each curve against an anchor, per compared column and aggregation.

Two aggregations, each labelled in every table:

* ``mean-curve`` (CompressAI's convention): one BD computation between the curves of the means over
  the images;
* ``per-image`` (the JVET/JCT-VC convention for test sequences): one BD computation per image, then
  the mean over the images. Published curves have no per-image data.

**Which images.** Both aggregations of a pair (anchor, test) use the same images: those each run
curve of the pair measured, with every metric of its run defined, at every one of its qualities
(:meth:`bench.analysis.curves.Curve.complete_images`; for two run curves, the images both have). The mean
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

**Intervals and the paired test** (:mod:`bench.analysis.bootstrap`): ``ci_low``, ``ci_high`` (BD-rate, percent)
and ``ci_metric_low``, ``ci_metric_high`` (BD-metric) are 95% bootstrap percentile intervals over the
pair's images, from ``resamples`` resamples drawn from ``seed`` (both in every row); mean-curve intervals
for ``pchip`` only, none against a published curve or for a dataset metric (the note says why).
``p_value`` (two-sided Wilcoxon signed-rank test of the per-image BD-rates) and ``wins`` (``"20/24"``:
the images whose per-image BD-rate is negative) are the same in both aggregation rows of a pair and
metric. The report renders the tables (:mod:`bench.report.tables`): cells read ``-26.51 [-28.45, -24.13]``.

**Fixed ranges**: ``quality_ranges`` (per column, in its unit) and ``rate_range`` (bpp) replace the
overlap for BD-rate and BD-metric; ``quality_low, quality_high`` and ``rate_low, rate_high`` record what
each value was integrated over, and a curve that does not cover a fixed range gives NaN with a note.

``metric`` names a curve column: a metric's values, or their dB form where the metric has one
(MS-SSIM: ``ms_ssim_db``); by default every metric the curves have, in that form
(:meth:`bench.api.metric.Metric.compared_column`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bench.analysis.bdrate import DEFAULT_MIN_OVERLAP, BDError, bd_compare, overlap_text
from bench.analysis.bdvector import pchip_bd, repeats_a_point
from bench.analysis.bootstrap import (
    Interval,
    PairedTest,
    curve_values,
    mean_interval,
    paired_test,
    resample_counts,
    resampled_bd,
)
from bench.analysis.bootstrap import percentile_interval as percentile
from bench.analysis.curves import Curve
from bench.api.metric import Column
from bench.api.metric_registry import MetricRegistry, discover_metrics, metric_columns

__all__ = [
    "BD_COLUMNS",
    "PER_IMAGE_COLUMNS",
    "per_image_rates",
    "AGGREGATIONS",
    "DEFAULT_RESAMPLES",
    "bd_table",
    "compared_columns",
    "curve_columns",
    "column_label",
    "metric_sign",
    "paired_images",
    "ImagePairing",
    "rate_quality_points",
    "quality_text",
    "interval_text",
]

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
    "ci_low",
    "ci_high",
    "ci_metric_low",
    "ci_metric_high",
    "p_value",
    "wins",
    "rate_low",
    "rate_high",
    "resamples",
    "seed",
)
#: Bootstrap resamples of the intervals by default (``bench report --bootstrap``).
DEFAULT_RESAMPLES = 1000
AGGREGATIONS = ("mean-curve", "per-image")
#: An interval shorter than this fraction of the anchor's quality range gets a note.
NARROW_FRACTION = 0.5
_MAX_NAMED = 4  # images named in a note before "and N more"
_NO_SHARED_IMAGE = "no image measured, with every metric defined, at every quality of both curves"


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


def curve_columns(curves: Sequence[Curve], registry: MetricRegistry) -> dict[str, Column]:
    """Every curve column of the registered metrics and of the curves' dataset metrics, by column name."""
    columns = metric_columns(registry)
    for cls in _dataset_metric_classes(curves).values():
        columns.update({column.name: column for column in cls.columns()})
    return columns


def column_label(column: str, columns: dict[str, Column]) -> tuple[str, str]:
    """(short name, unit) of a curve column; a column no registered metric has is named as it is."""
    info = columns.get(column)
    return (info.label, info.unit) if info else (column, "")


@dataclass(frozen=True)
class _BDRow:
    """One row of a BD table (:data:`BD_COLUMNS`, in that order)."""

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
    ci_low: float
    ci_high: float
    ci_metric_low: float
    ci_metric_high: float
    p_value: float
    wins: str
    rate_low: float
    rate_high: float
    resamples: int
    seed: int


@dataclass(frozen=True)
class _PairBD:
    """The BD of one pair of curves, one column and one aggregation: BD-rate (%), BD-metric (the column's
    unit), the overlap, the notes, the number of images, the quality (``low``, ``high``; the column's unit)
    and rate (bpp) intervals integrated over; NaN where there is none."""

    bd_rate: float = math.nan
    bd_metric: float = math.nan
    overlap: float = math.nan
    note: str = ""
    images: float = math.nan
    low: float = math.nan
    high: float = math.nan
    rate_low: float = math.nan
    rate_high: float = math.nan
    #: per-image aggregation: each image's BD-rate and BD-metric (the images with a value)
    rates: tuple[float, ...] = ()
    values: tuple[float, ...] = ()


@dataclass(frozen=True)
class _RowIntervals:
    """The intervals of one row's BD-rate and BD-metric, and why there are none (or what to know)."""

    rate: Interval = Interval()
    metric: Interval = Interval()
    note: str = ""


def quality_text(value: float, unit: str) -> str:
    """A quality value as the notes and tables write it: 1 decimal in dB, else 4 significant digits;
    ``n/a`` when not finite."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.1f}" if unit == "dB" else f"{value:.4g}"


def interval_text(low: float, high: float, unit: str, dash: str = "–") -> str:
    """``low–high`` in :func:`quality_text`'s form (``dash`` between them); ``n/a`` when either is not finite."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"{quality_text(low, unit)}{dash}{quality_text(high, unit)}"


def rate_quality_points(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(bpp, ``metric``) of the rows of ``frame`` where both are finite."""
    rate = frame["bpp"].to_numpy(float)
    quality = frame[metric].to_numpy(float)
    keep = np.isfinite(rate) & np.isfinite(quality)
    return rate[keep], quality[keep]


def _compare(anchor: pd.DataFrame, test: pd.DataFrame, metric: str, method: str, label: str, unit: str,
             sign: float = 1.0, *, quality_range: tuple[float, float] | None = None,
             rate_range: tuple[float, float] | None = None) -> _PairBD:  # fmt: skip
    """BD of two point sets, with the quality and rate intervals integrated over; NaN and the reason on failure.

    ``sign`` -1 for a metric where lower is better (CIEDE2000, GMSD, NLPD): BD is computed on the
    negated values (quality then rises with rate), and BD-metric is given back in the metric's own
    direction (negative: the test codec is better). ``quality_range`` (the column's unit) /
    ``rate_range`` (bpp): integrate BD-rate / BD-metric over this fixed range instead of the overlap; a
    curve that does not cover it gives NaN and a note saying what the curve covers."""
    if metric not in anchor or metric not in test:
        which = "anchor" if metric not in anchor else "test"
        return _PairBD(note=f"the {which} curve has no {label} values")
    ra, qa = rate_quality_points(anchor, metric)
    rt, qt = rate_quality_points(test, metric)
    for which, quality in (("anchor", qa), ("test", qt)):
        if quality.size == 0:
            return _PairBD(note=f"the {which} curve has no {label} values")
    dropped = (len(anchor) - len(ra)) + (len(test) - len(rt))
    notes = [f"{dropped} point(s) without a finite value left out"] if dropped else []
    if quality_range is not None or rate_range is not None:
        return _compare_fixed(ra, qa, rt, qt, method, label, unit, sign, notes, quality_range, rate_range)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = bd_compare(ra, sign * qa, rt, sign * qt, method)
            result = replace(result, bd_metric=sign * result.bd_metric)
        except BDError as exc:
            return _PairBD(note="; ".join([*notes, str(exc)]))
    notes += [str(w.message) for w in caught]
    low, high = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    notes += _narrow_interval_notes(qa, low, high, unit)
    return _PairBD(result.bd_rate, result.bd_metric, result.overlap_metric, "; ".join(notes), math.nan, low, high,
                   max(ra.min(), rt.min()), min(ra.max(), rt.max()))  # fmt: skip


def _narrow_interval_notes(qa: np.ndarray, low: float, high: float, unit: str) -> list[str]:
    """A note when [low, high] is less than :data:`NARROW_FRACTION` of the anchor's quality range."""
    span = qa.max() - qa.min()
    if span > 0 and (high - low) < NARROW_FRACTION * span:
        u = f" {unit}" if unit else ""
        return [
            f"integrated over {interval_text(low, high, unit)}{u} only, {100 * (high - low) / span:.0f}% of the "
            f"anchor's range ({interval_text(qa.min(), qa.max(), unit)}{u})"
        ]
    return []


def _uncovered_range_note(values: dict[str, np.ndarray], lo: float, hi: float, what: str, unit: str) -> str:
    """Which curve does not cover [lo, hi] and what it covers; empty when both cover it."""
    u = f" {unit}" if unit else ""
    for which, v in values.items():
        if not (v.min() <= lo and hi <= v.max()):
            return (
                f"the {which} curve covers {what} {quality_text(v.min(), unit)}–{quality_text(v.max(), unit)}{u}, "
                f"not the fixed range {quality_text(lo, unit)}–{quality_text(hi, unit)}{u}"
            )
    return ""


def _compare_fixed(ra, qa, rt, qt, method: str, label: str, unit: str, sign: float, notes: list[str],
                   quality_range: tuple[float, float] | None,
                   rate_range: tuple[float, float] | None) -> _PairBD:  # fmt: skip
    """:func:`_compare` with a fixed quality and/or rate range (the other over the overlap)."""
    rate = value = math.nan
    low, high = quality_range or (max(qa.min(), qt.min()), min(qa.max(), qt.max()))
    rate_low, rate_high = rate_range or (max(ra.min(), rt.min()), min(ra.max(), rt.max()))
    shorter = min(qa.max() - qa.min(), qt.max() - qt.min())
    overlap = (min(qa.max(), qt.max()) - max(qa.min(), qt.min())) / shorter if shorter > 0 else 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outside = _uncovered_range_note({"anchor": qa, "test": qt}, low, high, label, unit) if quality_range else ""
        if outside:
            notes.append(f"BD-rate: {outside}")
        else:
            fixed = None if quality_range is None else tuple(sorted((sign * low, sign * high)))
            try:
                rate = bd_compare(ra, sign * qa, rt, sign * qt, method, quality_range=fixed).bd_rate
            except BDError as exc:
                notes.append(str(exc))
        outside = (
            _uncovered_range_note({"anchor": ra, "test": rt}, rate_low, rate_high, "rate", "bpp") if rate_range else ""
        )
        if outside:
            notes.append(f"BD-{label}: {outside}")
        else:
            try:
                value = sign * bd_compare(ra, sign * qa, rt, sign * qt, method, rate_range=rate_range).bd_metric
            except BDError as exc:
                notes.append(str(exc))
    notes += [str(w.message) for w in caught]
    if math.isfinite(rate):
        notes += _narrow_interval_notes(qa, low, high, unit)
    notes = list(dict.fromkeys(notes))
    return _PairBD(rate, value, max(overlap, 0.0), "; ".join(notes), math.nan, low, high, rate_low, rate_high)


def metric_sign(metric: str, columns: dict[str, Column]) -> float:
    """-1 for a column whose metric is better when lower, else 1."""
    info = columns.get(metric)
    return -1.0 if info is not None and not info.higher_is_better else 1.0


def _capitalised(dataset: str) -> str:
    """``dataset`` with its first letter in upper case (``kodak`` -> ``Kodak``)."""
    return dataset[:1].upper() + dataset[1:]


def _stated_images_text(curve: Curve) -> str:
    """How many images a published curve's file says its means cover (``Kodak: 24 images``)."""
    if not curve.stated_images:
        return "number of images not stated in the file"
    count = f"{curve.stated_images} images"
    return f"{_capitalised(curve.dataset)}: {count}" if curve.dataset else count


def _why_left_out(image: str, runs: Sequence[Curve], columns: dict[str, Column]) -> str:
    """Why ``image`` is not among the images a pair of ``runs`` is compared over."""
    for curve in runs:
        if image not in curve.measured_images():
            run = Path(curve.source).name
            if f"{run}/{image}" in curve.measured_images() or image.split("/", 1)[-1] in curve.measured_images():
                return f"{curve.label} has another image under this name (sha256 differ)"
            return f"not measured by {curve.label}"
    for curve in runs:
        rows = curve.per_image[curve.per_image["image"].astype(str) == image]
        undefined = [column_label(m, columns)[0] for m in curve.metrics if m in rows and rows[m].isna().any()]
        if undefined:
            return f"{', '.join(undefined)} undefined"
    for curve in runs:
        if image not in (curve.complete_images() or ()):
            return f"not measured by {curve.label} at every quality"
    return "not in both curves"


@dataclass(frozen=True)
class ImagePairing:
    """The images a pair is compared over (``None``: both curves published), how many, and notes."""

    images: frozenset[str] | None
    count: float
    notes: tuple[str, ...]


def paired_images(anchor: Curve, test: Curve, columns: dict[str, Column]) -> ImagePairing:
    """The images ``anchor`` and ``test`` are compared over (module docstring), and the notes that say so."""
    runs = [c for c in (anchor, test) if c.per_image is not None]
    published = [c for c in (anchor, test) if c.per_image is None]
    if not runs:
        stated = {c.stated_images for c in published}
        if len(stated) == 1 and None not in stated:
            return ImagePairing(None, float(stated.pop()), ())
        known = [f"{c.label}: {c.stated_images}" for c in published if c.stated_images]
        notes = (
            (f"the published curves average different numbers of images ({', '.join(known)})",)
            if len(known) == 2
            else ()
        )
        return ImagePairing(None, math.nan, notes)
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
        stated = _stated_images_text(published[0])
        notes.append(f"run curve over {len(images)} images compared with a published curve ({stated})")
    return ImagePairing(images, float(len(images)), tuple(notes))


def _join_notes(*parts: str) -> str:
    """The non-empty ``parts`` joined with ``; ``."""
    return "; ".join(p for p in parts if p)


def _mean_curve_bd(anchor: Curve, test: Curve, pair: ImagePairing, metric: str, method: str, label: str, unit: str,
                   means: dict, sign: float = 1.0, **fixed) -> _PairBD:  # fmt: skip
    """The mean-curve BD of a pair: between the curves of the means over the pair's images (``means``: a cache
    of those curves)."""
    if pair.images is not None and not pair.images:
        return _PairBD(note=_join_notes(*pair.notes, _NO_SHARED_IMAGE), images=0.0)

    def points(curve: Curve) -> pd.DataFrame:
        if curve.per_image is None:
            return curve.points
        key = (id(curve), pair.images)
        if key not in means:
            means[key] = curve.means(pair.images)
        return means[key]

    result = _compare(points(anchor), points(test), metric, method, label, unit, sign, **fixed)
    return replace(result, note=_join_notes(*pair.notes, result.note), images=pair.count)


def _each_image(anchor: Curve, test: Curve, images: Sequence[str], metric: str, method: str, label: str,
                unit: str, sign: float = 1.0, **fixed) -> list[tuple[str, _PairBD]]:  # fmt: skip
    """(image, the BD of the pair's curves of that image) for each of ``images`` (both curves have per-image
    results). With PCHIP over the shared range, the images whose BD needs nothing but the numbers are computed
    at once (:func:`_plain_pchip_images`), the others (and any other method or range) one by one."""
    a_rows, t_rows = anchor.image_rows(), test.image_rows()
    at_once = {}
    if method == "pchip" and not any(v is not None for v in fixed.values()) and metric in anchor.per_image \
            and metric in test.per_image:  # fmt: skip
        at_once = _plain_pchip_images(_image_arrays(anchor, metric, images), _image_arrays(test, metric, images),
                                      unit, sign)  # fmt: skip
    return [(image, at_once[image] if image in at_once else
             _compare(anchor.per_image.iloc[a_rows[image]], test.per_image.iloc[t_rows[image]], metric, method, label,
                      unit, sign, **fixed))
            for image in images]  # fmt: skip


def _image_arrays(curve: Curve, metric: str, images: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Image -> (bpp, ``metric``) of each of ``curve``'s records of that image, in the records' order."""
    rate, quality = curve.per_image["bpp"].to_numpy(float), curve.per_image[metric].to_numpy(float)
    rows = curve.image_rows()
    return {image: (rate[rows[image]], quality[rows[image]]) for image in images}


def _plain_pchip_images(anchor: dict[str, tuple[np.ndarray, np.ndarray]],
                        test: dict[str, tuple[np.ndarray, np.ndarray]], unit: str, sign: float) -> dict[str, _PairBD]:  # fmt: skip
    """Image -> the PCHIP BD of its two point sets (bpp, quality: :func:`_image_arrays`) over their shared
    range, with the notes :func:`_compare` writes (small overlaps, a narrow quality range), for the images
    with every point finite, none repeated and a result (the others, whose notes say what went wrong, are
    not in the result).
    Images of the same numbers of points are computed at once (:func:`bench.analysis.bdvector.pchip_bd`, equal
    to :func:`~bench.analysis.bdrate.bd_compare` to about 1e-12); the others are not in the result."""
    shapes: dict[tuple[int, int], list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
    for image, (ra, qa) in anchor.items():
        rt, qt = test[image]
        finite = np.isfinite(ra).all() and np.isfinite(qa).all() and np.isfinite(rt).all() and np.isfinite(qt).all()
        if finite and len(ra) >= 2 and len(rt) >= 2:  # no point left out
            shapes.setdefault((len(ra), len(rt)), []).append((image, ra, qa, rt, qt))
    found = {}
    for rows in shapes.values():
        names = [row[0] for row in rows]
        ra, qa, rt, qt = (np.stack([row[k] for row in rows]) for k in range(1, 5))
        if np.any(ra <= 0) or np.any(rt <= 0):
            continue
        rates = pchip_bd(ra, sign * qa, rt, sign * qt, "rate")
        values = sign * pchip_bd(ra, sign * qa, rt, sign * qt, "metric")
        repeated = repeats_a_point(ra, sign * qa) | repeats_a_point(rt, sign * qt)
        overlap_quality = _shared_fraction(sign * qa, sign * qt)
        overlap_rate = _shared_fraction(np.log(ra), np.log(rt))
        low, high = np.maximum(qa.min(1), qt.min(1)), np.minimum(qa.max(1), qt.max(1))
        rate_low, rate_high = np.maximum(ra.min(1), rt.min(1)), np.minimum(ra.max(1), rt.max(1))
        for n, name in enumerate(names):
            if not (math.isfinite(rates[n]) and math.isfinite(values[n])) or repeated[n]:
                continue  # one by one: its note says why
            notes = [
                overlap_text(fraction, what)
                for fraction, what in ((overlap_quality[n], "quality"), (overlap_rate[n], "rate"))
                if fraction < DEFAULT_MIN_OVERLAP
            ]
            notes += _narrow_interval_notes(qa[n], low[n], high[n], unit)  # as _compare writes them, in its order
            found[name] = _PairBD(
                float(rates[n]),
                float(values[n]),
                float(overlap_quality[n]),
                "; ".join(notes),
                math.nan,
                float(low[n]),
                float(high[n]),
                float(rate_low[n]),
                float(rate_high[n]),
            )
    return found


def _shared_fraction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: the length of the interval two point sets share as a fraction of the shorter one's range (0: none)."""
    lo, hi = np.maximum(a.min(1), b.min(1)), np.minimum(a.max(1), b.max(1))
    shorter = np.minimum(np.ptp(a, axis=1), np.ptp(b, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(shorter > 0, (hi - lo) / shorter, 0.0)


def _per_image_bd(anchor: Curve, test: Curve, pair: ImagePairing, metric: str, method: str, label: str, unit: str,
                  sign: float = 1.0, **fixed) -> _PairBD:  # fmt: skip
    """The per-image BD of a pair: the mean over the pair's images of each image's BD."""
    missing = [c.label for c in (anchor, test) if c.per_image is None]
    if missing:
        return _PairBD(note=f"per-image BD needs per-image results; {', '.join(missing)} has means only")
    if any(metric in c.dataset_metrics for c in (anchor, test)):
        return _PairBD(note=f"{label} is computed over the whole dataset: it has no per-image values")
    images = sorted(pair.images or ())
    if not images:
        return _PairBD(note=_join_notes(*pair.notes, _NO_SHARED_IMAGE), images=0.0)
    results, failed = [], []
    for image, result in _each_image(anchor, test, images, metric, method, label, unit, sign, **fixed):
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
        return _PairBD(note=_join_notes(*notes), images=0.0)
    return _PairBD(
        float(np.mean([r.bd_rate for r in results])),
        float(np.mean([r.bd_metric for r in results])),
        float(np.min([r.overlap for r in results])),
        _join_notes(*notes),
        float(len(results)),
        float(np.min([r.low for r in results])),
        float(np.max([r.high for r in results])),
        float(np.min([r.rate_low for r in results])),
        float(np.max([r.rate_high for r in results])),
        tuple(r.bd_rate for r in results),
        tuple(r.bd_metric for r in results),
    )


def _own_column(metric: str, columns: dict[str, Column], registry: MetricRegistry):
    """(the metric's own column, the function from its values to ``metric``'s) for a dB column; (``metric``,
    None) for a column of a metric's own values."""
    info = columns.get(metric)
    if info is None or info.name == info.metric or info.metric not in registry:
        return metric, None
    return info.metric, registry.get(info.metric).to_db


@dataclass(frozen=True)
class _BootstrapSettings:
    """How the intervals are drawn: ``resamples`` (0: none) from ``seed``; the fixed ranges, if any."""

    resamples: int
    seed: int
    quality_range: tuple[float, float] | None = None
    rate_range: tuple[float, float] | None = None


def _mean_curve_intervals(anchor: Curve, test: Curve, pair: ImagePairing, metric: str, method: str, label: str,
                          result: _PairBD, sign: float, how: _BootstrapSettings, own: tuple,
                          cache: dict) -> _RowIntervals:  # fmt: skip
    """The intervals of a mean-curve BD (the module docstring of :mod:`bench.analysis.bootstrap`), or why none."""
    if how.resamples <= 0 or not (math.isfinite(result.bd_rate) or math.isfinite(result.bd_metric)):
        return _RowIntervals()
    published = [c.label for c in (anchor, test) if c.per_image is None]
    if published:
        return _RowIntervals(note=f"no interval: {' and '.join(published)} has no per-image values (published curve)")
    if any(metric in c.dataset_metrics for c in (anchor, test)):
        return _RowIntervals(note=f"no interval: {label} is computed over the whole dataset (no per-image values)")
    if method != "pchip":
        return _RowIntervals(note=f"no interval: mean-curve intervals are computed for pchip only, not {method}")
    column, to_column = own
    if any(column not in c.per_image for c in (anchor, test)):
        return _RowIntervals(note=f"no interval: no per-image {label} values")
    images = sorted(pair.images or ())
    values = []
    for curve in (anchor, test):
        key = (id(curve), pair.images, metric)
        if key not in cache:
            cache[key] = curve_values(curve.per_image, images, column, to_column)
        values.append(cache[key])
    counts = resample_counts(len(images), how.resamples, how.seed)
    rates, metrics = resampled_bd(*values, counts, sign=sign, quality_range=how.quality_range,
                                  rate_range=how.rate_range)  # fmt: skip
    rate = percentile(rates) if math.isfinite(result.bd_rate) else Interval()
    value = percentile(metrics) if math.isfinite(result.bd_metric) else Interval()
    return _RowIntervals(rate, value, _join_notes(*dict.fromkeys((rate.note, value.note))))


def _per_image_intervals(result: _PairBD, how: _BootstrapSettings) -> _RowIntervals:
    """The intervals of a per-image BD: of the mean of the per-image values over resampled images."""
    if how.resamples <= 0 or not result.rates:
        return _RowIntervals()
    return _RowIntervals(
        mean_interval(result.rates, how.resamples, how.seed), mean_interval(result.values, how.resamples, how.seed)
    )


def bd_table(
    curves: Sequence[Curve],
    anchor: Curve,
    *,
    metrics: Sequence[str] | None = None,
    method: str = "pchip",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    quality_ranges: Mapping[str, tuple[float, float]] | None = None,
    rate_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """BD-rate (%) and BD-metric of every curve but the anchor, per metric column and aggregation
    (``metrics``: curve columns; by default :func:`compared_columns` of the anchor and the curves),
    each over the images of the module docstring, with the number of images and the quality interval.

    ``resamples`` (0: none) and ``seed``: the bootstrap intervals over images (:mod:`bench.analysis.bootstrap`);
    ``quality_ranges``: per curve column, a fixed quality range (the column's unit) for BD-rate;
    ``rate_range``: a fixed rate range (bpp) for BD-metric; both instead of the overlap."""
    registry = discover_metrics()
    if metrics is None:
        metrics = [c.name for c in compared_columns([anchor, *curves], registry)]
    columns = curve_columns([anchor, *curves], registry)
    quality_ranges = dict(quality_ranges or {})
    rows, means, cache = [], {}, {}
    for curve in curves:
        if curve is anchor:
            continue
        pair = paired_images(anchor, curve, columns)
        for metric in metrics:
            label, unit = column_label(metric, columns)
            sign = metric_sign(metric, columns)
            how = _BootstrapSettings(resamples, seed, quality_ranges.get(metric), rate_range)
            fixed = {"quality_range": how.quality_range, "rate_range": how.rate_range}
            mean = _mean_curve_bd(anchor, curve, pair, metric, method, label, unit, means, sign, **fixed)
            each = _per_image_bd(anchor, curve, pair, metric, method, label, unit, sign, **fixed)
            own = _own_column(metric, columns, registry)
            intervals = {
                "mean-curve": _mean_curve_intervals(
                    anchor, curve, pair, metric, method, label, mean, sign, how, own, cache
                ),
                "per-image": _per_image_intervals(each, how),
            }
            test = paired_test(each.rates) if each.rates else PairedTest()
            for aggregation, r in (("mean-curve", mean), ("per-image", each)):
                drawn = intervals[aggregation]
                rows.append(_BDRow(curve.label, anchor.label, metric, method, r.bd_rate, r.bd_metric, r.overlap,
                                   _join_notes(r.note, drawn.note), aggregation, r.images, r.low, r.high,
                                   drawn.rate.low, drawn.rate.high, drawn.metric.low, drawn.metric.high,
                                   test.p_value, test.share, r.rate_low, r.rate_high, resamples, seed))  # fmt: skip
    return pd.DataFrame([asdict(r) for r in rows], columns=list(BD_COLUMNS))


#: Columns of :func:`per_image_rates`.
PER_IMAGE_COLUMNS = ("codec", "anchor", "metric", "image", "bd_rate", "note")


def per_image_rates(
    curves: Sequence[Curve],
    anchor: Curve,
    *,
    metrics: Sequence[str],
    method: str = "pchip",
    quality_ranges: Mapping[str, tuple[float, float]] | None = None,
    rate_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Each image's BD-rate (%) of every run curve but the anchor against it, per metric column: the values
    whose mean is the table's per-image aggregation (the same images, interpolation and ranges; NaN with
    the reason where an image's curves cannot be compared). Columns :data:`PER_IMAGE_COLUMNS`; empty when
    the anchor has no per-image results."""
    registry = discover_metrics()
    columns = curve_columns([anchor, *curves], registry)
    quality_ranges = dict(quality_ranges or {})
    rows = []
    for curve in curves:
        if curve is anchor or curve.per_image is None or anchor.per_image is None:
            continue
        images = sorted(paired_images(anchor, curve, columns).images or ())
        for metric in metrics:
            if any(metric in c.dataset_metrics for c in (anchor, curve)):
                continue
            label, unit = column_label(metric, columns)
            fixed = {"quality_range": quality_ranges.get(metric), "rate_range": rate_range}
            each = _each_image(
                anchor, curve, images, metric, method, label, unit, metric_sign(metric, columns), **fixed
            )
            rows += [(curve.label, anchor.label, metric, image, r.bd_rate, r.note) for image, r in each]
    return pd.DataFrame(rows, columns=list(PER_IMAGE_COLUMNS))
