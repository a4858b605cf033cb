"""Bjøntegaard-delta rate and quality between two rate-distortion curves.

Definitions (G. Bjøntegaard, VCEG-M33, 2001; JCT-VC/JVET common test conditions, JCTVC-L1100 and
JVET-T2010, whose Excel sheets interpolate piecewise):

* **BD-rate**: the average difference of log-rate at equal quality. Each curve's log-rate is
  interpolated as a function of its quality values, both interpolants are integrated exactly over
  the quality interval the two curves share, and ``bd_rate = (exp(mean difference) - 1) * 100``:
  the average rate change of the test against the anchor, in percent (negative: the test needs
  fewer bits). Rates may be in any unit (bpp, bits, kbit/s): they enter as logarithms, so units
  cancel.
* **BD-metric** (BD-PSNR for PSNR): the average quality difference at equal rate, from the quality
  interpolated as a function of log-rate, integrated over the shared log-rate interval; in the
  quality's unit (dB for PSNR), positive when the test is better.

Interpolation methods:

* ``"cubic"``: VCEG-M33, one cubic polynomial fitted by least squares (through the points when there
  are exactly four); needs at least four points per curve.
* ``"pchip"`` (default): piecewise cubic Hermite interpolation with Fritsch-Carlson/Butland slopes
  and the three-point shape-preserving end slopes, as in the JCT-VC/JVET Excel sheets
  (JCTVC-E137); needs two points per curve.
* ``"akima"``: Akima's piecewise cubic (Herglotz et al., 2022); needs two points per curve.

The interpolants are integrated exactly (antiderivatives of the cubic pieces) over the overlap of
the two curves only: nothing is extrapolated. A fixed range may be given instead (``quality_range``
for BD-rate, in the quality's unit; ``rate_range`` for BD-metric, in the rates' unit): both curves must
cover it, else :class:`OutsideRangeError` says which curve covers what. Points are sorted for the caller, and the two curves
may have different numbers of points.

Problems give a typed outcome instead of a silent number: :class:`NoOverlapError`,
:class:`TooFewPointsError`, :class:`NonMonotonicError` (quality not strictly increasing with rate,
which includes equal rates with different qualities), :class:`InvalidPointsError` (non-finite values,
rates <= 0), and the warnings :class:`SmallOverlapWarning` (the curves share less than
``min_overlap`` of the shorter one's range) and :class:`DuplicatePointsWarning` (identical points,
merged).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

__all__ = [
    "METHODS",
    "BDResult",
    "BDError",
    "NoOverlapError",
    "TooFewPointsError",
    "NonMonotonicError",
    "InvalidPointsError",
    "OutsideRangeError",
    "SmallOverlapWarning",
    "DuplicatePointsWarning",
    "bd_rate",
    "bd_metric",
    "bd_compare",
]

Method = Literal["cubic", "pchip", "akima"]
METHODS: tuple[str, ...] = ("cubic", "pchip", "akima")
#: Below this shared fraction of the shorter curve's range a result is computed but warned about.
DEFAULT_MIN_OVERLAP = 0.5


class BDError(ValueError):
    """A BD computation that has no meaningful result for these curves."""


class NoOverlapError(BDError):
    """The two curves share no quality (or rate) interval."""


class TooFewPointsError(BDError):
    """A curve has fewer points than the method needs."""


class NonMonotonicError(BDError):
    """A curve's quality does not strictly increase with its rate."""


class InvalidPointsError(BDError):
    """Non-finite values, non-positive rates or mismatched lengths."""


class OutsideRangeError(BDError):
    """A fixed integration range that a curve does not cover (nothing is extrapolated)."""


class SmallOverlapWarning(UserWarning):
    """The curves overlap over only a small part of their ranges; the average covers that part only."""


class DuplicatePointsWarning(UserWarning):
    """A curve repeats a point; the copies were merged."""


@dataclass(frozen=True)
class BDResult:
    """BD-rate (percent) and BD-metric (quality units) of a test curve against an anchor curve.

    ``overlap_metric`` / ``overlap_rate``: the shared part of the quality / log-rate ranges as a
    fraction of the shorter curve's range (1.0: one range lies within the other). ``notes`` lists
    what the warnings said.
    """

    bd_rate: float
    bd_metric: float
    method: str
    overlap_metric: float
    overlap_rate: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def _min_points(method: str) -> int:
    """The fewest points a curve needs for ``method``."""
    return 4 if method == "cubic" else 2


