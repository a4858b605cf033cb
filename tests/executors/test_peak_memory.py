"""Peak memory per measurement (bench/executors/peak_memory.py, bench/executors/measure.py): the peak of each call,
not of the process's life, with what the call added; a command-line codec's program measured on its own."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from bench.api.records import Record
from bench.api.task import MeasureOptions, Task
from bench.executors.measure import Measurer
from bench.executors.peak_memory import PeakMemory

pytestmark = pytest.mark.skipif(not PeakMemory().available, reason="no resettable peak memory (Linux only)")

#: A codec whose decoder touches 200 MiB it then frees (the encoder stores the image as raw bytes).
HUNGRY_PLUGIN = """
import numpy as np
from bench.api.codec import Codec, Knob, register_codec


@register_codec
class Hungry(Codec):
    name = "hungry"
    extension = "raw"
    knob = Knob("q", 1, 1, sweep=(1,))

    def encode(self, image, quality):
        return image.shape[0].to_bytes(4, "big") + image.shape[1].to_bytes(4, "big") + image.tobytes()

    def decode(self, data):
        scratch = np.ones(200 * 2**20, np.uint8)  # 200 MiB, touched, then freed
        del scratch
        h, w = int.from_bytes(data[:4], "big"), int.from_bytes(data[4:8], "big")
        return np.frombuffer(data[8:], np.uint8).reshape(h, w, 3).copy()

    def settings(self):
        return {}

    def versions(self):
        return {}
"""


def test_the_peak_is_reset_for_each_call():
    memory = PeakMemory()
    before = memory.reset()
    block = np.ones(150 * 2**20, np.uint8)
    del block
    assert memory.read_mb() - before >= 140
    again = memory.reset()  # the 150 MiB are gone: the peak starts again from the current memory
    assert again < before + 50 and memory.read_mb() - again < 20


@pytest.fixture
def staged(tmp_path):
    source = tmp_path / "image.npy"
    np.save(source, np.full((64, 96, 3), 128, np.uint8))
    return str(source)


def test_a_measurement_records_the_peak_of_each_call_and_what_it_added(tmp_path, staged):
    plugin = tmp_path / "hungry.py"
    plugin.write_text(HUNGRY_PLUGIN)
    measurer = Measurer(MeasureOptions(plugins=(str(plugin),), metrics=("psnr_rgb",)))
    record = measurer.measure(Task("hungry", 1, "image", source=staged))
    assert isinstance(record, Record), record
    extra = record.extra
    assert extra["decode_peak_rss_mb"] - extra["decode_rss_start_mb"] >= 195  # the decoder's 200 MiB
    assert extra["encode_peak_rss_mb"] - extra["encode_rss_start_mb"] < 50  # not the decoder's peak


@pytest.mark.skipif(shutil.which("bpgenc") is None or shutil.which("bpgdec") is None, reason="libbpg's programs")
def test_a_command_line_codec_records_its_programs_peaks(staged):
    measurer = Measurer(MeasureOptions(metrics=("psnr_rgb",)))
    record = measurer.measure(Task("bpg", 30, "image", source=staged))
    assert isinstance(record, Record), record
    extra = record.extra
    # bpgenc and bpgdec on a small image: a few MiB each, far below the measuring process's memory
    assert 0 < extra["encode_program_peak_rss_mb"] < extra["encode_peak_rss_mb"]
    assert 0 < extra["decode_program_peak_rss_mb"] < 200 and 0 < extra["program_rss_floor_mb"] < 64


def test_the_probe_is_off_where_the_system_has_none(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    memory = PeakMemory()
    monkeypatch.setattr("os.open", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("no /proc")))
    assert memory.reset() is None and memory.read_mb() is None and not memory.available


def test_a_peak_read_below_the_calls_start_is_taken_as_the_start(tmp_path, staged):
    """Linux's resident-size counters lag by a few pages: a read after a call that freed memory can be lower
    than the one at its start, which must never give a call that added less than nothing."""

    class Lagging:
        def reset(self) -> float:
            return 100.0

        def read_mb(self) -> float:
            return 99.94  # what the counters said just after the call

    measurer = Measurer(MeasureOptions(metrics=("psnr_rgb",)))
    measurer._memory = Lagging()
    record = measurer.measure(Task("jpeg", 50, "a.png", str(staged)))
    assert isinstance(record, Record), record
    assert record.extra["decode_peak_rss_mb"] == record.extra["decode_rss_start_mb"] == 100.0
    assert record.extra["encode_peak_rss_mb"] == 100.0
