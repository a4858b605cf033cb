"""What measuring peak memory costs: the process probe against a JPEG measurement, the program helper against
starting the program directly.

1. One JPEG measurement (kodim01, quality 50, the default metrics: encode, decode, PSNR, Y-PSNR, MS-SSIM)
   through ``Measurer.measure``, with the peak-memory probe (``bench/executors/peak_memory.py``: a reset and
   a read around each call, outside the timed region) and with the probe replaced by one that does
   nothing, alternating, ``ROUNDS`` each; the medians and the overhead in percent of a measurement.
2. A command-line codec's call (BPG decoding kodim01 at quality 30, ``bpgdec`` on PATH): started through
   the helper that measures the program's own peak (``bench/api/spawner.py``) and directly with
   ``subprocess.run`` from this process (as before the helper), alternating; medians of the whole call.
   This process holds the images and libraries a measuring worker holds (numpy, OpenCV, Pillow, the
   codecs), so the direct start pays for forking it.

    python tests/perf/memory_probe_overhead.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import machine
from bench.api.task import MeasureOptions, Task
from bench.executors.measure import Measurer, pin_threads
from bench.executors.peak_memory import PeakMemory

ROUNDS = 300
PROGRAM_ROUNDS = 40
KODIM01 = Path(__file__).resolve().parents[3] / "shared/datasets/kodak/kodim01.png"


class _NoProbe:
    """A probe that measures nothing (the measurement as it was before the probe)."""

    def reset(self) -> None:
        return None

    def read_mb(self) -> None:
        return None


def _measurement_s(measurer: Measurer, task: Task) -> float:
    start = time.perf_counter()
    measurer.measure(task)
    return time.perf_counter() - start


def probe_overhead(source: str) -> None:
    measurer = Measurer(MeasureOptions())
    task = Task("jpeg", 50, "kodim01", source=source)
    probe, none = PeakMemory(), _NoProbe()
    assert probe.available, "no resettable peak memory here (Linux only)"
    for _ in range(20):  # warm-up
        measurer.measure(task)
    with_probe, without = [], []
    for _ in range(ROUNDS):
        measurer._memory = probe
        with_probe.append(_measurement_s(measurer, task))
        measurer._memory = none
        without.append(_measurement_s(measurer, task))
    a, b = statistics.median(with_probe), statistics.median(without)
    calls = []
    for _ in range(2000):
        start = time.perf_counter()
        probe.reset()
        probe.read_mb()
        calls.append(time.perf_counter() - start)
    print(f"JPEG measurement (kodim01, q50, default metrics), median of {ROUNDS} alternating:")
    print(f"  with the probe    {1e3 * a:8.3f} ms")
    print(f"  without           {1e3 * b:8.3f} ms")
    print(f"  overhead          {1e3 * (a - b):+8.3f} ms = {100 * (a - b) / b:+.2f}% of a measurement")
    print(
        f"  one reset + read  {1e6 * statistics.median(calls):8.1f} us (two per measurement, outside the timed calls)"
    )


def program_overhead(image: np.ndarray) -> None:
    if shutil.which("bpgdec") is None:
        print("bpgdec not on PATH: program start not measured")
        return
    from bench.api.codec_registry import discover
    from bench.api.spawner import run_measured

    codec = discover().get("bpg").create()
    data = codec.encode(image, 30)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.bpg"), Path(tmp, "out.png")
        src.write_bytes(data)
        args = [shutil.which("bpgdec"), "-o", str(dst), str(src)]
        helper, direct, peaks = [], [], []
        for _ in range(5):
            run_measured(args, timeout_s=60)
        for _ in range(PROGRAM_ROUNDS):
            start = time.perf_counter()
            peaks.append(run_measured(args, timeout_s=60).peak_rss_mb)
            helper.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(args, capture_output=True, check=True, stdin=subprocess.DEVNULL, preexec_fn=lambda: None)
            direct.append(time.perf_counter() - start)
    a, b = statistics.median(helper), statistics.median(direct)
    print(f"bpgdec of kodim01 at q30, median of {PROGRAM_ROUNDS} alternating (this process: "
          f"{PeakMemory().reset():.0f} MiB resident):")  # fmt: skip
    print(f"  through the helper (peak measured)  {1e3 * a:8.2f} ms, program peak {statistics.median(peaks):.1f} MiB")
    print(f"  directly (no peak)                  {1e3 * b:8.2f} ms")
    print(f"  difference                          {1e3 * (a - b):+8.2f} ms = {100 * (a - b) / b:+.1f}%")


def main() -> None:
    pin_threads()
    print(f"machine: {machine()}")
    image = np.asarray(Image.open(KODIM01).convert("RGB"))
    with tempfile.TemporaryDirectory() as tmp:
        source = str(Path(tmp, "kodim01.npy"))
        np.save(source, image)
        probe_overhead(source)
    program_overhead(image)


if __name__ == "__main__":
    main()
