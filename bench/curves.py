"""Rate-distortion curves from runs and from published result files, and CompressAI's file format.

A :class:`Curve` is one codec's points: per quality value, the mean over images of bpp and each
metric (the CompressAI convention), plus the per-image records when they exist (our runs; not
published files). Curves come from

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

from bench.metrics import ms_ssim_db

__all__ = [
    "Curve",
    "METRICS",
    "CurveError",
    "curves_from_run",
    "curves_from_compressai",
    "to_compressai",
    "unique_labels",
    "load_run_records",
]

#: Quality columns of a curve: column -> (short name, unit, axis label)
METRICS = {
    "psnr_rgb": ("PSNR-RGB", "dB", "PSNR-RGB [dB]"),
    "psnr_y": ("Y-PSNR", "dB", "Y-PSNR (BT.709 luma) [dB]"),
    "ms_ssim_rgb": ("MS-SSIM", "", "MS-SSIM (RGB)"),
    "ms_ssim_db": ("MS-SSIM-dB", "dB", "MS-SSIM (RGB) [dB]"),
}
POINT_COLUMNS = ("quality", "bpp", "psnr_rgb", "psnr_y", "ms_ssim_rgb", "ms_ssim_db", "encode_s", "decode_s")


class CurveError(ValueError):
    """A run folder or results file that cannot be read as curves; the message names it."""


@dataclass(frozen=True)
class Curve:
    """One codec's rate-distortion points.

    ``points``: one row per quality value with the means over images (columns
    :data:`POINT_COLUMNS`; NaN where a metric is unknown), sorted by bpp; ``ms_ssim_db`` there is
    the dB value of the mean MS-SSIM (CompressAI's convention), in ``per_image`` each image's. ``per_image``: the run's
    records (image, quality, bpp, metrics), or ``None`` for published curves. ``kind`` is
    ``traditional``, ``neural`` or ``published``.
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

    def column(self, name: str) -> np.ndarray:
        return self.points[name].to_numpy(dtype=float)


def _with_db(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["ms_ssim_db"] = [ms_ssim_db(v) if np.isfinite(v) else math.nan for v in frame["ms_ssim_rgb"]]
    return frame


def load_run_records(folder: Path) -> pd.DataFrame:
    """The per-image records of a run folder (from its store; records.csv if the store is gone)."""
    folder = Path(folder)
    store_path = folder / "store.sqlite"
    if store_path.is_file():
        from bench.store import Store

        with Store(store_path) as store:
            rows = [{k: v for k, v in r.__dict__.items() if k != "extra"} for r in store.records()]
        frame = pd.DataFrame(rows)
    elif (folder / "records.csv").is_file():
        frame = pd.read_csv(folder / "records.csv")
    else:
        raise CurveError(f"{folder} is not a run folder: no store.sqlite or records.csv")
    if frame.empty:
        raise CurveError(f"{folder} holds no measurements yet")
    return _with_db(frame)


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
    records = load_run_records(folder)
    meta = _run_metadata(folder)
    codecs_meta = meta.get("codecs", {})
    curves = []
    for codec, rows in records.groupby("codec", sort=True):
        means = [c for c in POINT_COLUMNS if c not in ("quality", "ms_ssim_db")]
        points = (
            rows.groupby("quality", as_index=False)
            .agg(**{c: (c, "mean") for c in means}, images=("image", "nunique"))
            .sort_values("bpp", ignore_index=True)
        )
        points = _with_db(points)  # dB of the mean MS-SSIM, as CompressAI plots it
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

    frame = pd.DataFrame(
        {
            "quality": np.arange(n, dtype=float),
            "bpp": values("bpp"),
            "psnr_rgb": values("psnr-rgb"),
            "psnr_y": values("psnr-y"),
            "ms_ssim_rgb": values("ms-ssim-rgb"),
            "encode_s": values("encoding_time"),
            "decode_s": values("decoding_time"),
        }
    )
    frame = _with_db(frame)
    if "ms-ssim-db-rgb" in results:  # paper files give MS-SSIM in dB only
        frame["ms_ssim_db"] = values("ms-ssim-db-rgb")
        missing = frame["ms_ssim_rgb"].isna()
        frame.loc[missing, "ms_ssim_rgb"] = 1 - 10 ** (-frame.loc[missing, "ms_ssim_db"] / 10)
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
    """The curve in CompressAI's results schema (means over images; one entry per quality)."""
    points = curve.points.sort_values("bpp")
    return {
        "name": curve.label,
        "description": description or curve.description or f"codec-bench curve of {curve.codec}",
        "results": {
            "bpp": _clean(points["bpp"].to_numpy(float)),
            "psnr-rgb": _clean(points["psnr_rgb"].to_numpy(float)),
            "ms-ssim-rgb": _clean(points["ms_ssim_rgb"].to_numpy(float)),
            "encoding_time": _clean(points["encode_s"].to_numpy(float)),
            "decoding_time": _clean(points["decode_s"].to_numpy(float)),
        },
    }
