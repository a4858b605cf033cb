"""What the runner sends to its worker processes, and the two functions the workers run.

Kept free of heavy imports: the runner's process never loads the codecs or the metrics; the
worker processes do (the fork server preloads :mod:`bench.measure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.store import Failure, Record

__all__ = ["Task", "MeasureOptions", "init_worker", "measure_in_worker"]


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
    reconstructions_dir: Path | None = None
    bitstreams_dir: Path | None = None


def init_worker(options: MeasureOptions) -> None:
    """Process-pool initializer (see :func:`bench.measure.init_worker`)."""
    from bench import measure

    measure.init_worker(options)


def measure_in_worker(task: Task) -> Record | Failure:
    from bench import measure

    return measure.measure_in_worker(task)
