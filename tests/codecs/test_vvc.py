"""The VVC codecs ``vtm``, ``vtm-compressai`` and ``vvc`` (bench_codecs/vtm.py, vvc.py) with the real
programs (../shared/tools builds).

Small crops keep VTM, the slowest encoder there is, to about a second per call.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
from PIL import Image

from bench.api.codec import CodecError
from bench.api.codec_registry import RegistryError, discover


@pytest.fixture(scope="module")
def registry():
    return discover(use_entry_points=False)


@pytest.fixture(scope="module")
def odd_crop(kodim01: np.ndarray) -> np.ndarray:
    """37 x 53 pixels of kodim01: odd sides, neither a multiple of 8."""
    return np.ascontiguousarray(kodim01[300:337, 400:453])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255**2 / mse))


def code(registry, name: str, image: np.ndarray, qp: int) -> tuple[bytes, np.ndarray]:
    """Encode with one instance, decode the bytes alone with another."""
    entry = registry.get(name)
    data = entry.create().encode(image, qp)
    return data, entry.create().decode(data)


@pytest.mark.parametrize("name", ["vtm", "vtm-compressai"])
def test_vtm_round_trips_an_odd_sized_crop_from_the_bitstream_alone(vvc_programs, registry, odd_crop, name):
    data, decoded = code(registry, name, odd_crop, 32)
    assert data[:4] == b"\x00\x00\x00\x01"  # the plain Annex B bitstream, nothing of ours around it
    assert decoded.shape == odd_crop.shape and decoded.dtype == np.uint8
    assert 28 < psnr(odd_crop, decoded) < 50
    more, finer = code(registry, name, odd_crop, 22)
    assert len(more) > len(data) and psnr(odd_crop, finer) > psnr(odd_crop, decoded)


def test_vtm_compressai_reproduces_compressai_utils_bench_vtm(vvc_programs, registry, tmp_path, odd_crop):
    """CompressAI's own VTM class (1.2), run on the same programs and image, gives the same file size
    and the same decoded pixels: our vtm-compressai is their pipeline."""
    from compressai.utils.bench.codecs import VTM

    from bench_codecs.vtm import config_path

    build = tmp_path / "build"
    build.mkdir()
    os.symlink(vvc_programs["BENCH_ENCODERAPP"], build / "EncoderAppStatic")  # the names CompressAI looks for
    os.symlink(vvc_programs["BENCH_DECODERAPP"], build / "DecoderAppStatic")
    Image.fromarray(odd_crop).save(tmp_path / "crop.png")
    theirs = VTM(argparse.Namespace(build_dir=str(build), config=str(config_path()), rgb=False))
    info, rec = theirs.run(str(tmp_path / "crop.png"), 37, return_rec=True)

    data, decoded = code(registry, "vtm-compressai", odd_crop, 37)
    assert 8 * len(data) / (37 * 53) == pytest.approx(info["bpp"], abs=1e-12)
    assert np.array_equal(decoded, np.asarray(rec))


def test_the_10_bit_rounded_pipeline_beats_compressai_truncation_at_high_rate(vvc_programs, registry, odd_crop):
    _, ours = code(registry, "vtm", odd_crop, 12)
    _, theirs = code(registry, "vtm-compressai", odd_crop, 12)
    assert psnr(odd_crop, ours) > psnr(odd_crop, theirs) + 1  # truncation biases every channel downwards


def test_vvc_codes_even_crops_plainly_and_odd_crops_behind_one_crop_byte(vvc_programs, registry, odd_crop):
    even = np.ascontiguousarray(odd_crop[:36, :52])
    data, decoded = code(registry, "vvc", even, 32)
    assert data[:4] == b"\x00\x00\x00\x01" and decoded.shape == even.shape
    data, decoded = code(registry, "vvc", odd_crop, 32)
    assert data[0] == 0xC0 | 1 | 2 and data[1:5] == b"\x00\x00\x00\x01"
    assert decoded.shape == odd_crop.shape
    assert 28 < psnr(odd_crop, decoded) < 50


def test_vvc_presets_are_codec_names(vvc_programs, registry):
    faster = registry.get("vvc:preset=faster")
    assert faster.cls.name == "vvc:preset=faster" and faster.create().settings()["preset"] == "faster"
    assert registry.get("vvc:preset=faster").cls is faster.cls  # the same class every time a process asks
    assert registry.get("vvc").create().settings()["preset"] == "medium"
    with pytest.raises(RegistryError):
        registry.get("vvc:preset=fastest")


@pytest.mark.parametrize("name", ["vtm", "vvc"])
def test_bytes_that_are_not_a_bitstream_fail_as_codec_errors(vvc_programs, registry, name):
    with pytest.raises(CodecError):
        registry.get(name).create().decode(b"\x00\x00\x00\x01 this is not VVC")


@pytest.mark.parametrize("name", ["vtm", "vtm-compressai", "vvc"])
def test_the_codecs_describe_their_programs_and_conversion(vvc_programs, registry, name):
    codec = registry.get(name).create()
    assert not codec.in_default_run
    versions = codec.versions()
    assert all(v and v != "not found" for v in versions.values())
    settings = codec.settings()
    assert "colour" in settings and settings["bit_depth"] in (8, 10)
