"""What the runner asks an executor to do: one :class:`Task` per codec, quality and image, and the
:class:`MeasureOptions` shared by all tasks of a run.

Plain data with no heavy imports, so the runner's process never loads the codecs or the metrics;
the processes that measure do (:mod:`bench.executors.measure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.api.metric import DEFAULT_METRICS

__all__ = ["Task", "MeasureOptions"]


@dataclass(frozen=True)
class Task:
    """Measure ``codec`` at ``quality`` on the image named ``image``, whose pixels (H x W x 3 uint8)
    the runner staged as the ``.npy`` file ``source``.

    ``stem``: the file name (without extension) of its saved bitstream and reconstruction (the
    image's stem, unless two images of the dataset share it). ``check_path``: where to keep the
    bitstream (``<check_path>.bits``) and the decoded pixels (``<check_path>.npy``) for the runner's
    fresh-process decoding check; empty for tasks not checked.
    """

    codec: str
    quality: float
    image: str
    source: str = ""
    stem: str = ""
    check_path: str = ""

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float(self.quality), self.image)


@dataclass(frozen=True)
class MeasureOptions:
    """How every task of a run is measured: ``repeat`` timed calls, codec ``plugins`` files,
    learned codecs' ``device`` and precision (``half``: float16), the ``metrics`` computed (names, in column order),
    where the metrics that run a network run (``metric_device``: ``cpu`` or a resolved ``cuda`` device) and
    where to keep reconstructions (PNG) and bitstreams (None: not kept)."""

    repeat: int = 1
    plugins: tuple[str, ...] = ()
    device: str = "cpu"
    half: bool = False
    metrics: tuple[str, ...] = DEFAULT_METRICS
    metric_device: str = "cpu"
    reconstructions_dir: Path | None = None
    bitstreams_dir: Path | None = None
