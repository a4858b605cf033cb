"""Where metrics are found: the built-in ones, installed packages' entry points and plugin files.

Metrics are registered like codecs: a class decorated with :func:`bench.api.metric.register_metric`
in a built-in module (:data:`BUILTIN_MODULES`), in an installed package's entry point of the group
``codec_bench.metrics``, or in a ``--plugin`` file. :func:`discover_metrics` builds a fresh
:class:`MetricRegistry` each time; nothing is kept between calls. :func:`compute` computes any
registered per-image metric by name on two images.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Iterable, Sequence

from bench.api.metric import Column, DatasetMetric, Metric, MetricError, check_pair, is_registered_metric
from bench.api.plugins import PluginError, load_plugin_file, populate

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MetricRegistry",
    "discover_metrics",
    "metric_columns",
    "compute",
    "feature_extractors",
    "resolve_metric_device",
    "metric_device",
    "ENTRY_POINT_GROUP",
    "BUILTIN_MODULES",
]

ENTRY_POINT_GROUP = "codec_bench.metrics"
#: Modules holding the built-in metrics (imported by name: they import this module).
BUILTIN_MODULES = (
    "bench.metrics.fidelity",
    "bench.metrics.colour",
    "bench.metrics.structure",
    "bench.metrics.perceptual",
    "bench.metrics.learned",
    "bench.metrics.fid",
    "bench.metrics.jxl",
    "bench.metrics.vmaf",
)


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
