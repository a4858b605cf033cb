"""The one interface every quality metric implements.

A metric compares a reference image with a decoded one (both ``H x W x 3`` ``uint8`` RGB, values in
[0, 255]) and returns one float. It says what it is, so that the store, the CSV files, the BD-rate
tables, the RD figures and the CompressAI export can all handle it without knowing it:

* ``name``: registry name and column of ``records.csv`` (``"psnr_rgb"``);
* ``label``, ``unit``, ``axis_label``: how tables and figures name it (``"PSNR-RGB"``, ``"dB"``);
* ``higher_is_better``; ``per_image`` (False for metrics computed over a whole dataset, e.g. FID);
* ``db``: its dB form, when the field compares it in dB (MS-SSIM: ``-10 log10(1 - value)``);
  BD-rate tables and RD figures then use that form;
* ``compressai_key``: its key in CompressAI's results files, if CompressAI computes it the same way;
* ``convention``: one sentence saying exactly how it is computed; ``packages``: the Python
  distributions that compute it (their versions are recorded with every run);
* :meth:`Metric.unavailable_reason`: ``None`` when it can be computed here, else why not (a missing
  optional package, weights not found); ``bench run --metrics`` refuses an unavailable metric with it;
* :meth:`Metric.fetch`: gets what the metric may download (weights), before it is checked and used;
* ``uses_device``: True for metrics that run a network: an instance's ``device`` (``cpu``, ``cuda``,
  ``cuda:N``) is where it runs (``bench run --device``), and is part of its description, so values
  computed on different devices are never mixed in one run.

A class decorated with :func:`register_metric` is found by :mod:`bench.api.metric_registry` in a
built-in module, an installed package's entry point or a ``--plugin`` file.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from bench.api.plugins import METRIC_MARK
from bench.api.versions import installed_version

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Metric",
    "DatasetMetric",
    "DbForm",
    "Column",
    "MetricError",
    "register_metric",
    "is_registered_metric",
    "check_pair",
    "too_small",
    "DEFAULT_METRICS",
]

#: The metrics ``bench run`` computes unless told otherwise, in the order of the CSV columns.
DEFAULT_METRICS = ("psnr_rgb", "psnr_y", "ms_ssim_rgb")


class MetricError(LookupError):
    """Unknown or clashing metric names, broken metric plugins."""


@dataclass(frozen=True)
class DbForm:
    """A metric's values in dB, as the field compares them (BD-rate, RD figures).

    ``convert`` maps one value of the metric to dB; curves apply it to the mean over images (the
    CompressAI convention for MS-SSIM) and to each image's value. ``invert`` maps back (used for
    published files that give only the dB form).
    """

    name: str
    label: str
    axis_label: str
    convert: Callable[[float], float]
    invert: Callable[[float], float]
    compressai_key: str | None = None


@dataclass(frozen=True)
class Column:
    """A quality column of a curve: a metric's own values, or their dB form."""

    name: str
    label: str
    unit: str
    axis_label: str
    metric: str
    higher_is_better: bool = True


class Metric(abc.ABC):
    """Base class of every metric; subclasses set the class attributes and implement :meth:`compute`."""

    name: ClassVar[str]
    label: ClassVar[str]
    unit: ClassVar[str] = ""
    axis_label: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    per_image: ClassVar[bool] = True
    db: ClassVar[DbForm | None] = None
    compressai_key: ClassVar[str | None] = None
    convention: ClassVar[str] = ""
    packages: ClassVar[tuple[str, ...]] = ()
    uses_device: ClassVar[bool] = False
    #: the (lowest, highest) value the metric can take, inclusive, where it has bounds (MS-SSIM: 0, 1);
    #: published result files with values outside it are refused
    value_range: ClassVar[tuple[float, float] | None] = None
    #: where a metric that ``uses_device`` runs (set by :meth:`MetricRegistry.create`); "cpu" for the others
    device: str = "cpu"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``None`` when the metric can be computed here, else why not and how to fix it (a missing
        optional package, weights not found, ...); checked before a run or a scoring uses it."""
        return None

    @classmethod
    def fetch(cls, offline: bool) -> None:
        """Get what the metric needs here and may download (weights, ...); nothing by default.

        ``bench run``, ``bench score`` (in their main process, before any task starts) and
        :func:`compute` call it before :meth:`unavailable_reason`; ``bench metrics`` never does.
        ``offline`` (``--offline``): download nothing. A failure raises an exception whose message is
        one line saying what is wrong; the metric is then unavailable with that message.
        """
        return None

    @abc.abstractmethod
    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        """The metric of ``dist`` against ``ref`` (H x W x 3 uint8 RGB each)."""

    def versions(self) -> dict[str, str]:
        """Versions of the packages that compute the metric (``"not installed"`` when missing)."""
        return {package: installed_version(package) or "not installed" for package in self.packages}

    def describe(self) -> dict[str, Any]:
        """Everything that identifies this metric's numbers, for run.json and the store."""
        return {
            "name": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "label": self.label,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "per_image": self.per_image,
            "convention": self.convention,
            "db": {"name": self.db.name, "label": self.db.label} if self.db else None,
            "versions": self.versions(),
            **({"device": self.device} if self.uses_device else {}),
        }

    @classmethod
    def heading(cls) -> str:
        """How a printed table heads this metric's column: ``label (unit)``, or the label alone."""
        return f"{cls.label} ({cls.unit})" if cls.unit else cls.label

    @classmethod
    def number_format(cls) -> str:
        """The format of its values in printed tables: 2 decimals for values in dB, else 4."""
        return ".2f" if cls.unit == "dB" else ".4f"

    @classmethod
    def columns(cls) -> list[Column]:
        """The curve columns of this metric: its values, then their dB form if it has one."""
        out = [Column(cls.name, cls.label, cls.unit, cls.axis_label, cls.name, cls.higher_is_better)]
        if cls.db is not None:
            out.append(Column(cls.db.name, cls.db.label, "dB", cls.db.axis_label, cls.name))
        return out

    @classmethod
    def compared_column(cls) -> Column:
        """The column BD-rate tables and RD figures use: the dB form when there is one."""
        return cls.columns()[-1]

    @classmethod
    def to_db(cls, value: float) -> float:
        """``value`` in the metric's dB form (NaN for a value that is not finite)."""
        if cls.db is None:
            raise ValueError(f"metric '{cls.name}' has no dB form")
        return cls.db.convert(value) if math.isfinite(value) else math.nan


