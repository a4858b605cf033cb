"""Bootstrap confidence intervals over images for BD values, and the paired test across images.

**Resamples.** The images of a comparison are resampled with replacement, ``resamples`` times
(:func:`resample_counts`: how many times each image is drawn in each resample, from
``numpy.random.default_rng(seed)``; the same seed and number of images give the same resamples, in
whatever table the pair appears). The interval is the 95% percentile interval of the statistic over
the resamples (``numpy.percentile`` at 2.5 and 97.5, linear interpolation), the same for both
aggregations:

* ``mean-curve``: in each resample, each curve's mean points are recomputed from the per-image values
  of the drawn images (an image drawn twice counts twice): the mean of bpp and of the metric's own
  values at each quality, then the dB form of the mean for a dB column (``ms_ssim_db``), as
  :func:`bench.analysis.curves.mean_points`; then BD between the two mean curves (:func:`resampled_bd`), PCHIP
  vectorised (:mod:`bench.analysis.bdvector`);
* ``per-image``: the mean of the per-image BD values of the drawn images (:func:`mean_interval`).

A resample whose BD has no value (the resampled curves do not overlap, or do not cover a fixed range)
is left out of the percentiles, and the interval's note says how many were.

**Paired test** (:func:`paired_test`): the two-sided Wilcoxon signed-rank test
(``scipy.stats.wilcoxon``, its defaults: zero differences dropped, exact distribution for up to 50
images without ties) of the per-image BD-rates against zero, and the number of images whose BD-rate
is negative (the test codec needs fewer bits: it "wins"). When every per-image BD-rate is exactly
zero (a codec against itself) the p-value is 1.0, not computed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from bench.analysis.bdrate import BDError, bd_metric, bd_rate
from bench.analysis.bdvector import pchip_bd, repeats_a_point

__all__ = [
    "LEVEL",
    "Interval",
    "PairedTest",
    "CurveValues",
    "resample_counts",
    "percentile_interval",
    "mean_interval",
    "paired_test",
    "curve_values",
    "resampled_bd",
    "bd_rows",
]

#: The coverage of the intervals.
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A percentile interval (NaN: none), from ``used`` of ``resamples`` resamples, and a note when
    some resamples had no value."""

    low: float = math.nan
    high: float = math.nan
    used: int = 0
    resamples: int = 0
    note: str = ""


@dataclass(frozen=True)
class PairedTest:
    """The Wilcoxon signed-rank p-value (two-sided) of the per-image BD-rates, and on how many of the
    ``images`` the test codec's BD-rate is negative."""

    p_value: float = math.nan
    wins: int = 0
    images: int = 0

    @property
    def share(self) -> str:
        """``"wins/images"`` (empty without images)."""
        return f"{self.wins}/{self.images}" if self.images else ""


@dataclass(frozen=True)
class CurveValues:
    """One curve's per-image values over the images of a comparison: ``rate`` (bpp) and ``quality`` (the
    metric's own values, sign applied later), one row per image and one column per quality; ``to_column``
    maps mean quality values to the compared column (its dB form), elementwise on arrays."""

    rate: np.ndarray
    quality: np.ndarray
    to_column: Callable[[np.ndarray], np.ndarray] | None = None

    def means(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per resample (row of ``counts``: draws per image), the mean rate and the compared column's value
        of the mean quality at each quality; NaN where a drawn image's value is not finite (such a point
        is left out of the BD, as the tables leave it out)."""
        n = counts.sum(axis=1, keepdims=True)
        out = []
        for values in (self.rate, self.quality):
            finite = np.isfinite(values)
            mean = counts @ np.where(finite, values, 0.0) / n
            bad = counts @ (~finite).astype(float) > 0
            out.append(np.where(bad, np.nan, mean))
        rate, quality = out
        if self.to_column is not None:
            quality = self.to_column(quality)
        return rate, quality


def resample_counts(images: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, images): how many times each image is drawn in each resample (each row sums to
    ``images``), from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    if images == 0 or resamples == 0:
        return np.zeros((resamples, images), dtype=float)
    return rng.multinomial(images, np.full(images, 1.0 / images), size=resamples).astype(float)


def percentile_interval(values: np.ndarray) -> Interval:
    """The 95% percentile interval of the finite ``values`` (one per resample)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    total = values.size
    if finite.size == 0:
        return Interval(used=0, resamples=total, note=f"no interval: none of the {total} resamples had a BD value")
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    note = ""
    if finite.size < total:
        note = f"interval from {finite.size} of {total} resamples (the others had no BD value)"
    return Interval(float(low), float(high), int(finite.size), total, note)


def mean_interval(values: Sequence[float], resamples: int, seed: int) -> Interval:
    """The interval of the mean of ``values`` (one per image) over resamples of the images."""
    v = np.asarray(values, dtype=float)
    counts = resample_counts(v.size, resamples, seed)
    return percentile_interval(counts @ v / max(v.size, 1))


