"""The metric interface, by its public name: ``from bench.metric import Metric, register_metric, compute``.

Defined in :mod:`bench.api.metric` (the interface) and :mod:`bench.api.metric_registry` (finding
metrics, ``compute``); plugin files, packages and scripts import them from here.
"""

from bench.api.metric import (
    DEFAULT_METRICS,
    Column,
    DatasetMetric,
    DbForm,
    Metric,
    MetricError,
    check_pair,
    is_registered_metric,
    register_metric,
    too_small,
)
from bench.api.metric_registry import (
    BUILTIN_MODULES,
    ENTRY_POINT_GROUP,
    MetricRegistry,
    compute,
    discover_metrics,
    feature_extractors,
    metric_columns,
    metric_device,
    resolve_metric_device,
)

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