class DatasetMetric(Metric):
    """A metric computed over a whole dataset, not per image (FID, KID): one value per codec and quality.

    Per image, :meth:`extract` gives features of the reference and of the decoded image (``n x d``
    float32, ``n`` may be 0); they are stored with the image's measurement, so that a dataset value
    can be computed again over any set of images. :meth:`aggregate` gives the value from the stacked
    features of the same images' references and decoded images. Metrics whose :attr:`features` name
    is equal share the features (computed and stored once per image: FID and KID over the same
    Inception features).
    """

    per_image: ClassVar[bool] = False
    #: names the features :meth:`extract` gives (shared by the metrics with the same name)
    features: ClassVar[str]

    @abc.abstractmethod
    def extract(self, image: np.ndarray) -> np.ndarray:
        """Features of one ``H x W x 3`` ``uint8`` RGB image: an ``n x d`` float32 array (``n`` may be 0)."""

    @abc.abstractmethod
    def aggregate(self, ref: np.ndarray, dist: np.ndarray) -> float:
        """The metric from the features of the references (``N x d``) and of the decoded images
        (``M x d``) of one set of images (NaN, with a warning, when there are too few features)."""

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        raise MetricError(f"metric '{self.name}' is computed over a whole dataset, not on one pair of images")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "features": self.features}


M = TypeVar("M", bound=type)

_MARK = METRIC_MARK


def register_metric(cls: M) -> M:
    """Class decorator marking a :class:`Metric` subclass for discovery (it changes no other state)."""
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise TypeError(f"@register_metric expects a Metric subclass, got {cls!r}")
    for attr in ("name", "label", "axis_label"):
        if not hasattr(cls, attr):
            raise TypeError(f"metric class {cls.__qualname__} must define the class attribute '{attr}'")
    if not isinstance(cls.name, str) or not cls.name.isidentifier() or cls.name != cls.name.lower():
        raise TypeError(f"metric name {cls.name!r} must be a lower-case identifier (it names a CSV column)")
    if not cls.per_image and not issubclass(cls, DatasetMetric):
        raise TypeError(f"metric class {cls.__qualname__} is computed over a whole dataset (per_image = False): "
                        "subclass DatasetMetric, whose extract and aggregate the runner uses")  # fmt: skip
    if issubclass(cls, DatasetMetric) and not isinstance(getattr(cls, "features", None), str):
        raise TypeError(f"dataset metric class {cls.__qualname__} must name its features (class attribute 'features')")
    setattr(cls, _MARK, cls)  # on the class itself, so that subclasses are not marked too
    return cls


def is_registered_metric(obj: object) -> bool:
    """True for a class decorated with :func:`register_metric` (not its undecorated subclasses)."""
    return isinstance(obj, type) and obj.__dict__.get(_MARK) is obj


def too_small(metric: str, shape: tuple[int, ...], min_side: int, why: str) -> float:
    """NaN, with a ``RuntimeWarning`` naming the image size, the metric, its minimum side and ``why``:
    what a per-image metric returns for an image too small for it (warning at its caller's caller)."""
    import warnings

    warnings.warn(
        f"image of {shape[1]}x{shape[0]} pixels is too small for {metric} (both sides must be at least "
        f"{min_side}: {why}); returning NaN",
        RuntimeWarning,
        stacklevel=3,
    )
    return math.nan


def check_pair(ref: np.ndarray, dist: np.ndarray) -> None:
    """``ValueError`` unless ``ref`` and ``dist`` are two ``H x W x 3`` ``uint8`` RGB arrays of one shape."""
    import numpy as np

    for label, image in (("reference", ref), ("distorted", dist)):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            got = (
                f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            )
            raise ValueError(f"{label} image must be an H x W x 3 uint8 RGB array, got {got}")
    if ref.shape != dist.shape:
        raise ValueError(f"image shapes differ: reference {ref.shape}, distorted {dist.shape}")
