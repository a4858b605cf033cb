"""``bench report`` of a run with a published reference curve of a million points (a CompressAI results file written
here: bpp 0.05-3, PSNR-RGB and MS-SSIM on smooth curves): wall time, peak memory (the command's ``ru_maxrss``), the
largest figure files and the page, and the reference's BD-rate row against the run's anchor.

    .venv/bin/python tests/perf/dense_reference.py results/kodak
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import machine

POINTS = 1_000_000


def _reference(path: Path) -> None:
    bpp = np.linspace(0.05, 3.0, POINTS)
    psnr = 26.0 + 6.0 * np.log1p(4.0 * bpp)
    ms_ssim = 1.0 - 0.12 * np.exp(-2.2 * bpp)
    results = {"bpp": bpp.tolist(), "psnr-rgb": psnr.tolist(), "ms-ssim": ms_ssim.tolist()}
    path.write_text(json.dumps({"name": "dense", "description": f"{POINTS} synthetic points", "results": results}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp, "dense.json")
        _reference(reference)
        out = Path(tmp, "report")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench", "report", str(args.run), "--reference", str(reference),
                        "--out", str(out), "--viewer-images", "0"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        sizes = sorted(((p.stat().st_size, p.name) for p in out.iterdir() if p.is_file()), reverse=True)[:5]
        rows = [line for line in (out / "bd_rate.md").read_text().splitlines() if line.startswith("| dense")]
    print(f"machine: {machine()}")
    print(f"bench report with a {POINTS:,}-point reference (CompressAI's results format): {wall:.1f} s, "
          f"peak {peak_mb:.0f} MB")  # fmt: skip
    print("largest files: " + ", ".join(f"{name} {size / 1e6:.2f} MB" for size, name in sizes))
    print("its BD row(s): " + (" / ".join(rows) or "none"))


if __name__ == "__main__":
    main()
