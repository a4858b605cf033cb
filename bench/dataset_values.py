"""The values of dataset metrics (FID, KID, ...): one per codec and quality, over a set of images.

A :class:`~bench.metric.DatasetMetric` is aggregated from the features stored with each measurement
(the decoded image's) and with each reference image, stacked in image-name order. Its value for a
codec and quality covers exactly the images the per-image means of that codec and quality cover
(those whose every per-image metric is defined, ``images`` in summary.csv), so that one row of a
summary, and one point of a curve, speaks of one set of images. When an image of that set has no
stored features (a run measured before the metric was added, and not scored since), the value is
NaN: a value over fewer images would not be comparable.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from bench.metric import DatasetMetric, MetricError, discover_metrics
from bench.results import Record, is_defined

if TYPE_CHECKING:
    import numpy as np

    from bench.store import Store

__all__ = ["aggregate_over", "dataset_metric_instances", "dataset_values", "StoredFeatures"]


def aggregate_over(
    metric: DatasetMetric,
    reference: Mapping[str, np.ndarray],
    decoded: Mapping[str, np.ndarray],
    images: Iterable[str],
) -> float:
    """``metric`` over ``images``: its aggregate of the stacked reference and decoded features of
    those images (by image name); NaN when the set is empty or an image has no features."""
    import numpy as np

    names = sorted(set(images))
    if not names or any(name not in reference or name not in decoded for name in names):
        return math.nan
    ref = np.concatenate([reference[name] for name in names])
    dist = np.concatenate([decoded[name] for name in names])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # too few features: NaN, said by the caller's column
        return float(metric.aggregate(ref, dist))


def dataset_metric_instances(names: Sequence[str], plugins: Sequence[str] = ()) -> list[DatasetMetric]:
    """Instances of the dataset metrics ``names`` that are registered here (a metric only a missing
    plugin defines is left out: its column stays empty)."""
    if not names:
        return []
    try:
        registry = discover_metrics(plugins)
    except MetricError:
        registry = discover_metrics()
    found = [registry.get(name)() for name in names if name in registry]
    return [metric for metric in found if isinstance(metric, DatasetMetric)]


class StoredFeatures:
    """The features a store holds for dataset metrics, read once per feature name and codec."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._reference: dict[str, dict[str, Any]] = {}
        self._decoded: dict[tuple[str, str], dict[tuple[float, str], Any]] = {}

    def reference(self, name: str) -> dict[str, Any]:
        if name not in self._reference:
            self._reference[name] = self.store.reference_features(name)
        return self._reference[name]

    def decoded(self, name: str, codec: str, quality: float) -> dict[str, Any]:
        if (name, codec) not in self._decoded:
            self._decoded[name, codec] = self.store.features(name, codec)
        stored = self._decoded[name, codec]
        return {image: array for (q, image), array in stored.items() if q == float(quality)}


def dataset_values(
    store: Store, records: Iterable[Record], metrics: Sequence[DatasetMetric]
) -> dict[tuple[str, float], dict[str, float]]:
    """Per (codec, quality) of ``records``: each of ``metrics`` over the images whose per-image
    metrics are all defined (the images of that summary row)."""
    if not metrics:
        return {}
    groups: dict[tuple[str, float], set[str]] = {}
    for record in records:
        images = groups.setdefault((record.codec, float(record.quality)), set())
        if is_defined(record):
            images.add(record.image)
    stored = StoredFeatures(store)
    out: dict[tuple[str, float], dict[str, float]] = {}
    for (codec, quality), images in sorted(groups.items()):
        out[codec, quality] = {
            metric.name: aggregate_over(
                metric, stored.reference(metric.features), stored.decoded(metric.features, codec, quality), images
            )
            for metric in metrics
        }
    return out
