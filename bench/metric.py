"""The one interface every quality metric implements, and where metrics are found.

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

Metrics are registered like codecs: a class decorated with :func:`register_metric` in a built-in
module (:data:`BUILTIN_MODULES`), in an installed package's entry point of the group
``codec_bench.metrics``, or in a ``--plugin`` file. :func:`discover_metrics` builds a fresh
:class:`MetricRegistry` each time; nothing is kept between calls. :func:`compute` computes any
registered per-image metric by name on two images.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Sequence, TypeVar

from bench.plugins import METRIC_MARK, PluginError, load_plugin_file, populate

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Metric",
    "DatasetMetric",
    "DbForm",
    "Column",
    "MetricRegistry",
    "MetricError",
    "register_metric",
    "is_registered_metric",
    "discover_metrics",
    "metric_columns",
    "check_pair",
    "too_small",
    "compute",
    "feature_extractors",
    "resolve_metric_device",
    "metric_device",
    "DEFAULT_METRICS",
    "ENTRY_POINT_GROUP",
    "BUILTIN_MODULES",
]

ENTRY_POINT_GROUP = "codec_bench.metrics"
#: Modules holding the built-in metrics (imported by name: they import this module).
BUILTIN_MODULES = (
    "bench.metrics",
    "bench.metrics_colour",
    "bench.metrics_structure",
    "bench.metrics_perceptual",
    "bench.metrics_learned",
    "bench.metrics_fid",
    "bench.metrics_jxl",
    "bench.metrics_vmaf",
)
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
        out = {}
        for package in self.packages:
            try:
                out[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                out[package] = "not installed"
        return out

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


class MetricRegistry:
    """Metric classes by name, in the order they were found (built-ins first)."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Metric]] = {}
        self._origins: dict[str, str] = {}
        #: entry points that failed to load: entry point name -> what went wrong
        self.broken: dict[str, str] = {}

    def add(self, cls: type[Metric], origin: str) -> None:
        existing = self._classes.get(cls.name)
        if existing is not None and existing is not cls:
            raise MetricError(f"metric name '{cls.name}' from {origin} is already taken by {self._origins[cls.name]}")
        self._classes[cls.name] = cls
        self._origins[cls.name] = origin

    def add_module(self, module: ModuleType, origin: str) -> int:
        """Add every ``@register_metric`` class defined in ``module``, in definition order; return how many."""
        found = [o for o in vars(module).values() if is_registered_metric(o) and o.__module__ == module.__name__]
        for cls in found:
            self.add(cls, origin)
        return len(found)

    def names(self) -> list[str]:
        return list(self._classes)

    def origin(self, name: str) -> str:
        """Where metric ``name`` was found: ``builtin``, an entry point or a plugin file."""
        self.get(name)
        return self._origins[name]

    def unavailable_reason(self, name: str) -> str | None:
        """Why metric ``name`` cannot be computed here (:meth:`Metric.unavailable_reason`), or ``None``;
        an availability check that raises makes the metric unavailable, with what it raised."""
        try:
            return self.get(name).unavailable_reason()
        except MetricError:
            raise
        except Exception as exc:
            return f"availability check failed: {type(exc).__name__}: {exc}"

    def ready(self, name: str, offline: bool) -> str | None:
        """Fetch what metric ``name`` needs (:meth:`Metric.fetch`; no download when ``offline``), then
        :meth:`unavailable_reason`: ``None`` when it can be computed here, else why not (a failed
        download included)."""
        try:
            self.get(name).fetch(offline)
        except MetricError:
            raise
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return self.unavailable_reason(name)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def get(self, name: str) -> type[Metric]:
        try:
            return self._classes[name]
        except KeyError:
            if name in self.broken:
                raise MetricError(self.broken[name]) from None
            raise MetricError(f"unknown metric '{name}'; known metrics: {', '.join(self._classes)}") from None

    def create(self, names: Sequence[str], device: str = "cpu") -> list[Metric]:
        """Instances of the metrics ``names``, in that order (duplicates dropped); those that
        ``uses_device`` run on ``device``, the others on the CPU."""
        out = []
        for name in dict.fromkeys(names):
            metric = self.get(name)()
            if metric.uses_device:
                metric.device = device
            out.append(metric)
        return out


