"""The crash-safe result store of a run: one SQLite file, one row per image measurement.

Each measurement is committed on its own as soon as it is made (SQLite in WAL mode), keyed by
``(codec, quality, image)``: a run killed at any point (even ``kill -9``) keeps every finished row,
and running the same command again measures only what is missing, never duplicating a row. The
settings and library versions of each codec, and the description and versions of each metric, are
stored with the first measurement; a later run that would mix results from different settings or
versions into the same store is refused.

Tables: ``records`` (size, timings and ``extra`` of each measurement), ``metric_values`` (one row
per measurement and metric; NULL stands for NaN), ``metrics`` (the run's metrics in column order,
dataset metrics such as FID included), ``features`` (per measurement and feature name, the features
of the decoded image that dataset metrics aggregate: float32 rows as raw little-endian bytes),
``reference_features`` (the same of each reference image), ``codecs``, ``failures``,
``image_failures`` and ``meta``. Stores of schema version 1 (metric values
as fixed columns of ``records``) are migrated when opened for writing; the class paths stored by the
flat 0.1 layout are read as where those classes live now (:func:`current_description`, without
rewriting the store). A damaged file is refused when it is opened (:class:`StoreCorrupt`, after SQLite's
quick check of every page), with one line naming it and how to recover what it holds. Its CSV exports:
:mod:`bench.store.export`.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.api.metric import DEFAULT_METRICS
from bench.api.moved import current_class_path
from bench.api.records import Failure, Record

__all__ = [
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreCorrupt",
    "SIZE_COLUMNS",
    "TIME_COLUMNS",
    "current_description",
    "describe_differences",
]

SCHEMA_VERSION = 2

#: Fields of a record: its key, the image's size, the bitstream's size (bytes) and rate (bits per pixel) ...
SIZE_COLUMNS = ("codec", "quality", "image", "width", "height", "bytes", "bpp")
#: ... and the encode and decode times (seconds); the metrics' values are rows of ``metric_values``.
TIME_COLUMNS = ("encode_s", "decode_s")


class StoreConflict(RuntimeError):
    """The store already holds results of a codec measured with other settings or versions."""


class StoreError(RuntimeError):
    """A store that cannot be opened or read (corrupt, truncated, not a store, not writable)."""


class StoreCorrupt(StoreError):
    """A store whose file is damaged: SQLite finds a malformed page (``PRAGMA quick_check`` when it is
    opened) or no database in it. The one-line message names the file and what to do."""


#: SQLite's primary result codes of a damaged file: SQLITE_CORRUPT and SQLITE_NOTADB.
_CORRUPT_CODES = (11, 26)


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    return "malformed" in str(exc) or "not a database" in str(exc)


def corrupt_message(path: Path, detail: str) -> str:
    """What a command says about the damaged store ``path`` (one line): what SQLite found and what to do."""
    detail = " ".join(detail.replace("*** in database main ***", "").split())
    return (
        f"{path} is corrupt (SQLite: {detail}): move it away (bench report then reads the run's records.csv, which "
        f"holds what was measured up to its last export; `sqlite3 {path} .recover` may save more of it) and measure "
        "again into a new --out folder"
    )


#: The states (path, size and mtime of the file and of its WAL) of the stores this process found sound:
#: a report opens each store several times, and a store is checked again only when it has changed.
_SOUND: set[tuple] = set()


def _file_state(path: Path) -> tuple:
    states = []
    for file in (path, path.with_name(path.name + "-wal")):
        try:
            stat = file.stat()
            states.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            states.append(None)
    return (str(path.resolve()), *states)


def _check_pages(db: sqlite3.Connection, path: Path) -> None:
    """:class:`StoreCorrupt` when SQLite's quick check finds a damaged page (it reads every page once:
    about 0.1 s for 200 MB; once per state of the file in a process)."""
    state = _file_state(path)
    if state in _SOUND:
        return
    found = [row[0] for row in db.execute("PRAGMA quick_check(1)").fetchall()]
    if found != ["ok"]:
        db.close()
        raise StoreCorrupt(corrupt_message(path, found[0] if found else "quick_check gave nothing"))
    _SOUND.add(state)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS codecs (name TEXT PRIMARY KEY, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (name TEXT PRIMARY KEY, position INTEGER NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS records (
    codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, bpp REAL NOT NULL,
    encode_s REAL NOT NULL, decode_s REAL NOT NULL, extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (codec, quality, image)
);
CREATE TABLE IF NOT EXISTS metric_values (
    codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL, metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (codec, quality, image, metric)
);
CREATE TABLE IF NOT EXISTS failures (
    codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL, stage TEXT NOT NULL, error TEXT NOT NULL,
    PRIMARY KEY (codec, quality, image)
);
CREATE TABLE IF NOT EXISTS image_failures (image TEXT PRIMARY KEY, error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (name TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS features (
    codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL, name TEXT NOT NULL,
    rows INTEGER NOT NULL, cols INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (codec, quality, image, name)
);
CREATE TABLE IF NOT EXISTS reference_features (
    image TEXT NOT NULL, name TEXT NOT NULL, rows INTEGER NOT NULL, cols INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (image, name)
);
"""

