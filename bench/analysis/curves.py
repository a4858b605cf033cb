"""Rate-distortion curves from runs and from published result files, and CompressAI's file format.

A :class:`Curve` is one codec's points: per quality value, the mean over images of bpp and each
metric (the CompressAI convention), plus the per-image records when they exist (our runs; not
published files). Its metric columns are those of the registered metrics (:mod:`bench.api.metric`)
that the run measured or the file holds, each followed by its dB form where it has one. Curves come
from

* a run folder (:func:`curves_from_run`): one curve per codec, from ``store.sqlite`` (or
  ``records.csv``) and ``run.json``;
* a CompressAI results file (:func:`curves_from_compressai`): ``{"name", "description",
  "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...], ...}}``, including the
  ``paper-*.json`` variants with a ``meta`` block and ``ms-ssim-db-rgb`` (already in dB).

**Undefined values.** A mean over images at one codec and quality is taken over the images whose
value of every metric of the run is defined (not NaN; ``inf``, e.g. the PSNR of an identical
image, counts as defined). Images with an undefined metric (MS-SSIM of an image whose shorter
side is 160 pixels or less) are left out of all the means of that point, bpp and times included,
and the ``images`` column of the points says how many images each mean covers. ``summary.csv``
(:mod:`bench.store.export`), the report and the CompressAI export follow this one rule
(:func:`bench.api.records.mean_over_defined`).

**Means over the same images.** ``points`` are the curve as measured: each point averages the
images measured (with every metric defined) at that quality. Comparisons use
:meth:`Curve.means` over a fixed set of images instead, normally the images both curves of a pair
measured at every one of their qualities (:meth:`Curve.complete_images`): then every point of both
curves averages the same images (:mod:`bench.analysis.bd_table`).

**Reading published files.** Values may be numbers or ``null`` (NaN: our own export writes
``null`` for values that are not finite); anything else (strings, nested lists, lists of another
length than ``bpp``, a ``results`` block that is not an object, an integer too large for a float, JSON
nested too deeply) is a :class:`CurveError` naming the file and the key, as is a ``bpp`` that is not
finite and in (0, 100] or a metric value outside its metric's ``value_range`` (MS-SSIM in [0, 1], also
when given in dB). The number of images a published curve averages is taken from its ``meta``
block: ``images`` (our export writes it), else ``dataset`` naming a dataset whose manifest
codec-bench ships (``kodak``: 24 images); otherwise it is unknown (``None``).

:func:`to_compressai` writes a curve back in CompressAI's schema (its ``points``: the means of the
rule above), with a ``meta`` block stating the dataset, the number of images and the device.

**Dataset metrics** (FID, KID: :class:`bench.api.metric.DatasetMetric`) have no per-image values: at each
point their value is computed from the features the run stored, over exactly the images that
point's means cover (:mod:`bench.analysis.dataset_values`), so :meth:`Curve.means` over a set of images gives
them over that set too. Per-image BD-rates and per-image figures leave them out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from bench.analysis.dataset_values import DatasetFeatures, metric_instances
from bench.api.extra_columns import extra_column_names
from bench.api.metric import DEFAULT_METRICS, Metric, MetricError
from bench.api.metric_registry import MetricRegistry, discover_metrics
from bench.api.plugins import recorded_plugin_files
from bench.api.records import mean_over_defined
from bench.store.export import present_extras
from bench.store.sqlite import TIME_COLUMNS

__all__ = [
    "Curve",
    "CurveError",
    "curves_from_run",
    "curves_from_compressai",
    "to_compressai",
    "unique_labels",
    "pair_by_content",
    "load_run_records",
    "run_metadata",
    "run_metrics",
    "mean_points",
    "defined_rows",
]


class CurveError(ValueError):
    """A run folder or results file that cannot be read as curves; the message names it."""


@dataclass(frozen=True)
class Curve:
    """One codec's rate-distortion points.

    ``points``: one row per quality value with the means over images (``quality``, ``bpp``, the
    metric columns, ``encode_s``, ``decode_s``; NaN where a value is unknown), sorted by bpp; a dB
    column there is the dB value of the mean (CompressAI's convention for MS-SSIM), in
    ``per_image`` each image's. ``per_image``: the run's records (image, quality, bpp, metrics), or
    ``None`` for published curves. ``kind`` is ``traditional``, ``neural`` or ``published``.
    ``metrics``: the names of the metrics the curve has. ``run_images``: every image measured in the
    curve's run folder (by any codec; empty for published curves). ``dataset``: the dataset's name
    when known. ``stated_images``: for published curves, the number of images the file says its
    means cover (``None``: not stated).
    """

    label: str
    codec: str
    kind: str
    source: str
    points: pd.DataFrame
    per_image: pd.DataFrame | None = None
    device: str = ""
    description: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    run_images: frozenset[str] = frozenset()
    dataset: str = ""
    stated_images: int | None = None
    #: the run's dataset metrics (FID, ...) and the stored features they are computed from
    dataset_metrics: tuple[str, ...] = ()
    dataset_features: DatasetFeatures | None = field(default=None, repr=False, compare=False)
    #: each image's sha256 (of its file) as the run recorded it, by image name (empty: not known)
    image_sha256: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def column(self, name: str) -> np.ndarray:
        """The values of column ``name`` at each point (all NaN when the curve does not have it)."""
        if name not in self.points:
            return np.full(len(self.points), math.nan)
        return self.points[name].to_numpy(dtype=float)

    def complete_images(self) -> frozenset[str] | None:
        """The images measured, with every metric defined, at every quality of the curve (``None`` for
        published curves, which have no per-image data)."""
        if self.per_image is None:
            return None
        rows = self.per_image
        qualities = rows["quality"].nunique()
        defined = rows[defined_rows(rows, self.metrics)]
        counts = defined.groupby("image")["quality"].nunique()
        return frozenset(str(image) for image in counts.index[counts == qualities])

    def measured_images(self) -> frozenset[str]:
        """The images the curve has at least one record of (empty for published curves)."""
        if self.per_image is None:
            return frozenset()
        return frozenset(str(image) for image in self.per_image["image"])

    def means(self, images: Iterable[str] | None = None) -> pd.DataFrame:
        """Points of the means over ``images`` only (all images when ``None``), by the rule of the
        module docstring; the published points as they are for curves without per-image data."""
        if self.per_image is None:
            return self.points
        images = None if images is None else [str(image) for image in images]
        key = None if images is None else frozenset(images)
        cache = self.__dict__.setdefault("_means", {})  # a curve is frozen: its means over a set of images too
        if key not in cache:
            points = mean_points(self.per_image, self.metrics, images)
            if self.dataset_features is not None:
                points = _with_dataset_metrics(points, self.per_image, self.metrics, images, self.dataset_features)
            cache[key] = points
        return cache[key].copy()

    def image_rows(self) -> dict[str, np.ndarray]:
        """Image name -> the positions of its records in ``per_image``, in their order (empty for published
        curves); computed once (the per-image BD of every pair and metric asks for it)."""
        if self.per_image is None:
            return {}
        if "_image_rows" not in self.__dict__:  # a curve is frozen: so are its records
            grouped = self.per_image.groupby(self.per_image["image"].astype(str), sort=False).indices
            self.__dict__["_image_rows"] = {str(image): rows for image, rows in grouped.items()}
        return self.__dict__["_image_rows"]

    def image_counts(self) -> tuple[int, int] | None:
        """(fewest, most) images a point of the curve averages; ``None`` when not known."""
        if self.per_image is None:
            n = self.stated_images
            return (n, n) if n else None
        if "images" not in self.points or self.points.empty:
            return None
        counts = self.points["images"].to_numpy(int)
        return int(counts.min()), int(counts.max())


def _with_dataset_metrics(
    points: pd.DataFrame,
    rows: pd.DataFrame,
    metrics: Sequence[str],
    images: Iterable[str] | None,
    features: DatasetFeatures,
) -> pd.DataFrame:
    """``points`` with a column per dataset metric of ``features``: at each quality, over the images
    the means of that point cover (rows with every metric of ``metrics`` defined, in ``images``)."""
    keep = defined_rows(rows, metrics)
    if images is not None:
        keep &= rows["image"].astype(str).isin(set(images))
    covered = rows[keep].groupby("quality")["image"].agg(lambda names: frozenset(map(str, names)))
    points = points.copy()
    for metric in features.metrics:
        points[metric.name] = [
            features.value(metric, quality, covered.get(quality, frozenset()))
            for quality in points["quality"].to_numpy(float)
        ]
    return points


def _metric_classes(names: list[str], registry: MetricRegistry) -> list[type[Metric]]:
    return [registry.get(name) for name in names if name in registry]


def defined_rows(rows: pd.DataFrame, metrics: Sequence[str]) -> pd.Series:
    """Which per-image rows have every metric of ``metrics`` defined (not NaN; ``inf`` is defined): the
    rows :func:`~bench.api.records.mean_over_defined` averages, as a mask (which images a point covers)."""
    mask = pd.Series(True, index=rows.index)
    for name in metrics:
        if name in rows:
            mask &= rows[name].notna()
    return mask


def mean_points(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    images: Iterable[str] | None = None,
    registry: MetricRegistry | None = None,
) -> pd.DataFrame:
    """Per quality, the means over images of bpp, each metric and the times by the rule of
    :func:`~bench.api.records.mean_over_defined` (the rows whose every metric is defined; and whose
    image is in ``images``, when given), with ``images``: how many images each mean covers, and the dB
    forms of the means; sorted by bpp. Qualities left without rows are left out."""
    registry = registry or discover_metrics()
    if images is not None:
        rows = rows[rows["image"].astype(str).isin(set(images))]
    columns = [c for c in ("bpp", *metrics, *TIME_COLUMNS) if c in rows]
    present = [name for name in metrics if name in rows]
    found = []
    for quality, group in rows.groupby("quality"):
        count, means = mean_over_defined(group[columns].to_dict("records"), present, columns)
        if count:
            found.append({"quality": quality, **means, "images": count})
    points = pd.DataFrame(found, columns=["quality", *columns, "images"])
    points = points.sort_values("bpp", ignore_index=True)
    points["images"] = points["images"].astype(int)
    return _with_db(points, _metric_classes(list(metrics), registry))  # dB of the mean (MS-SSIM, as CompressAI)


def _with_db(frame: pd.DataFrame, metrics: list[type[Metric]]) -> pd.DataFrame:
    """``frame`` with the dB form of each metric that has one, after the metric's column."""
    frame = frame.copy()
    for metric in metrics:
        if metric.db is not None and metric.name in frame:
            frame[metric.db.name] = [metric.to_db(v) for v in frame[metric.name].to_numpy(float)]
    return frame


def _open_store(folder: Path):
    """The run's store opened read-only (reports never write into a run), or None when there is
    none or it cannot be read (then records.csv is used)."""
    store_path = folder / "store.sqlite"
    if not store_path.is_file():
        return None
    from bench.store.sqlite import Store, StoreCorrupt, StoreError

    try:
        return Store(store_path, read_only=True)
    except StoreCorrupt as exc:  # never a report of what is left of a damaged store
        raise CurveError(str(exc)) from None
    except StoreError:
        if (folder / "records.csv").is_file():
            return None
        raise CurveError(f"{store_path} cannot be read and {folder} has no records.csv") from None


def run_metrics(folder: Path, columns: list[str]) -> list[str]:
    """The metrics of a run folder: from its store, else the records.csv columns between bpp and the times."""
    store = _open_store(folder)
    if store is not None:
        with store:
            return store.metrics()
    if "bpp" in columns and "encode_s" in columns:
        between = columns[columns.index("bpp") + 1 : columns.index("encode_s")]
        return [name for name in between if name not in extra_column_names()]  # not the rate estimate
    return list(DEFAULT_METRICS)


def load_run_records(folder: Path, registry: MetricRegistry | None = None) -> pd.DataFrame:
    """The per-image records of a run folder (from its store; records.csv if the store is gone),
    one column per metric plus the dB forms, and the optional columns some record has
    (:data:`bench.api.extra_columns.EXTRA_COLUMNS`)."""
    folder = Path(folder)
    store = _open_store(folder)
    if store is not None:
        with store:
            records = store.records()
        extras = present_extras(records)  # the optional columns (complexity, memory, ...) some record has
        rows = [
            {
                **{k: v for k, v in r.__dict__.items() if k not in ("extra", "metrics")},
                **{name: r.extra.get(name) for name in extras},
                **r.metrics,
            }
            for r in records
        ]
        frame = pd.DataFrame(rows)
    elif (folder / "records.csv").is_file():
        frame = pd.read_csv(folder / "records.csv")
    else:
        raise CurveError(f"{folder} is not a run folder: no store.sqlite or records.csv")
    if frame.empty:
        raise CurveError(f"{folder} holds no measurements yet")
    registry = registry or discover_metrics()
    return _with_db(frame, _metric_classes(run_metrics(folder, list(frame.columns)), registry))


def run_metadata(folder: Path) -> dict[str, Any]:
    """The run folder's ``run.json`` document (empty when there is none); :class:`CurveError` when it is not JSON."""
    path = folder / "run.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CurveError(f"{path} is not valid JSON: {exc}") from exc


def _run_device(meta: dict[str, Any]) -> str:
    """The device of a run's traditional codecs, from its ``run.json`` document (``meta``)."""
    cpu = meta.get("environment", {}).get("cpu")
    return f"CPU: {cpu} (1 thread)" if cpu else "CPU"


def curves_from_run(folder: str | Path) -> list[Curve]:
    """One curve per codec of a run folder, labelled with the codec name.

    In a rate-matched run (``bench run --target-bpp``), a rate-matched codec's curve has one point per
    target (its ``quality`` is the target, in bpp) from the record chosen for it on each image, for the
    targets reached on every image (:func:`bench.analysis.target_rates.matched_records`)."""
    from bench.analysis.target_rates import matched_features, matched_records, rate_matching_of

    folder = Path(folder)
    registry = discover_metrics()
    records = load_run_records(folder, registry)
    metric_names = run_metrics(folder, list(records.columns))
    meta = run_metadata(folder)
    run_images = frozenset(str(image) for image in records["image"])
    chosen: dict[tuple[str, float, str], float] = {}
    if (matching := rate_matching_of(meta)) is not None:
        records, chosen = matched_records(records, matching)
    features: dict[str, DatasetFeatures | None] = {}
    store = _open_store(folder)
    if store is not None:
        with store:
            if store.dataset_metrics() and (plugins := recorded_plugin_files(meta)):
                try:  # dataset metrics of the run's --plugin files (unchanged since): their aggregates
                    registry = discover_metrics(plugins)
                except MetricError:
                    pass
            metrics = metric_instances(registry, store.dataset_metrics())
            features = {str(codec): DatasetFeatures.from_store(store, str(codec), metrics)
                        for codec in records["codec"].unique()}  # fmt: skip
            if matching is not None:
                features = {codec: matched_features(found, codec, chosen) if codec in matching.knobs else found
                            for codec, found in features.items()}  # fmt: skip
    codecs_meta = meta.get("codecs", {})
    hashes = _image_hashes(folder, meta)
    dataset = meta.get("dataset", {}).get("name", "") if isinstance(meta.get("dataset"), dict) else ""
    curves = []
    for codec, rows in records.groupby("codec", sort=True):
        points = mean_points(rows, metric_names, registry=registry)
        dataset_features = features.get(str(codec))
        if dataset_features is not None:
            points = _with_dataset_metrics(points, rows, metric_names, None, dataset_features)
        info = codecs_meta.get(codec, {})
        curves.append(
            Curve(
                label=str(codec),
                codec=codec,
                kind=info.get("kind", "traditional"),
                source=str(folder),
                points=points,
                per_image=rows.reset_index(drop=True),
                device=_codec_device(info) or _run_device(meta),
                description=_describe_codec(info),
                provenance={"run": folder.name, "command": meta.get("command"), "git": meta.get("git", {})},
                metrics=tuple(metric_names),
                run_images=run_images,
                dataset=str(dataset or ""),
                dataset_metrics=tuple(m.name for m in dataset_features.metrics) if dataset_features else (),
                dataset_features=dataset_features,
                image_sha256=hashes,
            )
        )
    return curves


def _image_hashes(folder: Path, meta: dict[str, Any]) -> dict[str, str]:
    """Each image's sha256 by name, from the run's store (its dataset binding), else its run.json."""
    store = _open_store(folder)
    if store is not None:
        with store:
            bound = store.get_meta("dataset") or {}
        if isinstance(bound.get("images"), dict):
            return {str(name): str(sha) for name, sha in bound["images"].items()}
    images = meta.get("dataset", {}).get("images", []) if isinstance(meta.get("dataset"), dict) else []
    return {
        str(i["name"]): str(i["sha256"]) for i in images if isinstance(i, dict) and i.get("name") and i.get("sha256")
    }


def _codec_device(info: dict[str, Any]) -> str:
    """The device a codec ran on as its ``run.json`` entry (``info``) names it (empty when it names none)."""
    settings = info.get("settings", {})
    name = settings.get("device_name")
    if not name:
        return ""
    threads = settings.get("threads")
    return f"{name}" + (f" ({threads} thread{'s' if threads != 1 else ''})" if threads else "")


def _describe_codec(info: dict[str, Any]) -> str:
    """A codec's versions and settings from its ``run.json`` entry (``info``), as one line."""
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    settings = ", ".join(f"{k}={v}" for k, v in info.get("settings", {}).items() if k != "programs")
    return "; ".join(part for part in (versions, settings) if part)


#: The highest bpp a published file may state (uncompressed 16-bit RGBA is 64 bpp): more is an error.
MAX_PUBLISHED_BPP = 100.0


def _json_number(value: Any) -> float | None:
    """A JSON value as a float (``null`` -> NaN); ``None`` for anything that is not a number, or an
    integer too large for a float."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _out_of_range(value: float, bounds: tuple[float, float] | None) -> bool:
    """True for a value (not NaN: ``null``) outside ``bounds`` (inclusive; ``None``: any value)."""
    return bounds is not None and not math.isnan(value) and not bounds[0] <= value <= bounds[1]


def _bounds_text(bounds: tuple[float, float]) -> str:
    return f"[{bounds[0]:g}, {bounds[1]:g}]"


def _describe_value(value: Any) -> str:
    """A JSON value as an error message quotes it (at most 30 characters)."""
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _stated_images(meta: dict[str, Any]) -> tuple[int | None, str]:
    """(number of images, dataset name) a published file's ``meta`` states: ``images``, else the size of
    the named dataset when codec-bench ships its manifest; ``None`` when neither says."""
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), str) else ""
    images = meta.get("images")
    if isinstance(images, int) and not isinstance(images, bool) and images > 0:
        return images, dataset
    if dataset:
        from bench.data.datasets import DatasetError, known_datasets, load_manifest

        if dataset.lower() in known_datasets():
            try:
                return load_manifest(dataset.lower()).image_count, dataset
            except (DatasetError, KeyError, ValueError):
                pass
    return None, dataset


def _read_results(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the document, its ``results`` block) of a CompressAI results file; a :class:`CurveError` for a file
    that is not one (unreadable, not JSON, no ``results`` object with a ``bpp`` list)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise CurveError(f"{path}: cannot read a CompressAI results file (JSON nested too deeply)") from None
    except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8, an integer of over 4300 digits
        reason = " ".join(str(exc).split())[:200]
        raise CurveError(f"{path}: cannot read a CompressAI results file ({reason})") from None
    if not isinstance(doc, dict):
        raise CurveError(f"{path}: not a CompressAI results file (a JSON object with 'results' expected)")
    results = doc.get("results")
    if results is not None and not isinstance(results, dict):
        raise CurveError(f"{path}: 'results' must be an object of lists, not {type(results).__name__}")
    if not isinstance(results, dict) or "bpp" not in results:
        raise CurveError(f"{path}: not a CompressAI results file (needs 'results' with 'bpp')")
    if not isinstance(results["bpp"], list):
        raise CurveError(f"{path}: 'bpp' must be a list of numbers, not {_describe_value(results['bpp'])}")
    return doc, results


def _result_values(path: Path, results: dict[str, Any], key: str, bounds: tuple[float, float] | None = None,
                   check: Callable[[float], float] | None = None) -> list[float]:  # fmt: skip
    """The values of ``results[key]``, one per point (``null`` -> NaN; all NaN when the key is absent); a
    :class:`CurveError` for a value that is not a number, a list whose length is not ``bpp``'s, or a
    value outside ``bounds`` (inclusive; after ``check``, a conversion, when given: a dB form's inverse)."""
    n = len(results["bpp"])
    column = results.get(key)
    if column is None:
        return [math.nan] * n
    if not isinstance(column, list):
        raise CurveError(f"{path}: '{key}' must be a list of numbers, not {_describe_value(column)}")
    if len(column) != n:
        raise CurveError(f"{path}: '{key}' has {len(column)} values but 'bpp' has {n}")
    out = []
    for i, value in enumerate(column):
        number = _json_number(value)
        if number is None:
            what = (
                "an integer too large for a float" if isinstance(value, int) else "not a number (or null for no value)"
            )
            raise CurveError(f"{path}: '{key}'[{i}] is {_describe_value(value)}, {what}")
        if _out_of_range(check(number) if check and math.isfinite(number) else number, bounds):
            raise CurveError(f"{path}: '{key}'[{i}] is {_describe_value(value)}, outside the valid range "
                             f"{_bounds_text(bounds)}{' (converted back from dB)' if check else ''}")  # fmt: skip
        out.append(number)
    return out


def _bpp_values(path: Path, results: dict[str, Any]) -> list[float]:
    """The ``bpp`` values of a results file: each finite, above 0 and at most :data:`MAX_PUBLISHED_BPP` (or null)."""
    values = _result_values(path, results, "bpp")
    for i, value in enumerate(values):
        if not math.isnan(value) and not 0 < value <= MAX_PUBLISHED_BPP:
            raise CurveError(f"{path}: 'bpp'[{i}] is {_describe_value(results['bpp'][i])}, not a rate: bpp must be "
                             f"above 0 and at most {MAX_PUBLISHED_BPP:g}")  # fmt: skip
    return values


def _published_points(path: Path, results: dict[str, Any]) -> tuple[pd.DataFrame, list[type[Metric]]]:
    """The points of a results file, sorted by bpp (``quality``: the entry's index; bpp; each registered
    metric that has a CompressAI key or that the file names, with its dB form; the times), and those metrics."""
    registry = discover_metrics()
    # CompressAI's keys; other metrics under codec-bench's names, as to_compressai writes them
    metrics = [m for m in _metric_classes(registry.names(), registry) if m.compressai_key or m.name in results]
    frame = pd.DataFrame(
        {
            "quality": np.arange(len(results["bpp"]), dtype=float),
            "bpp": _bpp_values(path, results),
            **{m.name: _result_values(path, results, m.compressai_key or m.name, m.value_range) for m in metrics},
            "encode_s": _result_values(path, results, "encoding_time"),
            "decode_s": _result_values(path, results, "decoding_time"),
        }
    )
    frame = _with_db(frame, metrics)
    for m in metrics:  # paper files may give a metric in dB only (MS-SSIM)
        if m.db is not None and m.db.compressai_key in results:
            frame[m.db.name] = _result_values(path, results, m.db.compressai_key, m.value_range, m.db.invert)
            missing = frame[m.name].isna()
            frame.loc[missing, m.name] = [
                m.db.invert(v) if math.isfinite(v) else math.nan for v in frame.loc[missing, m.db.name]
            ]
    return frame.sort_values("bpp", ignore_index=True), metrics


def curves_from_compressai(path: str | Path) -> Curve:
    """A published curve from a CompressAI results file (any of its schema variants), labelled
    with the file's ``name`` (see :func:`unique_labels` for files that share a name).

    ``null`` values read as NaN; values that are not numbers, and lists whose length differs from
    ``bpp``'s, raise a one-line :class:`CurveError` naming the file and the key."""
    path = Path(path)
    doc, results = _read_results(path)
    frame, metrics = _published_points(path, results)
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    name = doc.get("name")
    name = name.strip() if isinstance(name, str) and name.strip() else path.stem
    description = doc.get("description")
    stated, dataset = _stated_images(meta)
    device = meta.get("device")
    return Curve(
        label=name,
        codec=name,
        kind="published",
        source=str(path),
        points=frame,
        per_image=None,
        device=device if isinstance(device, str) else "",
        description=description if isinstance(description, str) else "",
        provenance={"file": path.name, **({"meta": meta} if meta else {})},
        metrics=tuple(m.name for m in metrics),
        dataset=dataset,
        stated_images=stated,
    )


def _file_tag(curve: Curve) -> str:
    """What tells a published file apart from others of the same name: its file name without the
    curve name and CompressAI's prefixes ("compressai-mbt2018_mse_cuda.json" -> "mse_cuda")."""
    stem = Path(curve.source).stem
    tag = stem.replace(curve.label, "")
    for prefix in ("compressai-", "paper-"):
        tag = tag.replace(prefix, "")
    return tag.strip("-_ .") or stem


def unique_labels(curves: list[Curve]) -> list[Curve]:
    """Published curves whose names clash with another curve get their file name added."""
    counts: dict[str, int] = {}
    for curve in curves:
        counts[curve.label] = counts.get(curve.label, 0) + 1
    out = []
    for curve in curves:
        if curve.kind == "published" and counts[curve.label] > 1:
            curve = replace(curve, label=f"{curve.label} [{_file_tag(curve)}]")
        out.append(curve)
    return out


def _json_values(values: np.ndarray) -> list[float | None]:
    """``values`` as JSON numbers: ``None`` (``null``) for a value that is not finite."""
    return [None if not np.isfinite(v) else float(v) for v in values]


def to_compressai(curve: Curve, description: str = "") -> dict[str, Any]:
    """The curve in CompressAI's results schema (means over images, by the rule of the module
    docstring; one entry per quality; ``null`` for values that are not finite): bpp, every metric of
    the curve that CompressAI computes the same way (under its ``compressai_key``), the curve's other
    metrics (dataset metrics such as FID included) under codec-bench's metric names, times, and a
    ``meta`` block: ``images`` (the most images a point averages), ``images_per_point``, ``dataset``,
    ``device``."""
    points = curve.points.sort_values("bpp")
    registry = discover_metrics()
    names = [*curve.metrics, *curve.dataset_metrics]
    keys = {m.compressai_key or m.name: m.name for m in _metric_classes(names, registry)}
    keys.update({name: name for name in curve.dataset_metrics if name not in keys.values()})
    doc: dict[str, Any] = {
        "name": curve.label,
        "description": description or curve.description or f"codec-bench curve of {curve.codec}",
        "results": {
            "bpp": _json_values(points["bpp"].to_numpy(float)),
            **{key: _json_values(points[name].to_numpy(float)) for key, name in keys.items() if name in points},
            "encoding_time": _json_values(points["encode_s"].to_numpy(float))
            if "encode_s" in points
            else [None] * len(points),
            "decoding_time": _json_values(points["decode_s"].to_numpy(float))
            if "decode_s" in points
            else [None] * len(points),
        },
    }
    meta: dict[str, Any] = {"source": "codec-bench"}
    if curve.dataset:
        meta["dataset"] = curve.dataset
    if "images" in points and len(points):
        counts = [int(n) for n in points["images"].to_numpy(int)]
        meta["images"] = max(counts)
        meta["images_per_point"] = counts
    elif curve.stated_images:
        meta["images"] = curve.stated_images
    if curve.device:
        meta["device"] = curve.device
    doc["meta"] = meta
    return doc


# --- images of several runs: paired by content, not by name ----------------------------------------------------

_MAX_LISTED = 4  # images named in a note before "and N more"


def _listed(items: Sequence[str]) -> str:
    """``items`` as a list of at most :data:`_MAX_LISTED`, then ``and N more``."""
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _renamed_features(features: DatasetFeatures | None, mapping: dict[str, str]) -> DatasetFeatures | None:
    """``features`` with their images renamed by ``mapping``."""
    if features is None:
        return None
    reference = {
        space: {mapping.get(n, n): a for n, a in arrays.items()} for space, arrays in features.reference.items()
    }
    decoded = {space: {(q, mapping.get(n, n)): a for (q, n), a in arrays.items()}
               for space, arrays in features.decoded.items()}  # fmt: skip
    return replace(features, reference=reference, decoded=decoded)


def _renamed(curve: Curve, mapping: dict[str, str]) -> Curve:
    """``curve`` with its images renamed by ``mapping`` (names it lacks stay)."""
    if all(mapping.get(name, name) == name for name in curve.image_sha256):
        return curve
    per_image = curve.per_image.assign(image=[mapping.get(str(n), str(n)) for n in curve.per_image["image"]])
    return replace(curve, per_image=per_image, run_images=frozenset(mapping.get(n, n) for n in curve.run_images),
                   dataset_features=_renamed_features(curve.dataset_features, mapping),
                   image_sha256={mapping.get(n, n): sha for n, sha in curve.image_sha256.items()})  # fmt: skip


@dataclass
class _Contents:
    """The image contents (sha256) seen so far over the runs: the name each is compared under, and which
    content and run each such name stands for."""

    name_of: dict[str, str] = field(default_factory=dict)
    content_of: dict[str, str] = field(default_factory=dict)
    run_of: dict[str, str] = field(default_factory=dict)

    def place(self, run: str, hashes: dict[str, str]) -> tuple[dict[str, str], list[str], list[str]]:
        """The names of a run's images (``hashes``: sha256 by name) in the comparison; the names that stand for
        other content in an earlier run; the images another run has under another name."""
        mapping: dict[str, str] = {}
        clashes, aliases = [], []
        for name, sha in sorted(hashes.items()):
            target = self.name_of.get(sha)
            if target is not None and target not in mapping.values():
                if target != name:
                    aliases.append(f"{name} = {target} of {self.run_of[target]}")
            else:
                target = name
                if self.content_of.get(name, sha) != sha or name in mapping.values():
                    clashes.append(name)
                    target = self._free_name(f"{run}/{name}", sha)
                self.name_of.setdefault(sha, target)
                self.content_of[target], self.run_of[target] = sha, run
            mapping[name] = target
        return mapping, clashes, aliases

    def _free_name(self, wanted: str, sha: str) -> str:
        """``wanted``, or ``wanted (2)``, ``(3)``, ...: the first not given to other content (several runs
        may have folders of the same name, each with other content under one image name)."""
        name, n = wanted, 1
        while self.content_of.get(name, sha) != sha:
            n += 1
            name = f"{wanted} ({n})"
        return name


def pair_by_content(curves: Sequence[Curve]) -> tuple[list[Curve], list[str]]:
    """Run curves from several run folders with their images named by content (the sha256 each run
    recorded), so that comparisons pair the same images: an image whose name another run gives to other
    content is renamed ``<run>/<name>`` (never paired with it), one that another run has under another name
    takes that name. Also the notes saying so, and naming the images a run holds under several names."""
    runs = list(dict.fromkeys(c.source for c in curves if c.per_image is not None and c.image_sha256))
    notes, contents, mappings = [], _Contents(), {}
    for source in runs:
        run = Path(source).name
        hashes = {n: h for c in curves if c.source == source for n, h in c.image_sha256.items()}
        measured = {n for c in curves if c.source == source for n in c.measured_images()}
        twice: dict[str, list[str]] = {}
        for name in sorted(measured & hashes.keys()):
            twice.setdefault(hashes[name], []).append(name)
        notes += [f"{run}: {' and '.join(names)} are the same file (same sha256): that image counts {len(names)} "
                  "times in every mean" for names in twice.values() if len(names) > 1]  # fmt: skip
        if len(runs) < 2:
            continue
        mappings[source], clashes, aliases = contents.place(
            run, {n: hashes[n] for n in sorted(measured & hashes.keys())}
        )
        if clashes:
            notes.append(f"{run} names other images than an earlier run under the same names ({_listed(clashes)}: "
                         f"their sha256 differ); images are paired by content, so these are not compared with "
                         f"each other (shown as {run}/NAME)")  # fmt: skip
        if aliases:
            notes.append(f"{run} has images of an earlier run under other names (same sha256), compared as one "
                         f"image: {_listed(aliases)}")  # fmt: skip
    renamed = [_renamed(c, mappings[c.source]) if c.source in mappings else c for c in curves]
    return renamed, notes
