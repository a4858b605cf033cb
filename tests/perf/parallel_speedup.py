"""Speed-up of `bench run -j N` over `-j 1`: the JPEG and WebP default sweeps on Kodak."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from _common import machine, timed_bench


def main() -> None:
    jobs = len(os.sched_getaffinity(0))
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for j in (1, jobs):
            times[j], _ = timed_bench(
                "run", "--dataset", "kodak", "--codec", "jpeg,webp", "-j", str(j), "--out", str(Path(tmp) / f"j{j}")
            )
    print(f"machine: {machine()}")
    print("work: jpeg + webp default sweeps (2 x 19 qualities x 24 images = 912 measurements)")
    for j, seconds in times.items():
        print(f"  -j {j}: {seconds:6.2f} s")
    print(f"speed-up -j {jobs} vs -j 1: {times[1] / times[jobs]:.2f}x")


if __name__ == "__main__":
    main()
