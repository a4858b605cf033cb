"""Every built-in codec (bench_codecs): real bitstreams that decode from the bytes alone, rate following the knob."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from bench.api.codec import Codec
from bench.api.codec_registry import discover
from bench.metrics.fidelity import psnr
from conftest import IN_CI, require

REGISTRY = discover(use_entry_points=False)


BUILTIN = [entry.name for entry in REGISTRY.entries()]


#: Codecs whose programs or weights cannot be had here or in CI (no internet); their plumbing is tested
#: without them (tests/codecs/, tests/api/test_external.py, tests/neural/).
#: Codecs whose requirements cannot be had offline (pretrained weights): skipped where missing, under CI too.
#: (bpg's programs are built in ../shared/tools/bpg, which .ci/run puts on PATH: required under CI.)
OPTIONAL = {name for name in BUILTIN if name.startswith("compressai:")} | ({"bpg"} if not IN_CI else set())


#: The VVC codecs: VTM takes a minute per Kodak image, so tests/codecs/test_vvc.py specifies them on crops.
VVC = {"vtm", "vtm-compressai", "vvc"}


#: The codecs the generic coding tests below run.
CODED = [name for name in BUILTIN if name not in VVC]


#: The first bytes of each format, proving the bitstream is the real thing.
SIGNATURES = {
    "jpeg": b"\xff\xd8\xff",
    "webp": b"RIFF",
    "jpeg2000": b"\xff\x4f\xff\x51",
    "jpegxl": b"\xff\x0a",
    "jpegxl-cli": b"\xff\x0a",
    "bpg": b"BPG\xfb",
}


def available_codec(name: str) -> Codec:
    entry = REGISTRY.get(name)
    reason = entry.unavailable_reason()
    if reason:
        if name in OPTIONAL:
            pytest.skip(f"{name}: {reason}")
        require(False, f"{name}: {reason}")
    return entry.create()


def bpp(data: bytes, image: np.ndarray) -> float:
    return 8 * len(data) / (image.shape[0] * image.shape[1])


def test_builtin_codecs_are_the_documented_ones():
    assert BUILTIN[:14] == [
        "jpeg",
        "webp",
        "jpeg2000",
        "heif",
        "avif",
        "jpegxl",
        "bpg",
        "jpegxl-cli",
        "vtm",
        "vtm-compressai",
        "vvc",
        "factorized-small",
        "mean-scale-small",
    ] + ["compressai:bmshj2018-factorized"]
    assert {n for n in BUILTIN if n.startswith("compressai:")} == {
        f"compressai:{a}{metric}"
        for metric in ("", "-msssim")  # CompressAI's MSE- and MS-SSIM-trained weights
        for a in (
            "bmshj2018-factorized",
            "bmshj2018-hyperprior",
            "mbt2018-mean",
            "mbt2018",
            "cheng2020-anchor",
            "cheng2020-attn",
        )
    }


#: The codecs the large-image test runs: CompressAI's zoo architectures take minutes a decode there on a CPU
#: (tests/perf/large_image_memory.py measures them, and their memory).
LARGE = [name for name in CODED if not name.startswith("compressai:")]


@pytest.fixture(scope="module")
def clic_sized(kodim01) -> np.ndarray:
    """A 1365 x 2048 photo (CLIC 2020's largest size): kodim01 and its mirror images tiled, then cropped."""
    row = np.concatenate([kodim01, kodim01[:, ::-1], kodim01], axis=1)
    return np.ascontiguousarray(np.concatenate([row, row[::-1], row], axis=0)[:1365, :2048])


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_codec_round_trips_an_image_of_clic_s_largest_size(name, clic_sized):
    codec = available_codec(name)
    sweep = codec.knob.ordered(codec.knob.sweep)
    data = codec.encode(clic_sized, sweep[len(sweep) // 2])
    decoded = type(codec)().decode(data)
    assert decoded.shape == (1365, 2048, 3) and decoded.dtype == np.uint8
    assert 0.02 < bpp(data, clic_sized) < 4.0 and 22.0 < psnr(clic_sized, decoded) < 50.0


@pytest.mark.parametrize("name", CODED)
def test_codec_round_trips_a_kodak_image(name, kodim01):
    codec = available_codec(name)
    sweep = codec.knob.ordered(codec.knob.sweep)
    quality = sweep[len(sweep) // 2]
    data = codec.encode(kodim01, quality)
    assert isinstance(data, bytes) and len(data) > 100
    if name in SIGNATURES:
        assert data.startswith(SIGNATURES[name])
    if name in ("heif", "avif"):  # ISOBMFF with the brand of the coding format ('heix': HEVC 4:4:4)
        assert data[4:8] == b"ftyp" and data[8:12] == {"heif": b"heix", "avif": b"avif"}[name]
    decoded = type(codec)().decode(data)  # a fresh instance: nothing but the bytes
    assert decoded.dtype == np.uint8 and decoded.shape == kodim01.shape
    assert 0.05 < bpp(data, kodim01) < 4.0
    assert 24.0 < psnr(kodim01, decoded) < 50.0


@pytest.mark.parametrize("name", CODED)
def test_rate_follows_the_knob_over_the_default_sweep(name, kodak_crop):
    codec = available_codec(name)
    ordered = codec.knob.ordered(codec.knob.sweep)  # lowest rate first
    sizes = [len(codec.encode(kodak_crop, q)) for q in ordered]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), dict(zip(ordered, sizes, strict=True))
    lowest, highest = (codec.decode(codec.encode(kodak_crop, q)) for q in (ordered[0], ordered[-1]))
    assert psnr(kodak_crop, highest) > psnr(kodak_crop, lowest) + 2


@pytest.mark.parametrize("name", CODED)
def test_encoding_is_deterministic(name, kodak_crop):
    codec = available_codec(name)
    quality = codec.knob.sweep[0]
    assert codec.encode(kodak_crop, quality) == codec.encode(kodak_crop, quality)


@pytest.mark.parametrize("name", CODED)
def test_description_is_json_and_names_versions(name):
    description = available_codec(name).describe()  # versions need the codec (required under CI)
    json.dumps(description)
    assert description["name"] == name and description["versions"] and description["settings"]
    assert all(v and v != "unknown" for v in description["versions"].values())


DECODE_IN_FRESH_PROCESS = """
import sys, numpy as np
from bench.api.codec_registry import discover
registry = discover(use_entry_points=False)
for name, path in zip(sys.argv[1::2], sys.argv[2::2]):
    image = registry.get(name).create().decode(open(path, "rb").read())
    np.save(path + ".npy", image)
"""


def test_bitstreams_decode_in_a_fresh_process_to_the_same_pixels(tmp_path, kodak_crop):
    """Decode uses the bytes only: another process, with no state from the encoder, gets the same image."""
    names = [n for n in CODED if not REGISTRY.get(n).unavailable_reason()]
    if IN_CI:
        assert set(CODED) - set(names) <= OPTIONAL
    args, expected = [], {}
    for name in names:
        codec = REGISTRY.get(name).create()
        data = codec.encode(kodak_crop, codec.knob.sweep[len(codec.knob.sweep) // 2])
        path = tmp_path / f"{name}.bin"
        path.write_bytes(data)
        args += [name, str(path)]
        expected[name] = codec.decode(data)
    subprocess.run([sys.executable, "-c", DECODE_IN_FRESH_PROCESS, *args], check=True, timeout=300)
    for name in names:
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.bin.npy"), expected[name], err_msg=name)


@pytest.mark.parametrize("name, fmt", [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_jpeg_and_webp_use_pillow_defaults_as_compressai_did(name, fmt, kodak_crop):
    """CompressAI's published JPEG/WebP curves are Pillow's plain save(quality=q); ours must equal it."""
    codec = REGISTRY.get(name).create()
    for quality in (5, 50, 95):
        buf = io.BytesIO()
        Image.fromarray(kodak_crop).save(buf, fmt, quality=quality)
        assert codec.encode(kodak_crop, quality) == buf.getvalue()


def test_jpeg2000_lands_on_the_target_rate(kodim01):
    codec = REGISTRY.get("jpeg2000").create()
    for target in (0.1, 0.5, 1.0, 2.0):
        assert target * 0.97 <= bpp(codec.encode(kodim01, target), kodim01) <= target * 1.001


def test_heif_and_avif_code_chroma_at_full_resolution(kodak_crop):
    """4:4:4 as documented: a one-pixel red/blue checkerboard survives at high quality."""
    pattern = np.zeros((64, 64, 3), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    pattern[(yy + xx) % 2 == 0] = (255, 0, 0)
    pattern[(yy + xx) % 2 == 1] = (0, 0, 255)
    for name in ("heif", "avif"):
        codec = available_codec(name)
        decoded = codec.decode(codec.encode(pattern, 90))
        assert psnr(pattern, decoded) > 25, name  # 4:2:0 would average the two colours to purple (~10 dB)


@pytest.mark.parametrize("name", BUILTIN)
def test_qualities_outside_the_knob_range_are_rejected(name):
    knob = REGISTRY.get(name).cls.knob
    with pytest.raises(ValueError, match="outside the valid range"):
        knob.check(knob.high + 1)


def test_bpg_explains_how_to_get_it_when_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = REGISTRY.get("bpg").unavailable_reason()
    assert "bpgenc" in reason and "bpgdec" in reason and "bellard.org/bpg" in reason and "BENCH_BPGENC" in reason


def test_bpg_command_lines_use_compressai_anchor_settings(tmp_path):
    codec = REGISTRY.get("bpg").create()
    args = codec.encode_args(32, tmp_path / "in.png", tmp_path / "out.bpg")
    pairs = dict(zip(args[:-1:2], args[1:-1:2], strict=True))  # option/value pairs before the input file
    assert pairs["-q"] == "32" and pairs["-e"] == "x265" and pairs["-c"] == "ycbcr"
    assert pairs["-f"] == "444" and pairs["-b"] == "8" and pairs["-o"].endswith("out.bpg")
    assert args[-1].endswith("in.png")
    assert codec.decode_args(tmp_path / "out.bpg", tmp_path / "dec.png") == [
        "-o",
        str(tmp_path / "dec.png"),
        str(tmp_path / "out.bpg"),
    ]


def test_jpegxl_cli_is_real_jpeg_xl_readable_by_libjxl(kodak_crop):
    """cjxl's output decodes with imagecodecs' libjxl too: the external path yields a genuine bitstream.

    djxl (Debian's libjxl) and imagecodecs' newer libjxl may round a few samples differently.
    """
    import imagecodecs

    cli = available_codec("jpegxl-cli")  # needs cjxl/djxl where the codec finds them (PATH or BENCH_CJXL/DJXL)
    data = cli.encode(kodak_crop, 2.0)
    ours, theirs = cli.decode(data), imagecodecs.jpegxl_decode(data)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    assert psnr(ours, theirs) > 50
