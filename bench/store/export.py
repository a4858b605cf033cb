"""The CSV exports of a run's store: ``records.csv``, ``summary.csv`` and ``failures.csv``.

:func:`write_csvs` writes them (atomically) in a fixed order (codec, then quality, then image), so the
files do not depend on the order measurements finished; their metric columns are the store's metrics,
in order. ``summary.csv`` holds, per codec and quality, the means over the images whose every metric
is defined (:func:`bench.api.records.mean_over_defined`, the rule every mean over images follows).
Floats are written as the shortest text that reads back to the same float (``inf`` and ``nan`` as such).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from bench.api.files import atomic_write
from bench.api.metric import DEFAULT_METRICS
from bench.api.records import Record, format_quality, mean_over_defined
from bench.store.sqlite import SIZE_COLUMNS, TIME_COLUMNS, Store

__all__ = [
    "RECORD_COLUMNS",
    "SUMMARY_COLUMNS",
    "ESTIMATE_COLUMN",
    "record_columns",
    "summary_columns",
    "summarise",
    "write_csvs",
]

FAILURE_COLUMNS = ("codec", "quality", "image", "stage", "error")


#: The learned codecs' own estimate of the rate (bits per pixel from the entropy model's likelihoods,
#: without headers or the coder's overhead; ``analyze`` returns it): a column of records.csv and
#: summary.csv next to the real ``bpp`` in runs where any codec gives it, empty for the others.
ESTIMATE_COLUMN = "estimated_bpp"


def record_columns(metrics: Sequence[str] = DEFAULT_METRICS, estimates: bool = False) -> tuple[str, ...]:
    """Columns of records.csv for a run with ``metrics``, in order."""
    return (*SIZE_COLUMNS, *((ESTIMATE_COLUMN,) if estimates else ()), *metrics, *TIME_COLUMNS)


def summary_columns(metrics: Sequence[str] = DEFAULT_METRICS, estimates: bool = False) -> tuple[str, ...]:
    """Columns of summary.csv: codec, quality, number of images, then means over the images."""
    return ("codec", "quality", "images", "bpp", *((ESTIMATE_COLUMN,) if estimates else ()), *metrics, *TIME_COLUMNS)


#: Columns of records.csv and summary.csv of a run with the default metrics.
RECORD_COLUMNS = record_columns()
SUMMARY_COLUMNS = summary_columns()


def _csv_text(column: str, value: Any) -> str:
    """How ``value`` is written in ``column`` of a CSV file."""
    if value is None:
        return ""
    if column == "quality":
        return format_quality(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float; inf, nan as such
    return str(value)


def _flat_row(record: Record) -> dict[str, Any]:
    """A record as one flat row: size columns, the rate estimate (None when the codec gives none), one
    column per metric, timings."""
    row = {c: getattr(record, c) for c in (*SIZE_COLUMNS, *TIME_COLUMNS)}
    return {**row, ESTIMATE_COLUMN: record.extra.get(ESTIMATE_COLUMN), **record.metrics}


def summarise(records: Iterable[Record]) -> list[dict[str, Any]]:
    """Per codec and quality: ``images`` and the arithmetic mean over them of bpp, the rate estimate,
    each metric and the timings.

    Means are taken over per-image values (mean of per-image PSNR in dB, as CompressAI does), over
    the images whose every metric is defined (:func:`~bench.api.records.mean_over_defined`): an image
    with an undefined (NaN) metric, such as the MS-SSIM of an image too small for it, is left out of
    all the means of its codec and quality, so that every column of a row covers the same images;
    ``images`` counts them. (``inf``, the PSNR of an identical image, is a value.)
    """
    groups: dict[tuple[str, float], list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.codec, float(record.quality))].append(record)
    rows = []
    for (codec, quality), group in sorted(groups.items()):
        metrics = list(group[0].metrics)
        columns = ("bpp", *TIME_COLUMNS, ESTIMATE_COLUMN, *metrics)
        images, means = mean_over_defined([_flat_row(r) for r in group], metrics, columns)
        rows.append({"codec": codec, "quality": quality, "images": images, **means})
    return rows


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_csv_text(c, row[c]) for c in columns])

    atomic_write(path, write)


def write_csvs(
    store: Store, folder: Path, dataset: dict[tuple[str, float], dict[str, float]] | None = None
) -> dict[str, Path]:
    """Write records.csv, summary.csv and failures.csv into ``folder``; return their paths.

    summary.csv has a column for each of the store's dataset metrics after the per-image metrics,
    with the values of ``dataset`` (per (codec, quality): metric -> value; see
    :func:`bench.analysis.dataset_values.dataset_values`), empty where it has none."""
    records = store.records()
    metrics = store.metrics()
    per_dataset = store.dataset_metrics()
    paths = {name: folder / f"{name}.csv" for name in ("records", "summary", "failures")}
    estimates = any(ESTIMATE_COLUMN in r.extra for r in records)
    _write_csv(paths["records"], record_columns(metrics, estimates), (_flat_row(r) for r in records))
    rows = [
        {**row, **{name: (dataset or {}).get((row["codec"], row["quality"]), {}).get(name) for name in per_dataset}}
        for row in summarise(records)
    ]
    columns = summary_columns(metrics, estimates)
    columns = (*columns[: -len(TIME_COLUMNS)], *per_dataset, *TIME_COLUMNS)
    _write_csv(paths["summary"], columns, rows)
    _write_csv(paths["failures"], FAILURE_COLUMNS, (asdict(f) for f in store.failures()))
    return paths
