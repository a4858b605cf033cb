"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    env = os.environ.get("BENCH_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "datasets"
    if not (root / "kodak" / "kodim01.png").is_file():
        sys.exit(f"Kodak not found in {root}/kodak; set BENCH_DATA")
    return root


def best_of(fn, repeats: int) -> float:
    """The shortest of ``repeats`` wall-clock times of ``fn()``, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    from bench.store.provenance import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


def timed_bench(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of a whole ``bench`` command (interpreter start-up included)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", *args, "--no-progress"], capture_output=True, text=True,
                          env={**os.environ, "BENCH_DATA": str(data_dir())})  # fmt: skip
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc


def records(run_folder: Path) -> list[dict]:
    """Rows of the run's store with their extra fields (metric time etc.)."""
    from bench.store.sqlite import Store

    with Store(run_folder / "store.sqlite") as store:
        return [{**r.__dict__, **r.extra} for r in store.records()]


def invocation_phases(run_folder: Path) -> tuple[float, float]:
    """(set-up, measuring) seconds of the last invocation, as bench.run.runner.run recorded them in run.json."""
    inv = json.loads((run_folder / "run.json").read_text())["invocations"][-1]
    return inv["setup_s"], inv["measure_s"]


def ray_cluster():
    """The tests' real multi-node Ray cluster on this machine (``tests/ray_cluster.py``: the module, whose
    ``LocalCluster`` starts one and whose ``ENV`` every driver of it needs)."""
    sys.path.insert(0, str(REPO / "tests"))
    import ray_cluster

    return ray_cluster


def bench_with_env(*args: str, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    """:func:`timed_bench` with more environment variables (a Ray driver's)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", *args, "--no-progress"], capture_output=True, text=True,
                          env={**os.environ, "BENCH_DATA": str(data_dir()), **env})  # fmt: skip
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc
