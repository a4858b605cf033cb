"""Rate-distortion curves from runs and from published result files, and CompressAI's file format.

A :class:`Curve` is one codec's points: per quality value, the mean over images of bpp and each
metric (the CompressAI convention), plus the per-image records when they exist (our runs; not
published files). Its metric columns are those of the registered metrics (:mod:`bench.metric`)
that the run measured or the file holds, each followed by its dB form where it has one. Curves come
from

* a run folder (:func:`curves_from_run`): one curve per codec, from ``store.sqlite`` (or
  ``records.csv``) and ``run.json``;
* a CompressAI results file (:func:`curves_from_compressai`): ``{"name", "description",
  "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...], ...}}``, including the
  ``paper-*.json`` variants with a ``meta`` block and ``ms-ssim-db-rgb`` (already in dB).

:func:`to_compressai` writes a curve back in CompressAI's schema.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.metric import DEFAULT_METRICS, Metric, MetricRegistry, discover_metrics

__all__ = [
    "Curve",
    "CurveError",
    "curves_from_run",
    "curves_from_compressai",
    "to_compressai",
    "unique_labels",
    "load_run_records",
]

TIME_COLUMNS = ("encode_s", "decode_s")


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
    ``metrics``: the names of the metrics the curve has.
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

    def column(self, name: str) -> np.ndarray:
        """The values of column ``name`` at each point (all NaN when the curve does not have it)."""
        if name not in self.points:
            return np.full(len(self.points), math.nan)
        return self.points[name].to_numpy(dtype=float)


def _metric_classes(names: list[str], registry: MetricRegistry) -> list[type[Metric]]:
    return [registry.get(name) for name in names if name in registry]


def _with_db(frame: pd.DataFrame, metrics: list[type[Metric]]) -> pd.DataFrame:
    """``frame`` with the dB form of each metric that has one, after the metric's column."""
    frame = frame.copy()
    for metric in metrics:
        if metric.db is not None and metric.name in frame:
            frame[metric.db.name] = [metric.to_db(v) for v in frame[metric.name].to_numpy(float)]
    return frame


def _run_metrics(folder: Path, columns: list[str]) -> list[str]:
    """The metrics of a run folder: from its store, else the records.csv columns between bpp and the times."""
    store_path = folder / "store.sqlite"
    if store_path.is_file():
        from bench.store import Store

        with Store(store_path) as store:
            return store.metrics()
    if "bpp" in columns and "encode_s" in columns:
        return columns[columns.index("bpp") + 1 : columns.index("encode_s")]
    return list(DEFAULT_METRICS)


def load_run_records(folder: Path, registry: MetricRegistry | None = None) -> pd.DataFrame:
    """The per-image records of a run folder (from its store; records.csv if the store is gone),
    one column per metric plus the dB forms."""
    folder = Path(folder)
    store_path = folder / "store.sqlite"
    if store_path.is_file():
        from bench.store import Store

        with Store(store_path) as store:
            rows = [
                {**{k: v for k, v in r.__dict__.items() if k not in ("extra", "metrics")}, **r.metrics}
                for r in store.records()
            ]
        frame = pd.DataFrame(rows)
    elif (folder / "records.csv").is_file():
        frame = pd.read_csv(folder / "records.csv")
    else:
        raise CurveError(f"{folder} is not a run folder: no store.sqlite or records.csv")
    if frame.empty:
        raise CurveError(f"{folder} holds no measurements yet")
    registry = registry or discover_metrics()
    return _with_db(frame, _metric_classes(_run_metrics(folder, list(frame.columns)), registry))


def _run_metadata(folder: Path) -> dict[str, Any]:
    path = folder / "run.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CurveError(f"{path} is not valid JSON: {exc}") from exc


def _device(meta: dict[str, Any]) -> str:
    cpu = meta.get("environment", {}).get("cpu")
    return f"CPU: {cpu} (1 thread)" if cpu else "CPU"


