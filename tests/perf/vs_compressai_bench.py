"""Whole commands side by side: ``bench run`` against CompressAI's ``python -m compressai.utils.bench`` on Kodak, JPEG at
qualities 5, 50 and 95, one job each (``-j 1``), in one run, alternating, median of three each.

CompressAI's command measures bpp, PSNR-RGB and MS-SSIM (pytorch_msssim) and prints JSON; ``bench run`` measures
bpp, PSNR-RGB, Y-PSNR and MS-SSIM, checks every decode again in a fresh process and writes its store, CSV files and
run.json, and (without ``--no-report``) its report: BD tables, figures in three formats, the page and the viewer's
images. Both are timed whole, from the shell: interpreter start-up and imports included.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import data_dir, machine

REPEATS = 3


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    kodak = data_dir() / "kodak"
    compressai = [sys.executable, "-W", "ignore", "-m", "compressai.utils.bench", "jpeg", str(kodak), "-q", "5,50,95",
                  "-j", "1"]  # fmt: skip
    times: dict[str, list[float]] = {"compressai.utils.bench": [], "bench run --no-report": [], "bench run": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEATS):
            times["compressai.utils.bench"].append(_timed(compressai))
            for name, extra in (("bench run --no-report", ["--no-report"]), ("bench run", [])):
                out = Path(tmp, f"{name.replace(' ', '_')}-{i}")
                times[name].append(_timed([sys.executable, "-m", "bench", "run", "--dataset", "kodak", "--data-dir",
                                           str(kodak.parent), "--codec", "jpeg", "--quality", "5,50,95", "-j", "1",
                                           "--no-progress", "--out", str(out), *extra]))  # fmt: skip
    print(f"machine: {machine()}")
    print(f"Kodak, JPEG at 5, 50, 95, -j 1; whole commands, median of {REPEATS}, alternating")
    reference = statistics.median(times["compressai.utils.bench"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:24s} {median:6.2f} s  ({median / reference:.2f}x CompressAI's)  "
              f"[{', '.join(f'{v:.2f}' for v in values)}]")  # fmt: skip


if __name__ == "__main__":
    main()
