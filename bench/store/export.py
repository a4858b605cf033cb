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

from bench.api.extra_columns import extra_column_names
from bench.api.files import atomic_write
from bench.api.metric import DEFAULT_METRICS
from bench.api.records import Record, format_quality, mean_over_defined
from bench.store.sqlite import SIZE_COLUMNS, TIME_COLUMNS, Store

__all__ = [
    "RECORD_COLUMNS",
    "SUMMARY_COLUMNS",
    "ESTIMATE_COLUMN",
    "present_extras",
    "record_columns",
    "summary_columns",
    "summarise",
    "write_csvs",
]

FAILURE_COLUMNS = ("codec", "quality", "image", "stage", "error")


#: The learned codecs' own estimate of the rate (bits per pixel from the entropy model's likelihoods,
#: without headers or the coder's overhead; ``analyze`` returns it): in runs where any codec gives it, a
#: column of records.csv and summary.csv next to the real ``bpp``, empty for the others.
ESTIMATE_COLUMN = "estimated_bpp"


def _split_extras(extras: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the rate estimate, if among ``extras``; the other optional columns, in registry order)."""
    known = [name for name in extra_column_names() if name in extras]
    return tuple(n for n in known if n == ESTIMATE_COLUMN), tuple(n for n in known if n != ESTIMATE_COLUMN)


def record_columns(metrics: Sequence[str] = DEFAULT_METRICS, extras: Sequence[str] = ()) -> tuple[str, ...]:
    """Columns of records.csv for a run with ``metrics`` and the optional columns ``extras``
    (:data:`bench.api.extra_columns.EXTRA_COLUMNS`), in order: size, the rate estimate, metrics, times,
    the other optional columns."""
    estimate, others = _split_extras(extras)
    return (*SIZE_COLUMNS, *estimate, *metrics, *TIME_COLUMNS, *others)


def summary_columns(metrics: Sequence[str] = DEFAULT_METRICS, extras: Sequence[str] = ()) -> tuple[str, ...]:
    """Columns of summary.csv: codec, quality, number of images, then means over the images (of bpp, the
    rate estimate, the metrics, the times and the other optional columns ``extras``)."""
    estimate, others = _split_extras(extras)
    return ("codec", "quality", "images", "bpp", *estimate, *metrics, *TIME_COLUMNS, *others)


#: Columns of records.csv and summary.csv of a run with the default metrics and no optional column.
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
    """A record as one flat row: size columns, one column per metric, timings, and every optional column
    (None where the record has no value)."""
    row = {c: getattr(record, c) for c in (*SIZE_COLUMNS, *TIME_COLUMNS)}
    return {**row, **{name: record.extra.get(name) for name in extra_column_names()}, **record.metrics}


def present_extras(records: Iterable[Record]) -> tuple[str, ...]:
    """The optional columns some of ``records`` has, in registry order."""
    found = {name for record in records for name in record.extra}
    return tuple(name for name in extra_column_names() if name in found)


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
        columns = ("bpp", *TIME_COLUMNS, *extra_column_names(), *metrics)
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
    extras = present_extras(records)
    _write_csv(paths["records"], record_columns(metrics, extras), (_flat_row(r) for r in records))
    rows = [
        {**row, **{name: (dataset or {}).get((row["codec"], row["quality"]), {}).get(name) for name in per_dataset}}
        for row in summarise(records)
    ]
    columns = summary_columns(metrics, extras)
    at = columns.index(TIME_COLUMNS[0])
    columns = (*columns[:at], *per_dataset, *columns[at:])
    _write_csv(paths["summary"], columns, rows)
    _write_csv(paths["failures"], FAILURE_COLUMNS, (asdict(f) for f in store.failures()))
    return paths