#: Schema version 1 kept these metrics as columns of ``records``.
_V1_METRICS = ("psnr_rgb", "psnr_y", "ms_ssim_rgb")
_RECORD_FIELDS = (*SIZE_COLUMNS, *TIME_COLUMNS, "extra")


# SQLite stores inf but turns NaN into NULL; keep both exact through a text-free round trip.
def _encode_float(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def _decode_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _encode_features(array: Any) -> tuple[int, int, bytes]:
    """``(rows, cols, bytes)`` of an ``n x d`` feature array, stored as little-endian float32."""
    import numpy as np

    array = np.asarray(array, dtype="<f4")
    if array.ndim != 2:
        raise ValueError(f"features must be an n x d array, got shape {array.shape}")
    return array.shape[0], array.shape[1], np.ascontiguousarray(array).tobytes()


def _decode_features(rows: int, cols: int, data: bytes) -> Any:
    import numpy as np

    return np.frombuffer(data, dtype="<f4").reshape(rows, cols).astype(np.float32)


def _migrate_v1(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: metric columns of ``records`` become rows of ``metric_values``."""
    with db:
        db.execute("BEGIN")
        db.execute("ALTER TABLE records RENAME TO records_v1")
        for statement in _SCHEMA.split(";"):  # not executescript: it would commit half-way
            if statement.strip():
                db.execute(statement)
        db.execute(f"INSERT INTO records SELECT {', '.join(_RECORD_FIELDS)} FROM records_v1")
        for position, name in enumerate(_V1_METRICS):
            db.execute(f"INSERT INTO metric_values SELECT codec, quality, image, ?, {name} FROM records_v1", (name,))
            db.execute("INSERT OR IGNORE INTO metrics VALUES (?, ?, NULL)", (name, position))
        db.execute("DROP TABLE records_v1")
        found = db.execute("SELECT value FROM meta WHERE key='images'").fetchone()
        for name, info in (json.loads(found[0]) if found else {}).items():
            db.execute("INSERT OR REPLACE INTO images VALUES (?, ?)", (name, json.dumps(info, sort_keys=True)))
        db.execute("DELETE FROM meta WHERE key='images'")
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))


class Store:
    """SQLite file of one run (``store.sqlite`` in the run folder)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        """Open (or create) the store at ``path``; ``read_only`` opens an existing one without writing
        anything (a folder without write permission works). :class:`StoreError` if it cannot be read."""
        self.path = Path(path)
        self.read_only = read_only
        try:
            self._db = self._open()
        except sqlite3.Error as exc:
            if _is_corruption(exc):
                raise StoreCorrupt(corrupt_message(self.path, str(exc))) from None
            raise StoreError(
                f"{self.path} cannot be used as a codec-bench store ({exc}); if it is damaged, move it away: the run's "
                "records.csv still holds what was measured, and a new run folder starts afresh"
            ) from None

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            if not self.path.is_file():
                raise sqlite3.OperationalError("no such file")
            uri = self.path.resolve().as_uri()
            try:
                db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
                found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                _check_pages(db, self.path)
            except sqlite3.OperationalError:  # a WAL store in a folder we may not write: read it as it is
                db = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
                found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                # not checked: without its WAL (which immutable reads ignore) a sound store may look damaged
            if found is None or int(found[0]) != SCHEMA_VERSION:
                db.close()
                raise sqlite3.OperationalError(
                    f"schema version {found[0] if found else 'unknown'}, this codec-bench reads {SCHEMA_VERSION} "
                    "(open it once with write access, e.g. by bench run, to migrate it)"
                )
            return db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)  # autocommit; explicit transactions
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes (not power loss)
        _check_pages(db, self.path)  # before anything is written into a damaged file
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if found is not None and int(found[0]) == 1:
            _migrate_v1(db)
            found = (str(SCHEMA_VERSION),)
        db.executescript(_SCHEMA)
        if found is None:
            db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(found[0]) != SCHEMA_VERSION:
            db.close()
            raise StoreConflict(f"{self.path} has schema version {found[0]}, this codec-bench writes {SCHEMA_VERSION}")
        return db

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
        old = current_description(json.loads(row[0]))
        if json.dumps(old, sort_keys=True) != canonical:
            diffs = describe_differences(old, description)
            raise StoreConflict(
                f"{self.path.parent} holds '{name}' results measured with different settings or versions "
                f"({'; '.join(diffs[:4])}); use another --out folder, or delete that folder to start over"
            )

    def codec_descriptions(self) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT name, description FROM codecs ORDER BY name").fetchall()
        return {name: current_description(json.loads(desc)) for name, desc in rows}

    # -- metrics --------------------------------------------------------------------------------
    def bind_metric(self, name: str, description: dict[str, Any]) -> None:
        """Add ``name`` to the store's metrics (after those it has), or raise :class:`StoreConflict`
        if the store measured it with another description or other versions."""
        row = self._db.execute("SELECT description FROM metrics WHERE name=?", (name,)).fetchone()
        canonical = json.dumps(description, sort_keys=True)
        if row is None:
            (count,) = self._db.execute("SELECT COUNT(*) FROM metrics").fetchone()
            self._db.execute("INSERT INTO metrics VALUES (?, ?, ?)", (name, count, canonical))
        elif row[0] is None:  # migrated from schema 1, which did not describe metrics
            self._db.execute("UPDATE metrics SET description=? WHERE name=?", (canonical, name))
        elif json.dumps(current_description(json.loads(row[0])), sort_keys=True) != canonical:
            diffs = describe_differences(current_description(json.loads(row[0])), description)
            raise StoreConflict(
                f"{self.path.parent} holds '{name}' values computed by other code or versions "
                f"({'; '.join(diffs[:4])}); use another --out folder, or delete that folder to start over"
            )

    def metrics(self) -> list[str]:
        """The store's per-image metrics, in column order (the default metrics for a store that has none yet)."""
        rows = self._db.execute("SELECT name, description FROM metrics ORDER BY position").fetchall()
        return [name for name, desc in rows if _per_image(desc)] or list(DEFAULT_METRICS)

    def dataset_metrics(self) -> list[str]:
        """The store's metrics computed over a whole dataset (FID, ...), in column order."""
        rows = self._db.execute("SELECT name, description FROM metrics ORDER BY position").fetchall()
        return [name for name, desc in rows if not _per_image(desc)]

    def metric_descriptions(self) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT name, description FROM metrics ORDER BY position").fetchall()
        return {name: current_description(json.loads(desc)) if desc else {} for name, desc in rows}

    def _select(self, sql: str, args: tuple) -> list[tuple]:
        """Rows of a query on the feature tables; none from a store written before they existed
        (opened read-only, so not given them)."""
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise

    def feature_keys(self, name: str) -> set[tuple[str, float, str]]:
        """Keys (codec, quality, image) of the records that hold features ``name``."""
        rows = self._select("SELECT codec, quality, image FROM features WHERE name=?", (name,))
        return {(c, float(q), i) for c, q, i in rows}

    def features(self, name: str, codec: str) -> dict[tuple[float, str], Any]:
        """The features ``name`` of ``codec``'s decoded images, by (quality, image)."""
        rows = self._select(
            "SELECT quality, image, rows, cols, data FROM features WHERE name=? AND codec=?", (name, codec)
        )
        return {(float(q), i): _decode_features(r, c, d) for q, i, r, c, d in rows}

    def reference_features(self, name: str) -> dict[str, Any]:
        """The features ``name`` of the reference images, by image."""
        rows = self._select("SELECT image, rows, cols, data FROM reference_features WHERE name=?", (name,))
        return {i: _decode_features(r, c, d) for i, r, c, d in rows}

    def add_features(self, key: tuple[str, float, str], features: dict[str, Any], reference: dict[str, Any]) -> int:
        """Add the decoded image's ``features`` to the record ``key`` and the ``reference`` image's
        (by feature name) in one transaction; features already stored are kept. Returns how many
        of the record's were added (0 when there is no such record)."""
        with self._db:
            self._db.execute("BEGIN")
            found = self._db.execute("SELECT 1 FROM records WHERE codec=? AND quality=? AND image=?", key).fetchone()
            if found is None:
                return 0
            return self._add_features(key, features, reference)

    def _add_features(self, key: tuple[str, float, str], features: dict[str, Any], reference: dict[str, Any]) -> int:
        self._db.executemany(
            "INSERT OR IGNORE INTO reference_features VALUES (?, ?, ?, ?, ?)",
            [(key[2], name, *_encode_features(array)) for name, array in reference.items()],
        )
        return self._db.executemany(
            "INSERT OR IGNORE INTO features VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*key, name, *_encode_features(array)) for name, array in features.items()],
        ).rowcount

    def metric_keys(self, metric: str) -> set[tuple[str, float, str]]:
        """Keys (codec, quality, image) of the records that hold a value of ``metric`` (NaN included)."""
        rows = self._db.execute("SELECT codec, quality, image FROM metric_values WHERE metric=?", (metric,))
        return {(c, float(q), i) for c, q, i in rows}

    def add_metric_values(self, key: tuple[str, float, str], values: dict[str, float]) -> int:
        """Add ``values`` (metric -> value) to the record ``key`` in one transaction; a value the record
        already has is kept. Returns how many were added (0 when there is no such record)."""
        with self._db:
            self._db.execute("BEGIN")
            found = self._db.execute("SELECT 1 FROM records WHERE codec=? AND quality=? AND image=?", key).fetchone()
            if found is None:
                return 0
            return self._db.executemany(
                "INSERT OR IGNORE INTO metric_values VALUES (?, ?, ?, ?, ?)",
                [(*key, name, _encode_float(value)) for name, value in values.items()],
            ).rowcount

    # -- records and failures -------------------------------------------------------------------
    def done(self) -> set[tuple[str, float, str]]:
        rows = self._db.execute("SELECT codec, quality, image FROM records").fetchall()
        return {(c, float(q), i) for c, q, i in rows}

    def add_record(self, record: Record, meta: dict[str, Any] | None = None) -> None:
        """Add ``record`` (a record the store has is kept) and set the ``meta`` keys, in one transaction."""
        values = {name: getattr(record, name) for name in _RECORD_FIELDS}
        values["extra"] = json.dumps(values["extra"], sort_keys=True)
        with self._db:  # one transaction: the record and its metric values land and its old failure goes, or none
            self._db.execute("BEGIN")
            added = self._db.execute(
                f"INSERT OR IGNORE INTO records ({', '.join(_RECORD_FIELDS)}) VALUES ({', '.join('?' * len(_RECORD_FIELDS))})",
                [values[c] for c in _RECORD_FIELDS],
            ).rowcount
            if added:
                self._db.executemany(
                    "INSERT OR REPLACE INTO metric_values VALUES (?, ?, ?, ?, ?)",
                    [(*record.key, name, _encode_float(value)) for name, value in record.metrics.items()],
                )
                self._db.execute("DELETE FROM features WHERE codec=? AND quality=? AND image=?", record.key)
                self._add_features(record.key, record.features, record.reference_features)
            self._db.execute("DELETE FROM failures WHERE codec=? AND quality=? AND image=?", record.key)
            for key, value in (meta or {}).items():
                self.set_meta(key, value)

    def add_failure(self, failure: Failure, meta: dict[str, Any] | None = None) -> None:
        """Add (or replace) ``failure`` and set the ``meta`` keys, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)", (*failure.key, failure.stage, failure.error)
            )
            for key, value in (meta or {}).items():
                self.set_meta(key, value)

    def set_image(self, name: str, info: dict[str, Any]) -> None:
        """Record what reading image ``name`` gave (size, conversion, ...), as soon as it is read."""
        self._db.execute("INSERT OR REPLACE INTO images VALUES (?, ?)", (name, json.dumps(info, sort_keys=True)))

    def images(self) -> dict[str, dict[str, Any]]:
        """What reading each image gave, by image name."""
        return {
            name: json.loads(info) for name, info in self._db.execute("SELECT name, info FROM images ORDER BY name")
        }

    def failure_keys(self, stage: str) -> set[tuple[str, float, str]]:
        """Keys (codec, quality, image) of the measurements that failed at ``stage``."""
        rows = self._db.execute("SELECT codec, quality, image FROM failures WHERE stage=?", (stage,)).fetchall()
        return {(c, float(q), i) for c, q, i in rows}

    def invalidate(self, codec: str, quality: float, stage: str, error: str) -> int:
        """Turn every measurement of ``codec`` at ``quality`` into a failure (``stage``, ``error``);
        returns how many. One transaction: the records go and their failures land, or neither."""
        key = (codec, float(quality))
        with self._db:
            self._db.execute("BEGIN")
            images = [i for (i,) in self._db.execute("SELECT image FROM records WHERE codec=? AND quality=?", key)]
            self._db.executemany(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)", [(*key, i, stage, error) for i in images]
            )
            self._db.execute("DELETE FROM metric_values WHERE codec=? AND quality=?", key)
            self._db.execute("DELETE FROM features WHERE codec=? AND quality=?", key)
            self._db.execute("DELETE FROM records WHERE codec=? AND quality=?", key)
        return len(images)

    def update_image_failures(self, attempted: set[str], failures: dict[str, str]) -> None:
        """Record which of the ``attempted`` images failed to load (and forget their old failures)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM image_failures WHERE image=?", [(name,) for name in sorted(attempted)])
            self._db.executemany("INSERT INTO image_failures VALUES (?, ?)", sorted(failures.items()))

    def records(self) -> list[Record]:
        """Every measurement, ordered by codec, quality and image, with a value for each of the
        store's metrics (NaN where a record has none)."""
        metrics = self.metrics()
        values: dict[tuple, dict[str, float]] = defaultdict(dict)
        for codec, quality, image, metric, value in self._db.execute("SELECT * FROM metric_values"):
            values[codec, float(quality), image][metric] = _decode_float(value)
        rows = self._db.execute(
            f"SELECT {', '.join(_RECORD_FIELDS)} FROM records ORDER BY codec, quality, image"
        ).fetchall()
        out = []
        for row in rows:
            fields = dict(zip(_RECORD_FIELDS, row, strict=True))
            fields["extra"] = json.loads(fields["extra"])
            found = values.get((fields["codec"], float(fields["quality"]), fields["image"]), {})
            fields["metrics"] = {name: found.get(name, math.nan) for name in metrics}
            out.append(Record(**fields))
        return out

    def count_records(self) -> int:
        """How many measurements the store holds."""
        return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def measured_qualities(self) -> dict[str, list[float]]:
        """Per codec, the knob values it has records of, in increasing order."""
        out: dict[str, list[float]] = {}
        for codec, quality in self._db.execute("SELECT DISTINCT codec, quality FROM records ORDER BY codec, quality"):
            out.setdefault(codec, []).append(float(quality))
        return out

    def failures(self) -> list[Failure]:
        rows = self._db.execute(
            "SELECT '', NULL, image, 'load', error FROM image_failures "
            "UNION ALL SELECT codec, quality, image, stage, error FROM failures ORDER BY 1, 2, 3"
        ).fetchall()
        return [Failure(*row) for row in rows]


def current_description(description: dict[str, Any]) -> dict[str, Any]:
    """A stored codec or metric description with its ``class`` where that class lives now: a class is
    identified by what it is, not by the module path it had when the run was made (see
    :mod:`bench.api.moved`)."""
    if isinstance(description.get("class"), str):
        return {**description, "class": current_class_path(description["class"])}
    return description


def _per_image(description: str | None) -> bool:
    """False for a metric whose stored description says it is computed over a whole dataset."""
    return description is None or json.loads(description).get("per_image", True) is not False


def describe_differences(old: Any, new: Any, path: str = "") -> list[str]:
    """``path: old -> new`` for every leaf where two descriptions (nested dicts) differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(old.keys() | new.keys()):
            out += describe_differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]
