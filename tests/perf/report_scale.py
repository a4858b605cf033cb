"""``bench report`` on a large run: 40,000 records (8 codecs x 10 qualities x 500 images), time and memory.

Writes a run folder holding only ``records.csv`` (synthetic but well-formed RD data: PSNR-RGB, Y-PSNR
and MS-SSIM falling smoothly with rate, each codec a fixed rate factor of the first), then runs
``bench report`` on it in a fresh process, with the figures for a paper and without (``--no-figures``,
what ``bench run`` writes by default), and prints each one's wall time and peak resident memory
(``ru_maxrss`` of the child), with the size of the report folder.

    .venv/bin/python tests/perf/report_scale.py [--images 500]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import machine

CODECS = 8
QUALITIES = 10


def records(images: int) -> pd.DataFrame:
    """CODECS x QUALITIES x ``images`` records; codec ``c`` needs (1 - 0.04 c) times codec 0's rate."""
    rng = np.random.default_rng(0)
    image = np.arange(images)
    difficulty = rng.uniform(0.6, 1.6, images)
    rows = []
    for c in range(CODECS):
        for q in range(1, QUALITIES + 1):
            bpp = 0.05 * q * difficulty * (1 - 0.04 * c)
            psnr = 24 + 8 * np.log2(1 + q / 3) - 2 * (difficulty - 1)
            ms_ssim = 1 - 0.2 / (1 + q) / difficulty
            rows.append(pd.DataFrame({
                "codec": f"codec{c}", "quality": float(q), "image": [f"img{i:04d}.png" for i in image],
                "width": 768, "height": 512, "bytes": np.round(bpp * 768 * 512 / 8).astype(int), "bpp": bpp,
                "psnr_rgb": psnr + rng.normal(0, 0.05, images), "psnr_y": psnr + 0.5,
                "ms_ssim_rgb": ms_ssim, "encode_s": 0.01, "decode_s": 0.01,
            }))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def report(run: Path, out: Path, *extra: str) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of ``bench report run --out out extra...`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench", "report", str(run), "--out", str(out), *extra],
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench report failed:\n{done.stdout}\n{done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        rows = records(args.images)
        rows.to_csv(run / "records.csv", index=False)
        print(f"machine: {machine()}")
        print(f"records: {len(rows):,} ({CODECS} codecs x {QUALITIES} qualities x {args.images} images)")
        # the lighter one first: ru_maxrss of children is a maximum over every child so far
        for label, extra in (("without figures", ("--no-figures",)), ("with figures", ())):
            out = Path(tmp) / label.replace(" ", "-")
            seconds, peak = report(run, out, *extra)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
            print(f"bench report {label:16} {seconds:6.1f} s  peak {peak:6.0f} MiB  folder {size:5.1f} MiB")


if __name__ == "__main__":
    main()
