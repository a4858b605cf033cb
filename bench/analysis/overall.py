"""Overall BD-rates: the mean of a codec's per-metric BD-rates over a preset's metric set.

For a preset with an ``overall`` set (:data:`bench.api.metric_presets.METRIC_PRESETS`: ``jpeg-ai``),
each codec's overall BD-rate in each aggregation (``mean-curve``, ``per-image``) is the arithmetic mean
of its BD-rates against the anchor for the compared columns of those metrics (the rows of the BD
table, :mod:`bench.analysis.bd_table`), as JPEG AI reports its overall figure. It is NaN, with a note
naming them, when a metric's BD-rate is missing or undefined for that codec: a mean over fewer
metrics would not be the preset's figure.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from bench.api.metric import Column
from bench.api.metric_presets import METRIC_PRESETS, MetricPreset

__all__ = ["OVERALL_COLUMNS", "overall_presets", "overall_table"]

OVERALL_COLUMNS = ("codec", "anchor", "aggregation", "preset", "bd_rate", "metrics", "note")


def overall_presets(metrics: Sequence[str]) -> list[MetricPreset]:
    """The presets with an overall set that ``metrics`` (a run's metrics) covers completely."""
    return [p for p in METRIC_PRESETS.values() if p.overall and set(p.overall) <= set(metrics)]


def overall_table(bd: pd.DataFrame, columns: Sequence[Column], preset: MetricPreset) -> pd.DataFrame:
    """One row per codec and aggregation of the BD table ``bd``: the mean BD-rate (percent) over the
    compared columns (``columns``) of ``preset.overall`` (columns :data:`OVERALL_COLUMNS`)."""
    wanted = {column.metric: column.name for column in columns if column.metric in preset.overall}
    rows = []
    if len(bd):
        for (codec, anchor, aggregation), group in bd.groupby(["codec", "anchor", "aggregation"], sort=False):
            rates = {str(r.metric): float(r.bd_rate) for r in group.itertuples()}
            values = {metric: rates.get(wanted.get(metric, ""), math.nan) for metric in preset.overall}
            missing = [metric for metric, value in values.items() if not math.isfinite(value)]
            rows.append({
                "codec": codec,
                "anchor": anchor,
                "aggregation": aggregation,
                "preset": preset.name,
                "bd_rate": math.fsum(values.values()) / len(values) if not missing else math.nan,
                "metrics": len(values) - len(missing),
                "note": f"no BD-rate for {', '.join(missing)}" if missing else "",
            })  # fmt: skip
    return pd.DataFrame(rows, columns=list(OVERALL_COLUMNS))
