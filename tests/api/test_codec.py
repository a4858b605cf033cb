"""The codec interface (bench/api/codec.py): knobs order their values from the lowest rate to the highest."""

from __future__ import annotations

import pytest

from bench.api.codec import Knob


def test_knob_orders_from_lowest_to_highest_rate():
    assert Knob("q", 0, 100, (50, 10), rate_grows=True).ordered([50, 10, 50]) == [10, 50]
    assert Knob("d", 0, 25, (1.0,), rate_grows=False, integer=False).ordered([1.0, 3.0, 0.5]) == [3.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="whole number"):
        Knob("q", 0, 100, (5,)).check(5.5)
