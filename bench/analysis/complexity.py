"""The complexity table: parameters, MACs per pixel, time and peak memory of each codec of a run.

One row per run curve (a codec a run measured; published curves have no records), at the codec's
**middle quality** (:func:`middle_quality`: the median of its distinct quality settings, the lower
of the two middle ones for an even count), over every image measured at that quality: the mean, and
the lowest and highest value (``_min``, ``_max``) over those images, of

* ``enc_kmac_px``, ``dec_kmac_px``: thousands of multiply-accumulates per pixel of the learned codec's
  ``compress`` and ``decompress`` (:mod:`bench.neural.complexity`); NaN for codecs that do not count
  them (traditional codecs);
* ``params``, ``enc_params``, ``dec_params``: the model's parameters (all; those of the parts each side
  uses);
* ``encode_s``, ``decode_s``: the wall-clock time of one encode and decode call (the run's device) and,
  for learned codecs, their parts ``encode_network_s``, ``encode_coding_s``, ``decode_network_s``,
  ``decode_coding_s`` (means only);
* ``encode_peak_mb``, ``decode_peak_mb``: peak resident memory (MiB) during the call: the program's own
  (``memory_of`` = ``program``, command-line codecs; ``program_floor_mb`` is the most of it that can be
  the starting helper's, :mod:`bench.api.spawner`) or the measuring process's (``process``; with
  ``encode_added_mb``, ``decode_added_mb``: peak minus the memory at the call's start, what the call
  added); ``encode_peak_gpu_mb``, ``decode_peak_gpu_mb`` on a GPU.

The column names and meanings of the measured values are those of :mod:`bench.api.extra_columns`.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from bench.analysis.curves import Curve

__all__ = ["COMPLEXITY_COLUMNS", "middle_quality", "complexity_table", "bd_rates_of"]

_RANGED = ("enc_kmac_px", "dec_kmac_px", "encode_s", "decode_s")
_MEANS = (
    "params",
    "enc_params",
    "dec_params",
    "encode_network_s",
    "encode_coding_s",
    "decode_network_s",
    "decode_coding_s",
    "encode_peak_gpu_mb",
    "decode_peak_gpu_mb",
)
COMPLEXITY_COLUMNS = (
    "codec",
    "kind",
    "device",
    "quality",
    "images",
    *(name for column in _RANGED for name in (column, f"{column}_min", f"{column}_max")),
    *_MEANS,
    "memory_of",
    "encode_peak_mb",
    "encode_added_mb",
    "decode_peak_mb",
    "decode_added_mb",
    "program_floor_mb",
)


def middle_quality(qualities: Iterable[float]) -> float:
    """The median of the distinct ``qualities`` (the lower middle one of an even count)."""
    distinct = sorted(set(float(q) for q in qualities))
    if not distinct:
        raise ValueError("no quality")
    return distinct[(len(distinct) - 1) // 2]


def _values(rows: pd.DataFrame, column: str) -> np.ndarray:
    """The finite values of ``column`` in ``rows`` (empty when the column is missing)."""
    return _finite(_numbers(rows, column))


def _numbers(rows: pd.DataFrame, column: str) -> pd.Series:
    """``column`` of ``rows`` as floats (NaN where missing or not a number; all NaN without the column)."""
    if column not in rows:
        return pd.Series(math.nan, index=rows.index)
    return pd.to_numeric(rows[column], errors="coerce").astype(float)


def _finite(values: pd.Series) -> np.ndarray:
    values = values.to_numpy(float)
    return values[np.isfinite(values)]


def _average(values: np.ndarray) -> float:
    return math.fsum(values) / len(values) if len(values) else math.nan


def _mean(rows: pd.DataFrame, column: str) -> float:
    return _average(_values(rows, column))


def _memory(rows: pd.DataFrame) -> dict[str, object]:
    """The peak-memory columns of one row of the table from the records ``rows``."""
    program = {what: _values(rows, f"{what}_program_peak_rss_mb") for what in ("encode", "decode")}
    if any(len(values) for values in program.values()):
        return {
            "memory_of": "program",
            **{f"{what}_peak_mb": _mean(rows, f"{what}_program_peak_rss_mb") for what in program},
            **{f"{what}_added_mb": math.nan for what in program},
            "program_floor_mb": _mean(rows, "program_rss_floor_mb"),
        }
    found: dict[str, object] = {"memory_of": "process" if len(_values(rows, "encode_peak_rss_mb")) else ""}
    for what in ("encode", "decode"):
        found[f"{what}_peak_mb"] = _mean(rows, f"{what}_peak_rss_mb")
        added = _numbers(rows, f"{what}_peak_rss_mb") - _numbers(rows, f"{what}_rss_start_mb")
        found[f"{what}_added_mb"] = _average(_finite(added))
    found["program_floor_mb"] = math.nan
    return found


def _row(curve: Curve) -> dict[str, object] | None:
    rows = curve.per_image
    if rows is None or rows.empty:
        return None
    quality = middle_quality(rows["quality"])
    at = rows[rows["quality"].astype(float) == quality]
    row: dict[str, object] = {
        "codec": curve.label,
        "kind": curve.kind,
        "device": curve.device,
        "quality": quality,
        "images": int(at["image"].nunique()),
    }
    for column in _RANGED:
        values = _values(at, column)
        row[column] = _mean(at, column)
        row[f"{column}_min"] = float(values.min()) if len(values) else math.nan
        row[f"{column}_max"] = float(values.max()) if len(values) else math.nan
    row.update({column: _mean(at, column) for column in _MEANS})
    row.update(_memory(at))
    return row


def complexity_table(curves: Sequence[Curve]) -> pd.DataFrame:
    """One row per run curve of ``curves`` (columns :data:`COMPLEXITY_COLUMNS`), in the curves' order."""
    rows = [row for curve in curves if curve.kind != "published" and (row := _row(curve)) is not None]
    return pd.DataFrame(rows, columns=list(COMPLEXITY_COLUMNS))


def bd_rates_of(bd: pd.DataFrame, metric: str, anchor: str) -> dict[str, float]:
    """Each codec's mean-curve BD-rate (percent) for ``metric`` from a BD table (``anchor``: 0)."""
    found = {anchor: 0.0}
    if len(bd):
        rows = bd[(bd["metric"] == metric) & (bd["aggregation"] == "mean-curve")]
        found.update({str(r.codec): float(r.bd_rate) for r in rows.itertuples() if np.isfinite(r.bd_rate)})
    return found