def feature_extractors(metrics: Iterable[Metric]) -> dict[str, DatasetMetric]:
    """Per feature name, the first of the dataset metrics among ``metrics`` that extracts those
    features: metrics that share features extract them once."""
    out: dict[str, DatasetMetric] = {}
    for metric in metrics:
        if isinstance(metric, DatasetMetric):
            out.setdefault(metric.features, metric)
    return out


def resolve_metric_device(registry: MetricRegistry, names: Sequence[str], device: str) -> str:
    """Where the metrics ``names`` that run a network (``uses_device``) run for ``--device device``:
    ``cpu``, or the GPU (``auto`` resolved); ``cpu`` when none of them uses a device. :class:`MetricError`
    for a GPU torch cannot use."""
    if device == "cpu" or not any(name in registry and registry.get(name).uses_device for name in names):
        return "cpu"
    from bench.neural import DeviceError, resolve_device

    try:
        return resolve_device(device)
    except DeviceError as exc:
        users = [name for name in names if name in registry and registry.get(name).uses_device]
        raise MetricError(f"metrics {', '.join(users)}: {exc}") from None


def metric_device(metrics: Sequence[Metric]) -> str:
    """The device the network metrics among ``metrics`` run on (``cpu`` when there are none)."""
    return next((m.device for m in metrics if m.uses_device), "cpu")


def discover_metrics(plugins: Sequence[str | Path] = (), *, use_entry_points: bool = True) -> MetricRegistry:
    """A registry of the built-in metrics, entry points (optional) and ``@register_metric`` classes
    of plugin files (the same files ``--plugin`` loads codecs from)."""
    registry = MetricRegistry()
    populate(registry, builtins=BUILTIN_MODULES, group=ENTRY_POINT_GROUP, base=Metric, decorator="@register_metric",
             use_entry_points=use_entry_points)  # fmt: skip
    for path in plugins:
        try:
            module = load_plugin_file(path)
        except PluginError as exc:
            raise MetricError(str(exc)) from None
        registry.add_module(module, f"plugin {Path(path)}")
    return registry


def metric_columns(registry: MetricRegistry | None = None) -> dict[str, Column]:
    """Every curve column of the registered metrics (their values and dB forms), by column name."""
    registry = registry or discover_metrics()
    return {column.name: column for name in registry.names() for column in registry.get(name).columns()}


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


def compute(
    name: str, ref: np.ndarray, dist: np.ndarray, *, plugins: Sequence[str | Path] = (), offline: bool = False
) -> float:
    """The per-image metric ``name`` of ``dist`` against ``ref``, two ``H x W x 3`` ``uint8`` RGB arrays
    of the same shape, exactly as ``bench run --metrics name`` computes it::

        from bench.metric import compute
        compute("psnr_y", reference, decoded)  # dB

    Any registered metric (built-ins, ``codec_bench.metrics`` entry points, the metrics of the
    ``plugins`` files). What the metric needs and may download (weights) is fetched first, unless
    ``offline``. :class:`MetricError` for an unknown or unavailable metric (a failed download
    included) and for one computed over a whole dataset (``per_image = False``); :class:`ValueError`
    for arrays that are not two RGB images of one size.
    """
    import numpy as np

    registry = discover_metrics(plugins)
    cls = registry.get(name)
    if not cls.per_image:
        raise MetricError(f"metric '{name}' is computed over a whole dataset, not on one pair of images")
    reason = registry.ready(name, offline)
    if reason:
        raise MetricError(f"metric '{name}' is not available here: {reason}")
    check_pair(ref, dist)
    if ref.size == 0:
        raise ValueError(f"images of shape {ref.shape} have no pixels")
    return float(cls().compute(np.ascontiguousarray(ref), np.ascontiguousarray(dist)))