def paired_test(rates: Sequence[float]) -> PairedTest:
    """The paired test of the module docstring on per-image BD-rates (percent; non-finite left out)."""
    r = np.asarray(rates, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return PairedTest()
    from scipy.stats import wilcoxon  # imported when a test is computed

    wins = int(np.sum(r < 0))
    if np.all(r == 0):
        return PairedTest(1.0, wins, int(r.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's notes on small samples and ties
        p = float(wilcoxon(r, alternative="two-sided").pvalue)
    return PairedTest(p, wins, int(r.size))


def curve_values(
    rows: pd.DataFrame,
    images: Iterable[str],
    column: str,
    to_column: Callable[[float], float] | None = None,
) -> CurveValues:
    """:class:`CurveValues` of a curve's per-image ``rows`` (``image``, ``quality``, ``bpp``, ``column``)
    over ``images`` (sorted by name): ``column`` is the metric's own values; ``to_column`` its dB form
    (a function of one value), applied to the means."""
    wanted = sorted(images)
    names = rows["image"].astype(str)
    part = rows[names.isin(set(wanted))]
    row = pd.Index(wanted).get_indexer(names[part.index])
    qualities, col = np.unique(part["quality"].to_numpy(float), return_inverse=True)
    shape = (len(wanted), len(qualities))
    drawn = np.zeros(shape)
    np.add.at(drawn, (row, col), 1.0)

    def per_image_means(value: str) -> np.ndarray:  # the mean of an image's records at a quality (normally one)
        sums = np.zeros(shape)
        np.add.at(sums, (row, col), part[value].to_numpy(float))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(drawn > 0, sums / drawn, np.nan)

    vectorised = None if to_column is None else np.vectorize(to_column, otypes=[float])
    return CurveValues(per_image_means("bpp"), per_image_means(column), vectorised)


def bd_rows(
    anchor_rate: np.ndarray,
    anchor_quality: np.ndarray,
    test_rate: np.ndarray,
    test_quality: np.ndarray,
    kind: str,
    interval: tuple[float, float] | None = None,
) -> np.ndarray:
    """PCHIP BD (``kind`` ``"rate"``: percent; ``"metric"``: quality units) of each row's curves, leaving
    out each row's non-finite points first (as the tables do): rows with the same points left are
    computed together (:func:`bench.analysis.bdvector.pchip_bd`), rows that repeat a point one by one with
    :mod:`bench.analysis.bdrate`; NaN where there is no BD value. ``interval``: a fixed range (quality for
    BD-rate, bpp for BD-metric)."""
    arrays = [np.atleast_2d(np.asarray(a, dtype=float)) for a in (anchor_rate, anchor_quality, test_rate, test_quality)]
    ra, qa, rt, qt = arrays
    out = np.full(ra.shape[0], np.nan)
    keep = np.concatenate([np.isfinite(ra) & np.isfinite(qa), np.isfinite(rt) & np.isfinite(qt)], axis=1)
    if keep.all():  # the usual case: one pattern, no sorting of the patterns
        patterns, group = keep[:1], np.zeros(keep.shape[0], dtype=int)
    else:
        patterns, group = np.unique(keep, axis=0, return_inverse=True)
    split = ra.shape[1]
    for index, pattern in enumerate(patterns):
        rows = np.flatnonzero(group.ravel() == index)
        a, t = pattern[:split], pattern[split:]
        args = (ra[np.ix_(rows, a)], qa[np.ix_(rows, a)], rt[np.ix_(rows, t)], qt[np.ix_(rows, t)])
        out[rows] = pchip_bd(*args, kind, interval=interval)
        repeated = repeats_a_point(args[0], args[1]) | repeats_a_point(args[2], args[3])
        for i in np.flatnonzero(repeated):
            out[rows[i]] = _bd_of_one_row(*(x[i] for x in args), kind, interval)
    return out


def _bd_of_one_row(ra, qa, rt, qt, kind: str, interval: tuple[float, float] | None) -> float:
    """The BD of one pair of curves with :mod:`bench.analysis.bdrate` (which merges repeated points); NaN
    where it has none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "rate":
                return bd_rate(ra, qa, rt, qt, "pchip", quality_range=interval)
            return bd_metric(ra, qa, rt, qt, "pchip", rate_range=interval)
        except BDError:
            return math.nan


def resampled_bd(
    anchor: CurveValues,
    test: CurveValues,
    counts: np.ndarray,
    *,
    sign: float = 1.0,
    quality_range: tuple[float, float] | None = None,
    rate_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(BD-rates in %, BD-metrics) of the mean curves of each resample (rows of ``counts``), PCHIP.

    ``sign`` -1 for a metric where lower is better: BD is computed on the negated values and BD-metric
    given back in the metric's direction, as in :mod:`bench.analysis.bd_table`; ``quality_range`` is in the
    compared column's unit, ``rate_range`` in bpp."""
    ra, qa = anchor.means(counts)
    rt, qt = test.means(counts)
    interval = None
    if quality_range is not None:
        lo, hi = sign * quality_range[0], sign * quality_range[1]
        interval = (min(lo, hi), max(lo, hi))
    rates = bd_rows(ra, sign * qa, rt, sign * qt, "rate", interval)
    metrics = sign * bd_rows(ra, sign * qa, rt, sign * qt, "metric", rate_range)
    return rates, metrics
