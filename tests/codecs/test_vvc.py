"""The VVC codecs ``vtm``, ``vtm-compressai`` and ``vvc`` with the real programs (../shared/tools builds).

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
from bench_codecs import _yuv


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


def test_the_10_bit_ycbcr_conversion_is_lossless_for_every_8_bit_colour():
    v = np.arange(256)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(4096, 4096, 3).astype(np.uint8)
    codes = _yuv.to_code(_yuv.rgb_to_ycbcr(rgb), 10)
    assert codes.min() >= 0 and codes.max() <= 1023
    assert np.array_equal(_yuv.ycbcr_to_rgb(_yuv.from_code(codes, 10)), rgb)


def test_conversions_round_half_up_and_clip():
    assert _yuv.to_code(np.array([0.125, 0.375, 255.9]), 10).tolist() == [1, 2, 1023]  # 0.5 -> 1, 1.5 -> 2
    white = _yuv.rgb_to_ycbcr(np.full((1, 1, 3), 255, np.uint8))
    assert white[:, 0, 0] == pytest.approx([255, 128, 128])


def test_420_resampling_keeps_flat_planes_and_averages_blocks():
    plane = np.arange(16, dtype=float).reshape(4, 4)
    assert _yuv.downsample_420(plane).tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert np.array_equal(_yuv.upsample_420(np.full((3, 5), 7.0)), np.full((6, 10), 7.0))
    up = _yuv.upsample_420(np.array([[0.0, 4.0]]))
    assert up[0].tolist() == [0.0, 1.0, 3.0, 4.0]  # centre-sited: 3/4 and 1/4 weights, edges replicated
    with pytest.raises(ValueError, match="even"):
        _yuv.downsample_420(np.zeros((3, 4)))


def test_y4m_files_round_trip(tmp_path):
    planes = [np.arange(12, dtype=np.uint16).reshape(3, 4) * 80, np.full((2, 2), 512, np.uint16), np.ones((2, 2))]
    _yuv.write_y4m(tmp_path / "a.y4m", planes, 10, "420")
    back, bits, chroma = _yuv.read_y4m(tmp_path / "a.y4m")
    assert (bits, chroma) == (10, "420")
    assert all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True))
    (tmp_path / "b.y4m").write_bytes(b"P6 not a y4m")
    with pytest.raises(ValueError, match="not a Y4M"):
        _yuv.read_y4m(tmp_path / "b.y4m")


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
