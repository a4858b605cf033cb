"""The values of dataset metrics (FID, KID, ...): one per codec and quality, over a set of images.

A :class:`~bench.api.metric.DatasetMetric` is aggregated from the features stored with each measurement
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from bench.api.metric import DatasetMetric, MetricError
from bench.api.metric_registry import MetricRegistry, discover_metrics
from bench.api.records import Record, is_defined

if TYPE_CHECKING:
    import numpy as np

    from bench.store.sqlite import Store

__all__ = ["aggregate_over", "dataset_metric_instances", "metric_instances", "dataset_values", "DatasetFeatures"]


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


def metric_instances(registry: MetricRegistry, names: Sequence[str]) -> tuple[DatasetMetric, ...]:
    """Instances of the dataset metrics ``names`` that ``registry`` has (the others are left out)."""
    found = (registry.get(name)() for name in names if name in registry)
    return tuple(metric for metric in found if isinstance(metric, DatasetMetric))


def dataset_metric_instances(names: Sequence[str], plugins: Sequence[str] = ()) -> tuple[DatasetMetric, ...]:
    """Instances of the dataset metrics ``names`` that are registered here, with the ``plugins``
    files (a metric only a missing plugin defines is left out: its column stays empty)."""
    if not names:
        return ()
    try:
        registry = discover_metrics(plugins)
    except MetricError:
        registry = discover_metrics()
    return metric_instances(registry, names)


@dataclass(frozen=True)
class DatasetFeatures:
    """What one codec's dataset metrics are computed from: the metrics, and the stored features of
    the reference images (by image) and of the codec's decoded images (by quality and image), per
    feature name."""

    metrics: tuple[DatasetMetric, ...]
    reference: dict[str, dict[str, Any]]
    decoded: dict[str, dict[tuple[float, str], Any]]

    @classmethod
    def from_store(cls, store: Store, codec: str, metrics: Sequence[DatasetMetric]) -> DatasetFeatures | None:
        """The features ``store`` holds for ``codec``'s ``metrics`` (None when there are no metrics)."""
        if not metrics:
            return None
        spaces = {metric.features for metric in metrics}
        return cls(
            tuple(metrics),
            {space: store.reference_features(space) for space in spaces},
            {space: store.features(space, codec) for space in spaces},
        )

    def value(self, metric: DatasetMetric, quality: float, images: Iterable[str]) -> float:
        """``metric`` of the codec at ``quality`` over ``images`` (:func:`aggregate_over`)."""
        decoded = self.decoded.get(metric.features, {})
        at = {image: array for (q, image), array in decoded.items() if q == float(quality)}
        return aggregate_over(metric, self.reference.get(metric.features, {}), at, images)


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
    features: dict[str, DatasetFeatures | None] = {}
    out: dict[tuple[str, float], dict[str, float]] = {}
    for (codec, quality), images in sorted(groups.items()):
        if codec not in features:
            features[codec] = DatasetFeatures.from_store(store, codec, metrics)
        out[codec, quality] = {metric.name: features[codec].value(metric, quality, images) for metric in metrics}
    return out
