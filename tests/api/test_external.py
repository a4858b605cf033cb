"""The external-program mechanism behind bpg and jpegxl-cli (bench/api/external.py), exercised with real programs."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from bench.api.codec import CodecError, Knob
from bench.api.external import ExternalCodec, find_program
from bench.metrics.fidelity import psnr
from conftest import bench_cli, have_program, require


class Cjxl(ExternalCodec):
    name = "test-cjxl"
    extension = "jxl"
    encoder, decoder = "cjxl", "djxl"
    knob = Knob("distance", 0, 25, (1.0,), rate_grows=False, integer=False)

    def encode_args(self, quality, src, dst):
        return [str(src), str(dst), f"--distance={quality}", "--num_threads=1", "--quiet"]

    def decode_args(self, src, dst):
        return [str(src), str(dst), "--num_threads=1", "--quiet"]

    def settings(self):
        return {}


@pytest.fixture
def cjxl():
    # where the codec looks for them: PATH, or $BENCH_CJXL / $BENCH_DJXL
    require(Cjxl.unavailable_reason() is None, f"cjxl/djxl (Debian libjxl-tools): {Cjxl.unavailable_reason()}")
    return Cjxl()


def test_round_trip_through_real_programs(cjxl, kodak_crop):
    data = cjxl.encode(kodak_crop, 1.0)
    assert data.startswith(b"\xff\x0a")
    decoded = cjxl.decode(data)
    assert decoded.shape == kodak_crop.shape and decoded.dtype == np.uint8
    assert psnr(kodak_crop, decoded) > 35


def test_versions_are_read_from_the_programs(cjxl):
    versions = cjxl.versions()
    assert set(versions) == {"cjxl", "djxl"}
    assert all(v[0].isdigit() and "." in v for v in versions.values()), versions


def test_a_failing_encoder_reports_its_status_and_message(cjxl, kodak_crop):
    class BadArgs(Cjxl):
        def encode_args(self, quality, src, dst):
            return [str(src), str(dst), "--no-such-option"]

    with pytest.raises(CodecError, match=r"cjxl exited with status \d+: .*no-such-option"):
        BadArgs().encode(kodak_crop, 1.0)


def test_a_decoder_given_garbage_fails_cleanly(cjxl):
    with pytest.raises(CodecError, match="djxl exited with status"):
        cjxl.decode(b"\xff\x0a this is not a JPEG XL codestream")


def test_a_program_that_writes_no_output_is_an_error(kodak_crop):
    require(have_program("true"), "no 'true' program")

    class Silent(Cjxl):
        encoder = "true"

    with pytest.raises(CodecError, match="wrote no bitstream"):
        Silent().encode(kodak_crop, 1.0)


def test_a_hanging_program_times_out(kodak_crop):
    require(have_program("sleep"), "no 'sleep' program")

    class Hangs(Cjxl):
        encoder = "sleep"
        timeout_s = 0.5

        def encode_args(self, quality, src, dst):
            return ["30"]

    with pytest.raises(CodecError, match="did not finish within 0.5 s"):
        Hangs().encode(kodak_crop, 1.0)


def test_programs_can_be_named_by_environment(monkeypatch, cjxl):
    real = find_program("cjxl")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_program("cjxl") is None
    assert "cjxl and djxl not found" in Cjxl.unavailable_reason()
    monkeypatch.setenv("BENCH_CJXL", real)
    monkeypatch.setenv("BENCH_DJXL", find_program("djxl") or real.replace("cjxl", "djxl"))
    assert find_program("cjxl") == real
    assert Cjxl.unavailable_reason() is None


def test_run_asking_for_a_missing_program_fails_at_once(tmp_path, small_dataset):
    plugin = tmp_path / "missing.py"
    plugin.write_text(
        textwrap.dedent("""
        from bench.api.codec import Knob, register_codec
        from bench.api.external import ExternalCodec

        @register_codec
        class Missing(ExternalCodec):
            name = "missing-prog"
            encoder, decoder = "no-such-encoder-xyz", "no-such-decoder-xyz"
            install_hint = "Build it from example.org."
            knob = Knob("q", 0, 10, (5,))
            def encode_args(self, quality, src, dst): return []
            def decode_args(self, src, dst): return []
            def settings(self): return {}
    """)
    )
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "missing-prog", "--plugin", str(plugin),
                       "--out", str(tmp_path / "out"), timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert "no-such-encoder-xyz and no-such-decoder-xyz not found on PATH" in result.stderr
    assert "Build it from example.org." in result.stderr
    assert not (tmp_path / "out" / "records.csv").exists()


def test_bpg_run_fails_at_once_with_how_to_get_it(tmp_path, small_dataset):
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "bpg", "--out", str(tmp_path / "o"),
                       env={"PATH": os.path.dirname(os.sys.executable)}, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert "codec 'bpg' is not available here" in result.stderr and "bellard.org/bpg" in result.stderr
