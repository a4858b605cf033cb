"""The YCbCr conversions and Y4M files of the VVC codecs (bench_codecs/_yuv.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench_codecs import _yuv


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
