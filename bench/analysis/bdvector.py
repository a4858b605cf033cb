"""BD-rate and BD-metric of many pairs of curves at once, PCHIP interpolation (vectorised).

The same numbers as :func:`bench.analysis.bdrate.bd_rate` and :func:`bench.analysis.bdrate.bd_metric` with
``method="pchip"`` (to rounding, about 1e-12), for arrays of curves: row ``i`` of the anchor arrays and
row ``i`` of the test arrays are one pair. All anchor rows have the same number of points, and so have
all test rows (the two numbers may differ). Within a row the points may come in any order: they are
sorted by rate here, as :mod:`bench.analysis.bdrate` sorts them.

The interpolant is scipy's ``PchipInterpolator``, written out: Fritsch-Carlson/Butland slopes (the
weighted harmonic mean of the neighbouring secant slopes, zero where they differ in sign or one is
zero), the three-point one-sided end slopes made shape-preserving (Moler's ``pchiptx``: zero when
their sign differs from the end secant's, three times the end secant when the two end secants differ
in sign and the estimate exceeds three times the end secant), a straight line for two points; the
cubic pieces are integrated exactly. Units: BD-rate in percent, BD-metric in the quality's unit.

A row where :mod:`bench.analysis.bdrate` would raise (non-finite values, rates <= 0, fewer than two points,
quality not strictly increasing with rate, no overlap, a fixed range a curve does not cover) is NaN.
A row that repeats a point exactly (which :mod:`bench.analysis.bdrate` merges, with a warning) is NaN too:
:func:`repeats_a_point` finds such rows, for the caller to compute them one by one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pchip_bd", "pchip_at", "repeats_a_point", "accepted_rows", "sorted_by_rate"]


def sorted_by_rate(rate: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's points sorted by rate, then quality (as ``sorted`` sorts (rate, quality) pairs)."""
    order = np.lexsort((metric, rate), axis=-1)
    return np.take_along_axis(rate, order, -1), np.take_along_axis(metric, order, -1)


def repeats_a_point(rate: np.ndarray, metric: np.ndarray) -> np.ndarray:
    """Which rows (of 2-D arrays) have two identical (rate, quality) points."""
    r, m = sorted_by_rate(np.asarray(rate, float), np.asarray(metric, float))
    return np.any((np.diff(r, axis=-1) == 0) & (np.diff(m, axis=-1) == 0), axis=-1)