def curve_arrays(
    rate: Sequence[float], metric: Sequence[float], label: str, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validated (log-rate, metric) arrays of one curve, sorted by rate, duplicates merged."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    r = np.asarray(rate, dtype=float).ravel()
    m = np.asarray(metric, dtype=float).ravel()
    if r.shape != m.shape:
        raise InvalidPointsError(f"{label} curve: {r.size} rates but {m.size} quality values")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(m))):
        raise InvalidPointsError(f"{label} curve has non-finite values: rates {r.tolist()}, quality {m.tolist()}")
    if np.any(r <= 0):
        raise InvalidPointsError(f"{label} curve has rates <= 0: {r.tolist()}")
    order = np.lexsort((m, r))  # by rate, then quality; each (rate, quality) point once
    r, m = r[order], m[order]
    distinct = np.concatenate([[True], (np.diff(r) != 0) | (np.diff(m) != 0)])
    if not distinct.all():
        warnings.warn(
            f"{label} curve repeats {int(np.count_nonzero(~distinct))} point(s); duplicates merged",
            DuplicatePointsWarning,
            stacklevel=3,
        )
        r, m = r[distinct], m[distinct]
    needed = _min_points(method)
    if r.size < needed:
        raise TooFewPointsError(f"{label} curve has {r.size} distinct point(s); method '{method}' needs {needed}")
    rising = np.diff(m) > 0
    if not np.all(rising) or np.any(np.diff(r) == 0):
        bad = [(float(r[i]), float(m[i]), float(r[i + 1]), float(m[i + 1])) for i in np.flatnonzero(~rising)]
        raise NonMonotonicError(
            f"{label} curve: quality does not strictly increase with rate "
            f"(rate, quality) -> (rate, quality): {', '.join(f'({a:g}, {b:g}) -> ({c:g}, {d:g})' for a, b, c, d in bad)}"
        )
    return np.log(r), m


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Exact integral over [lo, hi] of the interpolant of y(x); x strictly increasing, lo..hi within it."""
    from scipy.interpolate import Akima1DInterpolator, PchipInterpolator  # imported when a BD value is computed

    if method == "cubic":
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
    if method == "pchip":
        return float(PchipInterpolator(x, y, extrapolate=False).integrate(lo, hi))
    if x.size == 2:  # Akima needs three points; with two, every method is the straight line
        return float(np.interp([lo, hi], x, y).sum() * (hi - lo) / 2)
    return float(Akima1DInterpolator(x, y, extrapolate=False).integrate(lo, hi))


def _shared_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(low, high) of the interval two sorted axes share, and its length as a fraction of the shorter one's."""
    lo, hi = max(a[0], b[0]), min(a[-1], b[-1])
    shorter = min(a[-1] - a[0], b[-1] - b[0])
    fraction = (hi - lo) / shorter if shorter > 0 else 0.0
    return float(lo), float(hi), float(fraction)


def _mean_difference(x_anchor, y_anchor, x_test, y_test, method: str, what: str,
                     interval: tuple[float, float] | None = None) -> tuple[float, float]:  # fmt: skip
    """(mean of y_test - y_anchor over the shared x interval, or ``interval``; the shared fraction)."""
    lo, hi, fraction = _shared_interval(x_anchor, x_test)
    if interval is not None:
        lo, hi = interval
        if not hi > lo:
            raise OutsideRangeError(f"the {what} range {_bounds_text(lo, hi, what)} is empty")
        for label, x in (("anchor", x_anchor), ("test", x_test)):
            if not (x[0] <= lo and hi <= x[-1]):
                raise OutsideRangeError(
                    f"the {label} curve covers {what} {_span_text(x, what)}, not the range {_bounds_text(lo, hi, what)}"
                )
    elif hi <= lo:
        raise NoOverlapError(
            f"the curves share no {what} interval: anchor {_span_text(x_anchor, what)}, test {_span_text(x_test, what)}"
        )
    diff = _integral(x_test, y_test, lo, hi, method) - _integral(x_anchor, y_anchor, lo, hi, method)
    return diff / (hi - lo), fraction


def _span_text(x: np.ndarray, what: str) -> str:
    """The range a sorted axis covers, as :func:`_bounds_text` writes it."""
    return _bounds_text(x[0], x[-1], what)


def _bounds_text(lo: float, hi: float, what: str) -> str:
    """``lo..hi`` in the axis' own unit (a log-rate axis, ``what == "rate"``, as rates)."""
    if what == "rate":
        return f"{math.exp(lo):g}..{math.exp(hi):g}"
    return f"{lo:g}..{hi:g}"


