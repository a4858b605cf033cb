"""Metrics: ours (bench.metrics_*) vs their reference implementations, one CPU thread, 768x512 Kodak.

For each metric of ``METRICS``: the median over Kodak images (each against its JPEG at quality 30,
Pillow) of the best of ``REPEATS`` timed calls of ours and of the reference, the speed-up and the
largest difference of the values (absolute, and relative to the reference's value). The reference gets
its inputs ready-made (tensors, ...): only the metric itself is timed.

``METRICS`` is a table of ``Row(name, ours, reference, reference_label, prepare, prepare_exact)``:
``ours(ref, dist)`` takes the two H x W x 3 uint8 arrays; ``prepare(ref, dist)`` makes the reference's
inputs (default: float32 NCHW tensors in [0, 1], distorted first, as piq is called) and
``reference(*inputs)`` returns a float or a one-element tensor; ``prepare_exact`` makes float64 inputs
for one untimed reference call, whose difference to ours is the "vs float64" column (the float32
references round visibly on images with flat regions, e.g. kodim20). Add a metric by appending a row
to ``METRICS``, or from another module: define ``METRIC_ROWS`` (a list of ``Row``) there and pass
``--rows that.module`` (a module importable from this folder, e.g. ``tests/perf/fsim_rows.py``).

    .venv/bin/python tests/perf/metric_speed.py                 # every metric, all 24 images
    .venv/bin/python tests/perf/metric_speed.py --images 6 vif gmsd
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np
import piq
import pytorch_msssim
import torch
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from _common import best_of, data_dir, machine
from bench.metrics.colour import BT709_YCBCR, ciede2000, psnr_yuv
from bench.metrics.structure import gmsd, ssim, vif

REPEATS = 5
QUALITY = 30


def tensor01(image: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """1 x 3 x H x W tensor in [0, 1]."""
    return torch.from_numpy(image.copy()).to(dtype).permute(2, 0, 1)[None] / 255.0


def tensor255(image: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """1 x 3 x H x W tensor in [0, 255]."""
    return torch.from_numpy(image.copy()).to(dtype).permute(2, 0, 1)[None]


def _as_float(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def piq_inputs(ref: np.ndarray, dist: np.ndarray, dtype: torch.dtype = torch.float32) -> tuple:
    """piq's order: the distorted image first, then the reference; NCHW in [0, 1]."""
    return tensor01(dist, dtype), tensor01(ref, dtype)


def piq_inputs64(ref: np.ndarray, dist: np.ndarray) -> tuple:
    return piq_inputs(ref, dist, torch.float64)


def arrays(ref: np.ndarray, dist: np.ndarray) -> tuple:
    return ref, dist


@dataclass
class Row:
    """One metric: ours, the reference, and how the reference's inputs are made from (ref, dist).

    ``prepare`` makes the inputs of the timed reference call (as it is usually called: float32
    tensors for piq); ``prepare_exact``, if given, inputs of one more, untimed, call in float64, to
    show how much of the difference is the reference's own float32 rounding.
    """

    name: str
    ours: Callable[[np.ndarray, np.ndarray], float]
    reference: Callable[..., Any]
    reference_label: str
    prepare: Callable[[np.ndarray, np.ndarray], tuple] = piq_inputs
    prepare_exact: Callable[[np.ndarray, np.ndarray], tuple] | None = piq_inputs64


def _yuv_formula(ref: np.ndarray, dist: np.ndarray) -> float:
    """PSNR-YUV written plainly: YCbCr of both images in float64, three MSEs (as the test's formula)."""
    a = ref.astype(np.float64) @ BT709_YCBCR.T
    b = dist.astype(np.float64) @ BT709_YCBCR.T
    mse = ((a - b) ** 2).reshape(-1, 3).mean(axis=0)
    return 10 * np.log10(255**2 / ((6 * mse[0] + mse[1] + mse[2]) / 8))


#: The table: one row per metric. Add rows here, or in a module's ``METRIC_ROWS`` (``--rows module``).
METRICS: list[Row] = [
    Row("ssim_rgb", ssim, lambda x, y: pytorch_msssim.ssim(x, y, data_range=255), "pytorch_msssim.ssim",
        lambda ref, dist: (tensor255(ref), tensor255(dist)),
        lambda ref, dist: (tensor255(ref, torch.float64), tensor255(dist, torch.float64))),
    Row("psnr_yuv", psnr_yuv, _yuv_formula, "numpy float64 formula", arrays, None),
    Row("ciede2000", ciede2000, lambda a, b: deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean(),
        "skimage deltaE_ciede2000(rgb2lab)", arrays, None),
    Row("vif", vif, lambda x, y: piq.vif_p(x, y, data_range=1.0), "piq.vif_p"),
    Row("gmsd", gmsd, lambda x, y: piq.gmsd(x, y, data_range=1.0), "piq.gmsd"),
]  # fmt: skip


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="metrics to time (default: all rows)")
    parser.add_argument("--images", type=int, default=24, help="first N Kodak images (default 24)")
    parser.add_argument("--rows", action="append", default=[], help="module whose METRIC_ROWS to add")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    rows = list(METRICS)
    for module in args.rows:
        rows += importlib.import_module(module).METRIC_ROWS
    if args.names:
        rows = [row for row in rows if row.name in args.names]
    pairs = []
    for path in sorted((data_dir() / "kodak").glob("kodim*.png"))[: args.images]:
        image = np.asarray(Image.open(path).convert("RGB"))
        pairs.append((image, jpeg(image, QUALITY)))
    print(f"machine: {machine()}; torch {torch.__version__}, OpenCV {cv2.__version__}, numpy {np.__version__}, "
          f"one thread each")  # fmt: skip
    print(f"images: {len(pairs)} Kodak (768x512) vs JPEG q{QUALITY} (Pillow), best of {REPEATS} per pair, "
          f"median over pairs; load average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip
    print(f"{'metric':10s} {'ours ms':>9s} {'ref ms':>9s} {'speed-up':>9s} {'max |diff|':>11s} {'max rel':>9s} "
          f"{'vs float64':>11s}  reference (timed as called: float32 tensors for torch)")  # fmt: skip
    for row in rows:
        ours_t, ref_t, diffs, rels, exact = [], [], [], [], []
        for ref, dist in pairs:
            inputs = row.prepare(ref, dist)
            ours_value, ref_value = row.ours(ref, dist), _as_float(row.reference(*inputs))  # also warm-up
            ours_t.append(best_of(lambda f=row.ours, a=ref, b=dist: f(a, b), REPEATS))
            ref_t.append(best_of(lambda f=row.reference, i=inputs: f(*i), REPEATS))
            diffs.append(abs(ours_value - ref_value))
            rels.append(diffs[-1] / abs(ref_value) if ref_value else 0.0)
            if row.prepare_exact is not None:
                exact.append(abs(ours_value - _as_float(row.reference(*row.prepare_exact(ref, dist)))))
        ours, ref = statistics.median(ours_t), statistics.median(ref_t)
        vs64 = f"{max(exact):11.2e}" if exact else f"{'-':>11s}"
        print(f"{row.name:10s} {ours * 1e3:9.2f} {ref * 1e3:9.2f} {ref / ours:8.2f}x {max(diffs):11.2e} "
              f"{max(rels):9.2e} {vs64}  {row.reference_label}")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} at the end (timings under load vary accordingly)")


if __name__ == "__main__":
    main()
