"""Synthetic rate-distortion data for the tests of bench/analysis and bench/report: per-image records of
made-up codecs whose BD values and matched-quality ratios are known, curves of given points, and the
row of a BD table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.curves import Curve, mean_points
from bench.metrics.fidelity import ms_ssim_db

# --- per-image records varying by image (the bootstrap's intervals) ---------------------------------------

#: The qualities of :func:`bootstrap_rows`.
BOOTSTRAP_QUALITIES = (10, 30, 50, 70, 90)


def bootstrap_rows(codec: str, images: int, saving: float, seed: int, spread: float = 0.1) -> pd.DataFrame:
    """Per-image records of a codec that needs ``1 - saving`` of a reference rate, varying by image (each
    image's difficulty, ``scale``, is the same for every codec)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(images):
        scale = math.exp(np.random.default_rng(1000 + i).normal(0, 0.3))
        factor = (1 - saving) * math.exp(rng.normal(0, spread))
        for q in BOOTSTRAP_QUALITIES:
            bpp = scale * factor * (0.1 + q / 40)
            psnr = 24 + 6 * math.log2(1 + q / 20) + rng.normal(0, 0.05)
            ms_ssim = 1 - 0.2 / (1 + q / 10) * math.exp(rng.normal(0, 0.02))
            out.append(dict(codec=codec, quality=float(q), image=f"img{i:03d}.png", bpp=bpp, psnr_rgb=psnr,
                            ms_ssim_rgb=ms_ssim, ms_ssim_db=ms_ssim_db(ms_ssim)))  # fmt: skip
    return pd.DataFrame(out)


def bootstrap_curve(rows: pd.DataFrame, label: str | None = None) -> Curve:
    """The run curve of :func:`bootstrap_rows` (PSNR-RGB and MS-SSIM)."""
    metrics = ("psnr_rgb", "ms_ssim_rgb")
    label = label or str(rows["codec"].iloc[0])
    return Curve(label=label, codec=label, kind="traditional", source="synthetic", points=mean_points(rows, metrics),
                 per_image=rows, metrics=metrics, run_images=frozenset(rows["image"]))  # fmt: skip


# --- per-image records along known curves (matched-quality ratios) -----------------------------------------

#: The knob settings of :func:`matched_rows`, and its metrics.
MATCHED_SETTINGS = (10, 30, 60, 90)
MATCHED_METRICS = ("psnr_rgb", "ms_ssim_rgb")


def matched_psnr(setting: float, image: int) -> float:
    return 26 + 7 * math.log2(1 + setting / 25) + 0.8 * image


def matched_ms_ssim(setting: float, image: int) -> float:
    return 1 - 0.15 / (1 + setting / 12) / (1 + image / 10)


def matched_bpp(setting: float, image: int) -> float:
    return (0.08 + setting / 45 + (setting / 70) ** 2) * (1 + image / 5)


def matched_rows(
    codec: str, images: int = 5, *, factor: float = 1.0, settings=MATCHED_SETTINGS, shift: float = 0.0
) -> pd.DataFrame:
    """Per-image records: image ``i`` at ``setting`` has ``factor`` times the reference bpp at the
    reference quality of ``setting + shift`` (so ``shift`` moves the points along the same curve)."""
    out = []
    for i in range(images):
        for s in settings:
            ms_ssim = matched_ms_ssim(s + shift, i)
            out.append(dict(codec=codec, image=f"img{i}.png", quality=float(s),
                            bpp=factor * matched_bpp(s + shift, i), psnr_rgb=matched_psnr(s + shift, i),
                            ms_ssim_rgb=ms_ssim, ms_ssim_db=ms_ssim_db(ms_ssim)))  # fmt: skip
    return pd.DataFrame(out)


def matched_curve(rows: pd.DataFrame) -> Curve:
    """The run curve of :func:`matched_rows`."""
    label = str(rows["codec"].iloc[0])
    return Curve(label=label, codec=label, kind="traditional", source="synthetic",
                 points=mean_points(rows, MATCHED_METRICS), per_image=rows, metrics=MATCHED_METRICS,
                 run_images=frozenset(rows["image"]))  # fmt: skip


def matched_run_folder(folder: Path, *codecs: tuple[str, float]) -> Path:
    """A run folder (records.csv only) of :func:`matched_rows` for each ``(codec, factor)``."""
    folder.mkdir()
    rows = [matched_rows(codec, factor=factor).drop(columns="ms_ssim_db") for codec, factor in codecs]
    pd.concat(rows).assign(encode_s=0.01, decode_s=0.01).to_csv(folder / "records.csv", index=False)
    return folder


# --- curves of given points, rows of BD tables --------------------------------------------------------------


def points_curve(label, bpp, quality, *, kind="published", codec=None, metric="psnr_rgb", device="") -> Curve:
    """A curve of the given points (quality 0, 1, 2, ...: the knob) in one metric, without per-image values."""
    points = pd.DataFrame({"quality": np.arange(len(bpp), dtype=float), "bpp": bpp, metric: quality})
    return Curve(label=label, codec=codec or label, kind=kind, source=f"{label}.json", points=points,
                 device=device, metrics=(metric,))  # fmt: skip


def bd_row(table: pd.DataFrame, codec: str, metric: str = "psnr_rgb", aggregation: str = "mean-curve") -> pd.Series:
    """The one row of a BD table for ``codec``, ``metric`` and ``aggregation``."""
    part = table[(table.codec == codec) & (table.metric == metric) & (table.aggregation == aggregation)]
    assert len(part) == 1, part
    return part.iloc[0]
