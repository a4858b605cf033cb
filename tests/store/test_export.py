"""Exports of the store (bench/store/export.py): the columns of records.csv."""

from __future__ import annotations

from bench.api.metric import DEFAULT_METRICS
from bench.store.export import RECORD_COLUMNS


def test_records_columns_follow_the_default_metrics():
    assert RECORD_COLUMNS[7:10] == DEFAULT_METRICS
