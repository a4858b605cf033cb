"""What a command asks an executor to do: a :class:`Task` (``bench run``: measure a codec at a quality
on an image) or a :class:`ScoreTask` (``bench score``: add metrics to a record of a finished run), and
the :class:`MeasureOptions` shared by all tasks of a command.

Plain data with no heavy imports, so the command's process never loads the codecs or the metrics;
the processes that run the tasks do (:mod:`bench.executors.measure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.api.metric import DEFAULT_METRICS

__all__ = ["Task", "ScoreTask", "MeasureOptions"]


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
class ScoreTask:
    """Score the record ``codec``/``quality``/``image`` of a finished run with ``metrics`` (names; those
    it lacks): compare the reference image file ``reference`` with the image the run decoded, read from
    its saved reconstruction (the PNG file ``reconstruction``) or else decoded again from its saved
    bitstream (the file ``bitstream``) by the codec as the run did.

    ``width`` x ``height`` (pixels) and ``bytes`` (the bitstream's size) are what the run recorded: a
    reference or bitstream that differs is a failure of the task, not another measurement. Paths are of
    the machine that plans the tasks; an executor whose workers do not share its files ships them.
    """

    codec: str
    quality: float
    image: str
    metrics: tuple[str, ...]
    reference: str
    width: int
    height: int
    bytes: int
    reconstruction: str = ""
    bitstream: str = ""

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float(self.quality), self.image)


@dataclass(frozen=True)
class MeasureOptions:
    """How every task of a command runs: ``repeat`` timed calls, codec ``plugins`` files,
    learned codecs' ``device`` and precision (``half``: float16; a scoring's: the run's, to decode its
    bitstreams), the ``metrics`` computed (names, in column order; a scoring's: every metric it adds),
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