def _log_range(rate_range: tuple[float, float] | None) -> tuple[float, float] | None:
    """A fixed rate range as log-rates (None stays None); :class:`InvalidPointsError` unless both are finite and > 0."""
    if rate_range is None:
        return None
    lo, hi = (float(v) for v in rate_range)
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidPointsError(f"a rate range needs two finite rates > 0, not {lo:g}..{hi:g}")
    return math.log(lo), math.log(hi)


def _bd_value(anchor_rate, anchor_metric, test_rate, test_metric, method: str, kind: str,
        interval: tuple[float, float] | None = None) -> tuple[float, float]:  # fmt: skip
    """(BD-rate in % or BD-metric, overlap fraction) without warnings about the overlap; ``interval``:
    the fixed range (quality, or log-rate) instead of the shared one."""
    log_ra, ma = curve_arrays(anchor_rate, anchor_metric, "anchor", method)
    log_rt, mt = curve_arrays(test_rate, test_metric, "test", method)
    if kind == "rate":  # log-rate as a function of quality, over the shared quality interval
        diff, fraction = _mean_difference(ma, log_ra, mt, log_rt, method, "quality", interval)
        return 100.0 * math.expm1(diff), fraction
    # quality as a function of log-rate, over the shared log-rate interval
    return _mean_difference(log_ra, ma, log_rt, mt, method, "rate", interval)


def _overlap_note(fraction: float, min_overlap: float, what: str) -> str | None:
    """A :class:`SmallOverlapWarning`, and its text, when the curves share less than ``min_overlap``."""
    if fraction >= min_overlap:
        return None
    note = overlap_text(fraction, what)
    warnings.warn(note, SmallOverlapWarning, stacklevel=3)
    return note


def overlap_text(fraction: float, what: str) -> str:
    """What a :class:`SmallOverlapWarning` says: the curves share ``fraction`` of the shorter one's ``what``
    (``quality`` or ``rate``) range."""
    return f"the curves share only {100 * fraction:.0f}% of the shorter one's {what} range"


def bd_rate(
    anchor_rate: Sequence[float],
    anchor_metric: Sequence[float],
    test_rate: Sequence[float],
    test_metric: Sequence[float],
    method: Method = "pchip",
    *,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    quality_range: tuple[float, float] | None = None,
) -> float:
    """Average rate difference of the test against the anchor at equal quality, in percent.

    Negative: the test saves bits. ``quality_range`` (quality units): integrate over it instead of the
    shared quality range. See the module docstring for methods and errors.
    """
    interval = None if quality_range is None else (float(quality_range[0]), float(quality_range[1]))
    value, fraction = _bd_value(anchor_rate, anchor_metric, test_rate, test_metric, method, "rate", interval)
    _overlap_note(fraction, min_overlap, "quality")
    return value


def bd_metric(
    anchor_rate: Sequence[float],
    anchor_metric: Sequence[float],
    test_rate: Sequence[float],
    test_metric: Sequence[float],
    method: Method = "pchip",
    *,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    rate_range: tuple[float, float] | None = None,
) -> float:
    """Average quality difference of the test against the anchor at equal rate (dB for PSNR).

    Positive: the test is better. ``rate_range`` (the rates' unit): integrate over it instead of the
    shared rate range. See the module docstring for methods and errors.
    """
    value, fraction = _bd_value(
        anchor_rate, anchor_metric, test_rate, test_metric, method, "metric", _log_range(rate_range)
    )
    _overlap_note(fraction, min_overlap, "rate")
    return value


def bd_compare(
    anchor_rate: Sequence[float],
    anchor_metric: Sequence[float],
    test_rate: Sequence[float],
    test_metric: Sequence[float],
    method: Method = "pchip",
    *,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    quality_range: tuple[float, float] | None = None,
    rate_range: tuple[float, float] | None = None,
) -> BDResult:
    """BD-rate and BD-metric together, with both overlaps and the notes the warnings gave;
    ``quality_range`` / ``rate_range`` as for :func:`bd_rate` / :func:`bd_metric`."""
    interval = None if quality_range is None else (float(quality_range[0]), float(quality_range[1]))
    rate, overlap_metric = _bd_value(anchor_rate, anchor_metric, test_rate, test_metric, method, "rate", interval)
    metric, overlap_rate = _bd_value(
        anchor_rate, anchor_metric, test_rate, test_metric, method, "metric", _log_range(rate_range)
    )
    notes = [_overlap_note(overlap_metric, min_overlap, "quality"), _overlap_note(overlap_rate, min_overlap, "rate")]
    return BDResult(rate, metric, method, overlap_metric, overlap_rate, tuple(n for n in notes if n))
