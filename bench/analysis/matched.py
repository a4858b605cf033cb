"""Matched-quality size ratios per image: how big a codec's files are at the anchor's quality.

What webmproject's codec-compare reports, per image instead of on mean curves. For a codec (the
*test*) against the anchor, a compared curve column (``psnr_rgb``, ``ms_ssim_db``, ...: the columns of
the BD table, :func:`bench.analysis.bd_table.compared_columns`) and each image of the pair (the images both curves
measured, with every metric defined, at every quality: the BD table's rule, reused from
:mod:`bench.analysis.bd_table`):

* each of the anchor's quality settings on that image gives one anchor point: its measured bpp and
  quality (the column's unit: dB for PSNR and MS-SSIM-dB);
* the test codec's bpp at that same quality is interpolated on the test codec's own curve of that image:
  PCHIP of log(bpp) against quality (``scipy.interpolate.PchipInterpolator``, the BD code's
  interpolation, with its checks: :func:`bench.analysis.bdrate` sorts the points, merges repeated ones and needs
  quality to rise strictly with rate). An anchor quality equal to one of the test curve's own qualities
  takes that point's bpp as measured. For a column where lower is better (CIEDE2000, ...) the values are
  negated first, as in the BD table;
* ``ratio = test_bpp / anchor_bpp`` (dimensionless): the test codec's file size at equal quality as a
  fraction of the anchor's; below 1 the test codec's files are smaller.

Nothing is extrapolated: an anchor point whose quality lies outside the test codec's quality range on
that image (or is not finite) is left out and counted, as are the points of an image whose test curve
cannot be interpolated (a quality that does not rise with rate, fewer than two points); the note says
why.

**Summaries** (:func:`matched_table`), per (codec, metric): ``geomean_ratio``, the geometric mean of all
the ratios (pooled over images and anchor settings), ``p10_ratio``, ``p90_ratio`` (``numpy.percentile``,
linear), ``ratios`` used and ``left_out``, ``images`` (the images with at least one ratio) and
``smaller_on``: on how many of them the geometric mean of the image's ratios is below 1. The row's
``setting`` is ``all``; one row per anchor setting (the anchor's ``quality`` value) gives the same
statistics over the images at that setting. Published curves have no per-image data: they are skipped
(:attr:`MatchedQuality.skipped`), as is every curve when the anchor is published. The report renders the
summaries (:func:`bench.report.tables.matched_markdown`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from bench.analysis.bd_table import (
    column_label,
    compared_columns,
    curve_columns,
    metric_sign,
    paired_images,
)
from bench.analysis.bdrate import BDError, curve_arrays
from bench.analysis.bdvector import accepted_rows, pchip_at, sorted_by_rate
from bench.analysis.curves import Curve
from bench.api.metric_registry import discover_metrics

__all__ = ["MATCHED_COLUMNS", "POINT_COLUMNS", "MatchedQuality", "matched_points", "matched_table"]

#: The columns of ``matched_quality.csv``.
MATCHED_COLUMNS = (
    "codec",
    "anchor",
    "metric",
    "setting",
    "geomean_ratio",
    "p10_ratio",
    "p90_ratio",
    "ratios",
    "left_out",
    "images",
    "smaller_on",
    "note",
)
#: The columns of :func:`matched_points`: one row per anchor point (bpp, quality in the column's unit).
POINT_COLUMNS = ("image", "setting", "anchor_bpp", "quality", "test_bpp", "ratio")


@dataclass(frozen=True)
class MatchedQuality:
    """``table``: the rows of :data:`MATCHED_COLUMNS`; ``skipped``: the labels of the published curves
    left out (no per-image data); ``anchor``: the anchor's label; ``anchor_published``: the anchor is a
    published curve, so nothing is compared."""

    table: pd.DataFrame
    skipped: tuple[str, ...]
    anchor: str
    anchor_published: bool = False


@dataclass(frozen=True)
class _AnchorPoints:
    """One (anchor, test, metric)'s anchor points (:data:`POINT_COLUMNS`; ``ratio`` NaN for a point left
    out) and why points were left out."""

    frame: pd.DataFrame
    notes: tuple[str, ...]


def _image_points(curve: Curve, metric: str, sign: float) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Image -> (settings, bpp, sign * quality) of ``curve`` on that image, one point per setting (the mean of
    its records, normally one; NaN skipped as pandas' mean does), sorted by setting; non-finite values kept.
    One grouping of the whole curve: a report of 40,000 records asks this for every pair and metric."""
    rows = curve.per_image
    means = rows.groupby([rows["image"].astype(str), "quality"], sort=True)[["bpp", metric]].mean()
    names = means.index.get_level_values(0).to_numpy()
    settings = means.index.get_level_values(1).to_numpy(float)
    bpp, quality = means["bpp"].to_numpy(float), sign * means[metric].to_numpy(float)
    bounds = [*np.flatnonzero(names[1:] != names[:-1]) + 1, len(names)]
    out, start = {}, 0
    for end in bounds if len(names) else ():
        out[str(names[start])] = (settings[start:end], bpp[start:end], quality[start:end])
        start = end
    return out