def accepted_rows(r: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows (sorted) that :mod:`bench.analysis.bdrate` accepts as a pchip curve without merging points."""
    finite = np.all(np.isfinite(r) & np.isfinite(m), axis=-1)
    with np.errstate(invalid="ignore"):
        positive = np.all(r > 0, axis=-1)
        rising = np.all((np.diff(m, axis=-1) > 0) & (np.diff(r, axis=-1) != 0), axis=-1)
    return finite & positive & rising & (r.shape[-1] >= 2)


def _end_slope(h0: np.ndarray, h1: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """scipy's ``PchipInterpolator._edge_case``: the shape-preserving three-point end slope."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    zero = np.sign(d) != np.sign(m0)
    triple = ~zero & (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3 * np.abs(m0))
    return np.where(zero, 0.0, np.where(triple, 3 * m0, d))


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PCHIP derivatives at the points of each row (scipy's ``PchipInterpolator._find_derivatives``)."""
    h = np.diff(x, axis=-1)
    m = np.diff(y, axis=-1) / h
    if x.shape[-1] == 2:
        return np.concatenate([m, m], axis=-1)
    flat = (np.sign(m[:, 1:]) != np.sign(m[:, :-1])) | (m[:, 1:] == 0) | (m[:, :-1] == 0)
    w1 = 2 * h[:, 1:] + h[:, :-1]
    w2 = h[:, 1:] + 2 * h[:, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = np.where(flat, 0.0, (w1 + w2) / (w1 / m[:, :-1] + w2 / m[:, 1:]))
    first = _end_slope(h[:, 0], h[:, 1], m[:, 0], m[:, 1])
    last = _end_slope(h[:, -1], h[:, -2], m[:, -1], m[:, -2])
    return np.concatenate([first[:, None], inner, last[:, None]], axis=-1)


def _integral(x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, the exact integral over [lo, hi] of the PCHIP interpolant of y(x) (x sorted, lo..hi in range)."""
    h = np.diff(x, axis=-1)
    d = _slopes(x, y)
    slope = np.diff(y, axis=-1) / h
    t = (d[:, :-1] + d[:, 1:] - 2 * slope) / h  # scipy's CubicHermiteSpline coefficients, local t = x - x_i
    c3, c2, c1, c0 = t / h, (slope - d[:, :-1]) / h - t, d[:, :-1], y[:, :-1]
    a = np.clip(lo[:, None] - x[:, :-1], 0.0, h)
    b = np.clip(hi[:, None] - x[:, :-1], 0.0, h)

    def antiderivative(s: np.ndarray) -> np.ndarray:
        return s * (c0 + s * (c1 / 2 + s * (c2 / 3 + s * c3 / 4)))

    return np.sum(antiderivative(b) - antiderivative(a), axis=-1)


def pchip_at(x: np.ndarray, y: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per row, the PCHIP interpolant of y(x) at the row's ``wanted`` points: scipy's
    ``PchipInterpolator(x, y, extrapolate=False)(wanted)`` for every row at once (equal to rounding, about
    1e-15 relative). ``x``, ``y``: (rows, points), ``x`` strictly increasing in each row, at least two points;
    ``wanted``: (rows, k). NaN outside [first x, last x] and where ``wanted`` is not finite."""
    x, y, wanted = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (x, y, wanted))
    h = np.diff(x, axis=-1)
    d = _slopes(x, y)
    slope = np.diff(y, axis=-1) / h
    t = (d[:, :-1] + d[:, 1:] - 2 * slope) / h  # scipy's CubicHermiteSpline coefficients, local s = x - x_i
    c3, c2, c1, c0 = t / h, (slope - d[:, :-1]) / h - t, d[:, :-1], y[:, :-1]
    with np.errstate(invalid="ignore"):
        piece = np.sum(wanted[:, :, None] >= x[:, None, 1:-1], axis=-1)  # x_i <= wanted < x_(i+1), as scipy
        inside = (wanted >= x[:, :1]) & (wanted <= x[:, -1:])
    s = wanted - np.take_along_axis(x, piece, -1)
    at = [np.take_along_axis(c, piece, -1) for c in (c0, c1, c2, c3)]
    value = at[0] + at[1] * s + at[2] * (s * s) + at[3] * (s * s * s)  # scipy sums the powers in this order
    return np.where(inside, value, np.nan)


def pchip_bd(
    anchor_rate: np.ndarray,
    anchor_metric: np.ndarray,
    test_rate: np.ndarray,
    test_metric: np.ndarray,
    kind: str = "rate",
    *,
    interval: tuple[np.ndarray | float, np.ndarray | float] | None = None,
) -> np.ndarray:
    """BD-rate (``kind="rate"``, percent) or BD-metric (``kind="metric"``, quality units) of each row's
    test curve against its anchor curve, PCHIP, as :func:`bench.analysis.bdrate.bd_rate` / ``bd_metric``.

    Arrays are 2-D, (pairs, points); 1-D arrays are one pair. ``interval``: integrate over this fixed
    range (quality for BD-rate, rate in the rates' unit for BD-metric; a number or one per row)
    instead of the shared range; a row where a curve does not cover it is NaN. NaN rows: see the
    module docstring."""
    if kind not in ("rate", "metric"):
        raise ValueError(f"kind must be 'rate' or 'metric', not {kind!r}")
    arrays = [np.atleast_2d(np.asarray(a, dtype=float)) for a in (anchor_rate, anchor_metric, test_rate, test_metric)]
    ra, ma, rt, mt = arrays
    if ra.shape != ma.shape or rt.shape != mt.shape or ra.shape[0] != rt.shape[0]:
        raise ValueError(f"shapes differ: anchor {ra.shape} / {ma.shape}, test {rt.shape} / {mt.shape}")
    rows = ra.shape[0]
    out = np.full(rows, np.nan)
    if rows == 0 or ra.shape[1] < 2 or rt.shape[1] < 2:
        return out
    ra, ma = sorted_by_rate(ra, ma)
    rt, mt = sorted_by_rate(rt, mt)
    ok = accepted_rows(ra, ma) & accepted_rows(rt, mt)
    if not ok.any():
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lt = np.log(ra[ok]), np.log(rt[ok])
    ma, mt = ma[ok], mt[ok]
    if kind == "rate":  # log-rate as a function of quality
        xa, ya, xt, yt = ma, la, mt, lt
    else:  # quality as a function of log-rate
        xa, ya, xt, yt = la, ma, lt, mt
    if interval is None:
        lo = np.maximum(xa[:, 0], xt[:, 0])
        hi = np.minimum(xa[:, -1], xt[:, -1])
        inside = hi > lo
    else:
        lo = np.broadcast_to(np.asarray(interval[0], dtype=float), (rows,))[ok]
        hi = np.broadcast_to(np.asarray(interval[1], dtype=float), (rows,))[ok]
        if kind == "metric":
            with np.errstate(divide="ignore", invalid="ignore"):
                lo, hi = np.log(lo), np.log(hi)
        inside = (hi > lo) & (xa[:, 0] <= lo) & (xt[:, 0] <= lo) & (hi <= xa[:, -1]) & (hi <= xt[:, -1])
    lo, hi = np.where(inside, lo, xa[:, 0]), np.where(inside, hi, xa[:, -1])  # keep the arithmetic finite
    diff = (_integral(xt, yt, lo, hi) - _integral(xa, ya, lo, hi)) / (hi - lo)
    value = 100.0 * np.expm1(diff) if kind == "rate" else diff
    out[np.flatnonzero(ok)] = np.where(inside, value, np.nan)
    return out
