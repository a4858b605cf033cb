"""The crash-safe result store of a run: one SQLite file, one row per image measurement.

Each measurement is committed on its own as soon as it is made (SQLite in WAL mode), keyed by
``(codec, quality, image)``: a run killed at any point (even ``kill -9``) keeps every finished row,
and running the same command again measures only what is missing, never duplicating a row. The
settings and library versions of each codec are stored with the first measurement; a later run
that would mix results from different settings or versions into the same store is refused.

:func:`write_csvs` exports ``records.csv``, ``summary.csv`` and ``failures.csv`` in a fixed order
(codec, then quality, then image), so the files do not depend on the order measurements finished.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "Record",
    "Failure",
    "Store",
    "StoreConflict",
    "RECORD_COLUMNS",
    "SUMMARY_COLUMNS",
    "write_csvs",
    "summarise",
    "format_quality",
]

SCHEMA_VERSION = 1

#: Columns of records.csv, in order.
RECORD_COLUMNS = (
    "codec", "quality", "image", "width", "height", "bytes", "bpp",
    "psnr_rgb", "psnr_y", "ms_ssim_rgb", "encode_s", "decode_s",
)  # fmt: skip
#: Mean-over-images metric columns of summary.csv.
MEAN_COLUMNS = ("bpp", "psnr_rgb", "psnr_y", "ms_ssim_rgb", "encode_s", "decode_s")
SUMMARY_COLUMNS = ("codec", "quality", "images", *MEAN_COLUMNS)
FAILURE_COLUMNS = ("codec", "quality", "image", "stage", "error")


class StoreConflict(RuntimeError):
    """The store already holds results of a codec measured with other settings or versions."""


@dataclass(frozen=True)
class Record:
    """One measurement of one image at one quality.

    ``bytes`` is the size of the whole bitstream, ``bpp = 8 * bytes / (width * height)``; PSNRs are
    in dB, MS-SSIM is linear in [0, 1]; times are wall-clock seconds (median over repeats).
    ``extra`` holds what does not go into records.csv (all repeat timings, metric time, ...).
    """

    codec: str
    quality: float
    image: str
    width: int
    height: int
    bytes: int
    bpp: float
    psnr_rgb: float
    psnr_y: float
    ms_ssim_rgb: float
    encode_s: float
    decode_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float(self.quality), self.image)


@dataclass(frozen=True)
class Failure:
    """A measurement that failed (``stage``: encode, decode, metrics, worker), or an image that could
    not be loaded (``stage`` "load", with empty ``codec`` and ``quality`` None)."""

    codec: str
    quality: float | None
    image: str
    stage: str
    error: str

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float("nan") if self.quality is None else float(self.quality), self.image)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS codecs (name TEXT PRIMARY KEY, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, bpp REAL NOT NULL,
    psnr_rgb REAL, psnr_y REAL, ms_ssim_rgb REAL, encode_s REAL NOT NULL, decode_s REAL NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (codec, quality, image)
);
CREATE TABLE IF NOT EXISTS failures (
    codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL, stage TEXT NOT NULL, error TEXT NOT NULL,
    PRIMARY KEY (codec, quality, image)
);
CREATE TABLE IF NOT EXISTS image_failures (image TEXT PRIMARY KEY, error TEXT NOT NULL);
"""

# SQLite stores inf but turns NaN into NULL; keep both exact through a text-free round trip.
_NAN_COLUMNS = ("psnr_rgb", "psnr_y", "ms_ssim_rgb")


