"""What one measurement hands back: a :class:`Record`, or a :class:`Failure` saying why not.

Units: ``bytes`` is the size of the whole bitstream; ``bpp = 8 * bytes / (width * height)`` (bits
per pixel); ``metrics`` maps metric names (see :mod:`bench.api.metric`) to their values (PSNRs in dB,
MS-SSIM linear in [0, 1], NaN where a metric is undefined); times are wall-clock seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Record", "Failure", "format_quality", "is_defined"]


@dataclass(frozen=True)
class Record:
    """One measurement of one image at one quality.

    ``metrics`` holds one value per metric of the run, also readable as attributes
    (``record.psnr_rgb``); ``encode_s``/``decode_s`` are medians over repeats; ``extra`` holds what
    does not go into records.csv (all repeat timings, metric time, a model's estimates, ...).
    ``features`` and ``reference_features``: for the run's dataset metrics (FID, ...), the features of
    the decoded and of the reference image by feature name (``n x d`` float32 arrays), stored with
    the record, not in the CSV files.
    """

    codec: str
    quality: float
    image: str
    width: int
    height: int
    bytes: int
    bpp: float
    metrics: dict[str, float]
    encode_s: float
    decode_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    reference_features: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float(self.quality), self.image)

    def __getattr__(self, name: str) -> float:
        metrics = self.__dict__.get("metrics")  # absent while unpickling
        if metrics is not None and name in metrics:
            return metrics[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or metric '{name}'")


@dataclass(frozen=True)
class Failure:
    """A measurement that failed (``stage``: setup, encode, decode, metrics, analyze, save, worker),
    or an image that could not be loaded (``stage`` "load", with empty ``codec`` and ``quality`` None)."""

    codec: str
    quality: float | None
    image: str
    stage: str
    error: str

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float("nan") if self.quality is None else float(self.quality), self.image)


def format_quality(value: float) -> str:
    """Quality as written in CSV files and folder names: ``50`` for whole numbers, ``0.75`` otherwise."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def is_defined(record: Record) -> bool:
    """True when every metric of ``record`` has a value (none is NaN; ``inf`` is a value).

    Means over images (summaries, curves, BD-rates) use only such records, so that all the means of
    one codec and quality cover the same images.
    """
    return not any(value != value for value in record.metrics.values())