def _test_bpp_at(rate: np.ndarray, signed_quality: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The test curve's bpp at the (signed) qualities ``wanted``, from its points (bpp, sign * quality; one per
    setting, non-finite ones left out here): measured bpp where a quality is one of the curve's, else
    exp(PCHIP of log bpp against quality); NaN outside the curve's quality range. Raises
    :class:`bench.analysis.bdrate.BDError` for a curve that cannot be interpolated."""
    from scipy.interpolate import PchipInterpolator  # imported when a curve is interpolated

    keep = np.isfinite(rate) & np.isfinite(signed_quality)
    rate, signed_quality = rate[keep], signed_quality[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repeated points are merged
        log_rate, signed = curve_arrays(rate, signed_quality, "test", "pchip")
    inside = np.isfinite(wanted) & (wanted >= signed[0]) & (wanted <= signed[-1])
    out = np.full(wanted.shape, math.nan)
    out[inside] = np.exp(PchipInterpolator(signed, log_rate, extrapolate=False)(wanted[inside]))
    measured = dict(zip(signed_quality.tolist(), rate.tolist(), strict=True))
    for i in np.flatnonzero(inside):
        out[i] = measured.get(float(wanted[i]), out[i])
    return out


def _test_bpp_at_once(images: Sequence[str], anchor: dict, test: dict) -> dict[str, np.ndarray]:
    """:func:`_test_bpp_at` of many images at once (``anchor``, ``test``: :func:`_image_points`), for the
    images whose test points are all finite, with rates above 0 and quality strictly rising with rate (the
    others, which :func:`_test_bpp_at` merges or refuses, are not in the result). Images with the same
    numbers of points are interpolated together (:func:`bench.analysis.bdvector.pchip_at`)."""
    shapes: dict[tuple[int, int], list[str]] = {}
    for image in images:
        shapes.setdefault((len(test[image][1]), len(anchor[image][2])), []).append(image)
    found = {}
    for names in shapes.values():
        rate, signed = sorted_by_rate(np.stack([test[n][1] for n in names]), np.stack([test[n][2] for n in names]))
        wanted = np.stack([anchor[n][2] for n in names])
        ok = accepted_rows(rate, signed)
        if rate.shape[1] < 2 or not ok.any():
            continue
        rate, signed, wanted = rate[ok], signed[ok], wanted[ok]
        out = np.exp(pchip_at(signed, np.log(rate), wanted))
        same = wanted[:, :, None] == signed[:, None, :]  # a measured quality: its measured bpp
        measured = np.take_along_axis(rate, np.argmax(same, axis=-1), -1)
        out = np.where(same.any(-1), measured, out)
        found.update(zip(np.array(names)[ok].tolist(), out, strict=True))
    return found


def _pair_points(anchor: Curve, test: Curve, images: Sequence[str], metric: str, sign: float) -> _AnchorPoints:
    """The anchor points of ``metric`` on each of ``images``, with the test codec's bpp at their quality."""
    if any(metric not in c.per_image for c in (anchor, test)):
        return _AnchorPoints(pd.DataFrame(columns=list(POINT_COLUMNS)), ("no per-image values",))
    a_points, t_points = _image_points(anchor, metric, sign), _image_points(test, metric, sign)
    images = sorted(images)
    at_once = _test_bpp_at_once(images, a_points, t_points)
    parts: dict[str, list] = {column: [] for column in POINT_COLUMNS}
    outside, failed = 0, []
    for image in images:
        settings, bpp, quality = a_points[image]
        try:
            other = at_once[image] if image in at_once else _test_bpp_at(*t_points[image][1:], quality)
            outside += int((~np.isfinite(other)).sum())
        except BDError as exc:
            failed.append(f"{image}: {exc}")
            other = np.full(quality.shape, math.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(bpp > 0, other / bpp, math.nan)
        for column, values in zip(POINT_COLUMNS, ([image] * len(settings), settings, bpp, sign * quality, other,
                                                  ratio), strict=True):  # fmt: skip
            parts[column].append(values)
    notes = []
    if outside:
        notes.append(f"{outside} anchor point(s) outside {test.label}'s quality range on their image left out")
    if failed:
        notes.append(f"the points of {len(failed)} image(s) whose {test.label} curve cannot be interpolated left "
                     f"out ({'; '.join(failed[:2])}{'; ...' if len(failed) > 2 else ''})")  # fmt: skip
    if not parts["image"]:
        return _AnchorPoints(pd.DataFrame(columns=list(POINT_COLUMNS)), tuple(notes))
    frame = pd.DataFrame({column: np.concatenate(values) for column, values in parts.items()})
    return _AnchorPoints(frame, tuple(notes))


def matched_points(anchor: Curve, test: Curve, metric: str) -> pd.DataFrame:
    """One row per anchor point of ``metric`` (a curve column) over the pair's images (:data:`POINT_COLUMNS`:
    ``setting`` is the anchor's quality setting, ``anchor_bpp`` and ``test_bpp`` in bpp, ``quality`` in the
    column's unit, ``ratio = test_bpp / anchor_bpp``; ``test_bpp`` and ``ratio`` NaN for a point left out)."""
    columns = curve_columns([anchor, test], discover_metrics())
    images = paired_images(anchor, test, columns).images or ()
    return _pair_points(anchor, test, sorted(images), metric, metric_sign(metric, columns)).frame


def _ratio_statistics(frame: pd.DataFrame) -> dict:
    """The statistics of one row from its anchor points (:data:`POINT_COLUMNS`)."""
    ratio = frame["ratio"].to_numpy(float)
    used = frame[np.isfinite(ratio)]
    ratios = ratio[np.isfinite(ratio)]
    left_out = int(ratio.size - ratios.size)
    if ratios.size == 0:
        return dict(geomean_ratio=math.nan, p10_ratio=math.nan, p90_ratio=math.nan, ratios=0, left_out=left_out,
                    images=0, smaller_on=0)  # fmt: skip
    p10, p90 = np.percentile(ratios, [10, 90])
    by_image = np.exp(np.log(used["ratio"].astype(float)).groupby(used["image"]).mean())
    return dict(geomean_ratio=float(np.exp(np.mean(np.log(ratios)))), p10_ratio=float(p10), p90_ratio=float(p90),
                ratios=int(ratios.size), left_out=left_out, images=int(by_image.size),
                smaller_on=int((by_image < 1).sum()))  # fmt: skip


def matched_table(curves: Sequence[Curve], anchor: Curve, *, metrics: Sequence[str] | None = None) -> MatchedQuality:
    """The summaries of the module docstring for every run curve but the anchor, per column of ``metrics``
    (default: :func:`bench.analysis.bd_table.compared_columns`): an ``all`` row, then one row per anchor setting."""
    registry = discover_metrics()
    if metrics is None:
        metrics = [c.name for c in compared_columns([anchor, *curves], registry)]
    columns = curve_columns([anchor, *curves], registry)
    others = [c for c in curves if c is not anchor]
    skipped = tuple(c.label for c in others if c.per_image is None)
    rows = []
    for curve in others if anchor.per_image is not None else ():
        if curve.per_image is None:
            continue
        pair = paired_images(anchor, curve, columns)
        for metric in metrics:
            base = dict(codec=curve.label, anchor=anchor.label, metric=metric)
            if any(metric in c.dataset_metrics for c in (anchor, curve)):
                note = f"{column_label(metric, columns)[0]} is computed over the whole dataset: no per-image values"
                empty = pd.DataFrame(columns=list(POINT_COLUMNS))
                rows.append({**base, "setting": "all", **_ratio_statistics(empty), "note": note})
                continue
            points = _pair_points(anchor, curve, sorted(pair.images or ()), metric, metric_sign(metric, columns))
            frame = points.frame
            note = "; ".join([*pair.notes, *points.notes])
            rows.append({**base, "setting": "all", **_ratio_statistics(frame), "note": note})
            for setting in sorted(set(frame["setting"].astype(float))):
                part = frame[frame["setting"].astype(float) == setting]
                rows.append({**base, "setting": f"{setting:g}", **_ratio_statistics(part), "note": ""})
    table = pd.DataFrame(rows, columns=list(MATCHED_COLUMNS))
    return MatchedQuality(table, skipped, anchor.label, anchor.per_image is None)