def curves_from_run(folder: str | Path) -> list[Curve]:
    """One curve per codec of a run folder, labelled with the codec name."""
    folder = Path(folder)
    registry = discover_metrics()
    records = load_run_records(folder, registry)
    metric_names = _run_metrics(folder, list(records.columns))
    metrics = _metric_classes(metric_names, registry)
    meta = _run_metadata(folder)
    codecs_meta = meta.get("codecs", {})
    curves = []
    for codec, rows in records.groupby("codec", sort=True):
        means = ["bpp", *metric_names, *TIME_COLUMNS]
        points = (
            rows.groupby("quality", as_index=False)
            .agg(**{c: (c, "mean") for c in means}, images=("image", "nunique"))
            .sort_values("bpp", ignore_index=True)
        )
        points = _with_db(points, metrics)  # dB of the mean (MS-SSIM: as CompressAI plots it)
        info = codecs_meta.get(codec, {})
        curves.append(
            Curve(
                label=str(codec),
                codec=codec,
                kind=info.get("kind", "traditional"),
                source=str(folder),
                points=points,
                per_image=rows.reset_index(drop=True),
                device=_codec_device(info) or _device(meta),
                description=_describe_codec(info),
                provenance={"run": folder.name, "command": meta.get("command"), "git": meta.get("git", {})},
                metrics=tuple(metric_names),
            )
        )
    return curves


def _codec_device(info: dict[str, Any]) -> str:
    settings = info.get("settings", {})
    name = settings.get("device_name")
    if not name:
        return ""
    threads = settings.get("threads")
    return f"{name}" + (f" ({threads} thread{'s' if threads != 1 else ''})" if threads else "")


def _describe_codec(info: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    settings = ", ".join(f"{k}={v}" for k, v in info.get("settings", {}).items() if k != "programs")
    return "; ".join(part for part in (versions, settings) if part)


def curves_from_compressai(path: str | Path) -> Curve:
    """A published curve from a CompressAI results file (any of its schema variants), labelled
    with the file's ``name`` (see :func:`unique_labels` for files that share a name)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CurveError(f"{path}: cannot read a CompressAI results file ({exc})") from exc
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, dict) or "bpp" not in results:
        raise CurveError(f"{path}: not a CompressAI results file (needs 'results' with 'bpp')")
    n = len(results["bpp"])

    def values(key: str) -> list[float]:
        column = results.get(key)
        if column is None:
            return [math.nan] * n
        if len(column) != n:
            raise CurveError(f"{path}: '{key}' has {len(column)} values but 'bpp' has {n}")
        return [float(v) for v in column]

    registry = discover_metrics()
    metrics = [m for m in _metric_classes(registry.names(), registry) if m.compressai_key]
    frame = pd.DataFrame(
        {
            "quality": np.arange(n, dtype=float),
            "bpp": values("bpp"),
            **{m.name: values(m.compressai_key) for m in metrics},
            "encode_s": values("encoding_time"),
            "decode_s": values("decoding_time"),
        }
    )
    frame = _with_db(frame, metrics)
    for m in metrics:  # paper files may give a metric in dB only (MS-SSIM)
        if m.db is not None and m.db.compressai_key in results:
            frame[m.db.name] = values(m.db.compressai_key)
            missing = frame[m.name].isna()
            frame.loc[missing, m.name] = [m.db.invert(v) for v in frame.loc[missing, m.db.name]]
    frame = frame.sort_values("bpp", ignore_index=True)
    meta = doc.get("meta", {}) if isinstance(doc.get("meta"), dict) else {}
    name = str(doc.get("name") or path.stem)
    return Curve(
        label=name,
        codec=name,
        kind="published",
        source=str(path),
        points=frame,
        per_image=None,
        device=str(meta.get("device", "")),
        description=str(doc.get("description", "")),
        provenance={"file": path.name, **({"meta": meta} if meta else {})},
        metrics=tuple(m.name for m in metrics),
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


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


def to_compressai(curve: Curve, description: str = "") -> dict[str, Any]:
    """The curve in CompressAI's results schema (means over images; one entry per quality): bpp,
    every metric of the curve that CompressAI computes the same way (its ``compressai_key``), times."""
    points = curve.points.sort_values("bpp")
    registry = discover_metrics()
    keys = {m.compressai_key: m.name for m in _metric_classes(list(curve.metrics), registry) if m.compressai_key}
    return {
        "name": curve.label,
        "description": description or curve.description or f"codec-bench curve of {curve.codec}",
        "results": {
            "bpp": _clean(points["bpp"].to_numpy(float)),
            **{key: _clean(points[name].to_numpy(float)) for key, name in keys.items()},
            "encoding_time": _clean(points["encode_s"].to_numpy(float)),
            "decoding_time": _clean(points["decode_s"].to_numpy(float)),
        },
    }
