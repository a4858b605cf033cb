"""What a task hands back (a :class:`Record`, :class:`Scores` or a :class:`Failure`), and the rule of means over images.

Units: ``bytes`` is the size of the whole bitstream; ``bpp = 8 * bytes / (width * height)`` (bits
per pixel); ``metrics`` maps metric names (see :mod:`bench.api.metric`) to their values (PSNRs in dB,
MS-SSIM linear in [0, 1], NaN where a metric is undefined); times are wall-clock seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "Record",
    "Scores",
    "Failure",
    "format_quality",
    "is_defined",
    "mean_over_defined",
    "undefined_metrics",
    "codecs_without_defined_images",
    "no_defined_image_text",
]


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
class Scores:
    """What scoring one record of a finished run (``bench score``) adds to it: ``metrics``, the values of
    its per-image metrics (as in :class:`Record`); ``features`` and ``reference_features``, for its dataset
    metrics, the features of the decoded and of the reference image by feature name (``n x d`` float32
    arrays)."""

    codec: str
    quality: float
    image: str
    metrics: dict[str, float]
    features: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    reference_features: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, float, str]:
        return (self.codec, float(self.quality), self.image)


@dataclass(frozen=True)
class Failure:
    """A measurement or scoring that failed (``stage``: setup, encode, decode, metrics, analyze, save,
    worker, timeout; a scoring's also reference, reconstruction), or an image that could not be loaded
    (``stage`` "load", with empty ``codec`` and ``quality`` None)."""

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
    one codec and quality cover the same images (:func:`mean_over_defined`).
    """
    return not any(_is_nan(value) for value in record.metrics.values())


def mean_over_defined(
    rows: Iterable[Mapping[str, Any]], metrics: Sequence[str], columns: Sequence[str]
) -> tuple[int, dict[str, float | None]]:
    """The rule every mean over images follows (``summary.csv``, RD curves, BD-rates): how many of
    ``rows`` (one per image) have every metric of ``metrics`` defined (no NaN; ``inf`` is a value), and
    the arithmetic mean over exactly those rows of each of ``columns`` (``math.fsum``: correctly rounded),
    so that all the means of one codec and quality cover the same images. A column that is None in one
    of those rows (a codec's rate estimate, for a codec that gives none) has the mean None; a NaN in a
    column makes its mean NaN, as do ``inf`` and ``-inf`` together; with no such row every mean is NaN.
    """
    used = [row for row in rows if not any(_is_nan(row.get(name)) for name in metrics)]
    means: dict[str, float | None] = {}
    for column in columns:
        values = [row[column] for row in used]
        means[column] = None if any(value is None for value in values) else _mean(values)
    return len(used), means


def undefined_metrics(rows: Iterable[Mapping[str, Any]], metrics: Sequence[str]) -> list[str]:
    """The metrics (of ``metrics``, in order) undefined (NaN) in every one of ``rows``; when none is, those
    undefined in some row: why no row has every metric defined."""
    rows = list(rows)
    everywhere = [name for name in metrics if rows and all(_is_nan(row.get(name)) for row in rows)]
    return everywhere or [name for name in metrics if any(_is_nan(row.get(name)) for row in rows)]


def codecs_without_defined_images(records: Iterable[Record]) -> dict[str, list[str]]:
    """The codecs none of whose records has every metric defined (so every mean over images of theirs is
    empty: ``images`` 0 in summary.csv, no curve), each with the metrics to blame (:func:`undefined_metrics`)."""
    by_codec: dict[str, list[Record]] = {}
    for record in records:
        by_codec.setdefault(record.codec, []).append(record)
    return {
        codec: undefined_metrics([r.metrics for r in group], list(group[0].metrics))
        for codec, group in sorted(by_codec.items())
        if not any(is_defined(r) for r in group)
    }


def no_defined_image_text(codec: str, undefined: Sequence[str], metrics: Sequence[str]) -> str:
    """What to tell the user about a codec none of whose images has every metric of ``metrics`` defined
    (``undefined``: the metrics to blame), and what to do about it."""
    keep = [name for name in metrics if name not in undefined]
    why = "; MS-SSIM needs images whose shorter side is over 160 pixels" if "ms_ssim_rgb" in undefined else ""
    advice = (f"measure into a new folder with --metrics {','.join(keep)}" if keep
              else "measure with other --metrics")  # fmt: skip
    return (f"{codec}: no image has every metric defined ({', '.join(undefined)} undefined{why}), so every mean "
            f"over its images is empty (images 0 in summary.csv, no RD curve or BD-rate); {advice}")  # fmt: skip


def _mean(values: list[float]) -> float:
    """The correctly rounded mean of ``values`` (NaN for none; NaN or inf as plain float arithmetic gives
    them where ``math.fsum`` refuses: ``inf - inf``, overflow)."""
    if not values:
        return math.nan
    try:
        return math.fsum(values) / len(values)
    except (ValueError, OverflowError):
        return sum(values) / len(values)


def _is_nan(value: Any) -> bool:
    return value != value  # NaN is the only value unequal to itself (None and inf are not NaN)
