"""What the runner sends to its worker processes, and the two functions the workers run.

Kept free of heavy imports: the runner's process never loads the codecs or the metrics; the
worker processes do (the fork server preloads :mod:`bench.measure`).
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.store import Failure, Record

__all__ = ["Task", "MeasureOptions", "default_jobs", "init_worker", "measure_in_worker", "worker_context"]


@dataclass(frozen=True)
class Task:
    """Measure ``codec`` at ``quality`` on the image named ``image``, whose pixels (H x W x 3 uint8)
    the runner staged as the ``.npy`` file ``source``."""

    codec: str
    quality: float
    image: str
    source: str = ""

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float(self.quality), self.image)


@dataclass(frozen=True)
class MeasureOptions:
    repeat: int = 1
    plugins: tuple[str, ...] = ()
    device: str = "cpu"
    reconstructions_dir: Path | None = None
    bitstreams_dir: Path | None = None


def init_worker(options: MeasureOptions) -> None:
    """Process-pool initializer (see :func:`bench.measure.init_worker`)."""
    from bench import measure

    measure.init_worker(options)


def measure_in_worker(task: Task) -> Record | Failure:
    from bench import measure

    return measure.measure_in_worker(task)


def worker_context():
    """The multiprocessing context of the measuring workers; starts their fork server at once.

    Workers start from a clean process, never by forking the runner's: a fork copies the state of
    thread pools (OpenCV, OpenMP, BLAS) that the runner may have used, and can deadlock. The fork
    server imports the measuring code (:mod:`bench.measure`) once, in the background, so each worker
    then starts in milliseconds: call this as early as possible. Without fork servers (Windows),
    workers are spawned.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["bench.measure"])
    forkserver.ensure_running()
    return ctx


def default_jobs() -> int:
    """Worker processes by default: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