def _encode_float(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def _decode_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


class Store:
    """SQLite file of one run (``store.sqlite`` in the run folder)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)  # autocommit; explicit transactions
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes (not power loss)
        self._db.executescript(_SCHEMA)
        found = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if found is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(found[0]) != SCHEMA_VERSION:
            raise StoreConflict(f"{self.path} has schema version {found[0]}, this codec-bench writes {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def bind_dataset(self, name: str, images: dict[str, str]) -> None:
        """Record the dataset's image hashes (sha256), or refuse if measured images have changed."""
        stored = self.get_meta("dataset")
        if stored is None:
            self.set_meta("dataset", {"name": name, "images": images})
            return
        measured = {row[0] for row in self._db.execute("SELECT DISTINCT image FROM records")}
        changed = sorted(
            n for n in images.keys() & stored["images"].keys() & measured if images[n] != stored["images"][n]
        )
        if changed:
            raise StoreConflict(
                f"{self.path.parent} holds results for other versions of the images {', '.join(changed[:5])}"
                f"{' ...' if len(changed) > 5 else ''}; use another --out folder"
            )
        merged = {**stored["images"], **images}
        self.set_meta("dataset", {"name": stored["name"], "images": dict(sorted(merged.items()))})

    # -- codecs ---------------------------------------------------------------------------------
    def bind_codec(self, name: str, description: dict[str, Any]) -> None:
        """Store the codec's settings and versions, or raise :class:`StoreConflict` if they changed."""
        row = self._db.execute("SELECT description FROM codecs WHERE name=?", (name,)).fetchone()
        canonical = json.dumps(description, sort_keys=True)
        if row is None:
            self._db.execute("INSERT INTO codecs VALUES (?, ?)", (name, canonical))
            return
        if row[0] != canonical:
            old = json.loads(row[0])
            diffs = _diff(old, description)
            raise StoreConflict(
                f"{self.path.parent} holds '{name}' results measured with different settings or versions "
                f"({'; '.join(diffs[:4])}); use another --out folder, or delete that folder to start over"
            )

    def codec_descriptions(self) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT name, description FROM codecs ORDER BY name").fetchall()
        return {name: json.loads(desc) for name, desc in rows}

    # -- records and failures -------------------------------------------------------------------
    def done(self) -> set[tuple[str, float, str]]:
        rows = self._db.execute("SELECT codec, quality, image FROM records").fetchall()
        return {(c, float(q), i) for c, q, i in rows}

    def add_record(self, record: Record) -> None:
        values = asdict(record)
        values["extra"] = json.dumps(values["extra"], sort_keys=True)
        for name in _NAN_COLUMNS:
            values[name] = _encode_float(values[name])
        cols = [f.name for f in fields(Record)]
        with self._db:  # one transaction: the record lands and its old failure goes, or neither
            self._db.execute("BEGIN")
            self._db.execute(
                f"INSERT OR IGNORE INTO records ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [values[c] for c in cols],
            )
            self._db.execute("DELETE FROM failures WHERE codec=? AND quality=? AND image=?", record.key)

    def add_failure(self, failure: Failure) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)", (*failure.key, failure.stage, failure.error)
        )

    def update_image_failures(self, attempted: set[str], failures: dict[str, str]) -> None:
        """Record which of the ``attempted`` images failed to load (and forget their old failures)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM image_failures WHERE image=?", [(name,) for name in sorted(attempted)])
            self._db.executemany("INSERT INTO image_failures VALUES (?, ?)", sorted(failures.items()))

    def records(self) -> list[Record]:
        cols = [f.name for f in fields(Record)]
        rows = self._db.execute(f"SELECT {', '.join(cols)} FROM records ORDER BY codec, quality, image").fetchall()
        out = []
        for row in rows:
            values = dict(zip(cols, row, strict=True))
            values["extra"] = json.loads(values["extra"])
            for name in _NAN_COLUMNS:
                values[name] = _decode_float(values[name])
            out.append(Record(**values))
        return out

    def failures(self) -> list[Failure]:
        rows = self._db.execute(
            "SELECT '', NULL, image, 'load', error FROM image_failures "
            "UNION ALL SELECT codec, quality, image, stage, error FROM failures ORDER BY 1, 2, 3"
        ).fetchall()
        return [Failure(*row) for row in rows]


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            out += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]


def format_quality(value: float) -> str:
    """Quality as written in CSV files: ``50`` for whole numbers, ``0.75`` otherwise."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "quality":
        return format_quality(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float; inf, nan as such
    return str(value)


def summarise(records: Iterable[Record]) -> list[dict[str, Any]]:
    """Per codec and quality: number of images and the arithmetic mean of each metric over them.

    Means are taken over per-image values (mean of per-image PSNR in dB, as CompressAI does).
    """
    groups: dict[tuple[str, float], list[Record]] = defaultdict(list)
    for rec in records:
        groups[(rec.codec, float(rec.quality))].append(rec)
    rows = []
    for (codec, quality), recs in sorted(groups.items()):
        row: dict[str, Any] = {"codec": codec, "quality": quality, "images": len(recs)}
        for col in MEAN_COLUMNS:
            row[col] = math.fsum(getattr(r, col) for r in recs) / len(recs)
        rows.append(row)
    return rows


def _write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        columns = list(columns)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(c, row[c]) for c in columns])
    tmp.replace(path)


def write_csvs(store: Store, folder: Path) -> dict[str, Path]:
    """Write records.csv, summary.csv and failures.csv into ``folder``; return their paths."""
    records = store.records()
    paths = {name: folder / f"{name}.csv" for name in ("records", "summary", "failures")}
    _write_csv(paths["records"], RECORD_COLUMNS, (asdict(r) for r in records))
    _write_csv(paths["summary"], SUMMARY_COLUMNS, summarise(records))
    _write_csv(paths["failures"], FAILURE_COLUMNS, (asdict(f) for f in store.failures()))
    return paths
