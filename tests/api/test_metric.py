"""The metric interface (bench/api/metric.py): what a metric over a whole dataset must declare."""

from __future__ import annotations

import numpy as np
import pytest

from bench.api.metric import DatasetMetric, Metric, register_metric


def test_a_metric_over_a_whole_dataset_must_be_a_dataset_metric_that_names_its_features():
    class Whole(Metric):
        name = "whole"
        label = axis_label = "W"
        per_image = False

        def compute(self, ref, dist):
            return 0.0

    with pytest.raises(TypeError, match="subclass DatasetMetric"):
        register_metric(Whole)

    class Nameless(DatasetMetric):
        name = "nameless"
        label = axis_label = "N"

        def extract(self, image):
            return np.zeros((0, 1), np.float32)

        def aggregate(self, ref, dist):
            return 0.0

    with pytest.raises(TypeError, match="must name its features"):
        register_metric(Nameless)
