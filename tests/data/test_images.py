"""Images (bench/data/images.py): the conversions to 8-bit RGB, EXIF orientation, and every unreadable
file a one-line per-image failure, never a lost run (issue 8)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image

import bench.data.images
from bench.data.images import ImageLoadError, load_rgb8
from conftest import gradient, pillow_bytes

# --- input conversions ---------------------------------------------------------------------------


def test_rgb_png_is_used_as_is(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    image = load_rgb8(tmp_path / "x.png")
    np.testing.assert_array_equal(image.pixels, pixels)
    assert image.conversion is None and image.name == "x.png"


def test_grey_is_replicated_to_rgb(tmp_path):
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    image = load_rgb8(tmp_path / "g.png")
    np.testing.assert_array_equal(image.pixels, np.repeat(grey[:, :, None], 3, axis=2))
    assert image.conversion == "grey replicated to RGB"


def test_palette_is_expanded(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (200, 10, 30)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    image = load_rgb8(tmp_path / "p.png")
    np.testing.assert_array_equal(image.pixels, rgb)
    assert image.conversion == "palette expanded to RGB"


def test_opaque_alpha_is_dropped_and_transparency_rejected(tmp_path):
    rgba = np.full((5, 5, 4), 255, np.uint8)
    rgba[..., :3] = 90
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    image = load_rgb8(tmp_path / "opaque.png")
    assert image.pixels.shape == (5, 5, 3) and image.conversion == "opaque alpha channel dropped"
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "holes.png")
    with pytest.raises(ImageLoadError, match=r"holes.png: has an alpha channel with 1 non-opaque pixels"):
        load_rgb8(tmp_path / "holes.png")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_rgb_is_rounded_to_8_bits(tmp_path, suffix):
    wide = np.array([[[0, 128, 257], [32767, 32896, 65535]]], dtype=np.uint16)  # 1 x 2 x 3
    path = tmp_path / f"w{suffix}"
    path.write_bytes(imagecodecs.png_encode(wide) if suffix == ".png" else imagecodecs.tiff_encode(wide))
    image = load_rgb8(path)
    np.testing.assert_array_equal(image.pixels, np.round(wide / 257).astype(np.uint8))
    assert image.conversion == "16-bit samples scaled to 8 bits by round(v/257)"


def test_16_bit_grey_is_rounded_and_replicated(tmp_path):
    wide = np.array([[0, 300], [40000, 65535]], dtype=np.uint16)
    (tmp_path / "g16.png").write_bytes(imagecodecs.png_encode(wide))
    image = load_rgb8(tmp_path / "g16.png")
    np.testing.assert_array_equal(image.pixels[..., 1], np.round(wide / 257).astype(np.uint8))
    assert image.conversion == "16-bit samples scaled to 8 bits by round(v/257); grey replicated to RGB"


def test_cmyk_is_rejected(tmp_path):
    Image.new("CMYK", (8, 8), (0, 50, 100, 0)).save(tmp_path / "c.jpg")
    with pytest.raises(ImageLoadError, match=r"c.jpg: has unsupported pixel mode 'CMYK'"):
        load_rgb8(tmp_path / "c.jpg")


def test_corrupt_and_non_image_files_are_clear_errors(tmp_path, kodak_dir):
    truncated = tmp_path / "cut.png"
    truncated.write_bytes((kodak_dir / "kodim05.png").read_bytes()[:5000])
    with pytest.raises(ImageLoadError, match=r"cut.png: is corrupt or truncated"):
        load_rgb8(truncated)
    text = tmp_path / "text.png"
    text.write_text("hello")
    with pytest.raises(
        ImageLoadError, match=r"text.png: is corrupt or not an image: Pillow cannot identify its format"
    ):
        load_rgb8(text)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG file whose header says ``width x height`` 8-bit RGB (its data is one short row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 30)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def assert_one_line_naming(exc: ImageLoadError, path: Path) -> None:
    message = str(exc)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{path}: "), message


# --- any exception while reading an image is a per-image failure (issue 8) -----------------------


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own, at 12000 x 12000
@pytest.mark.parametrize("size", [(20000, 20000), (12000, 12000), (9000, 8000)])
def test_images_over_the_pixel_limit_fail_with_their_size(tmp_path, size):
    """20000 x 20000 is Pillow's DecompressionBombError, 12000 x 12000 its warning range; 9000 x 8000
    is under Pillow's limits but over ours. All three: one ImageLoadError naming the size and the limit."""
    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming(*size))
    with pytest.raises(ImageLoadError) as err:
        load_rgb8(path)
    assert_one_line_naming(err.value, path)
    assert f"{size[0] * size[1]:,} pixels" in str(err.value) and f"{bench.data.images.MAX_PIXELS:,}" in str(err.value)


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    """The limit is applied from the header: the pixels of an image over it are never decoded."""
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(bench.data.images, "MAX_PIXELS", 24 * 32 - 1)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    path = tmp_path / "just-over.png"
    path.write_bytes(pillow_bytes(gradient(), "PNG"))
    with pytest.raises(ImageLoadError, match=r"just-over.png: is 32 x 24 = 768 pixels, more than the 767"):
        bench.data.images.load_rgb8(path)


def test_a_corrupt_16_bit_png_is_a_per_image_failure(tmp_path):
    data = imagecodecs.png_encode(gradient().astype(np.uint16) * 257)
    path = tmp_path / "cut16.png"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageLoadError) as err:
        load_rgb8(path)
    assert_one_line_naming(err.value, path)


def _fuzz_sources() -> dict[str, bytes]:
    rgb = gradient()
    wide = rgb.astype(np.uint16) * 257 + np.random.default_rng(1).integers(0, 200, rgb.shape).astype(np.uint16)
    return {
        "png8.png": pillow_bytes(rgb, "PNG"),
        "png16.png": imagecodecs.png_encode(wide),
        "tiff8.tif": pillow_bytes(rgb, "TIFF", compression="tiff_adobe_deflate"),
        "tiff16.tif": imagecodecs.tiff_encode(wide),
        "jpeg.jpg": pillow_bytes(rgb, "JPEG", quality=90),
    }


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's warnings about the damaged TIFF tags
@pytest.mark.parametrize("name", list(_fuzz_sources()))
def test_fuzzed_files_load_or_fail_with_image_load_error(tmp_path, name):
    """Truncations at 40 offsets and 200 files with 1-3 random bytes changed (fixed seed) of each
    format: every outcome is an H x W x 3 uint8 image or an ImageLoadError, never another exception."""
    data = _fuzz_sources()[name]
    rng = np.random.default_rng(sum(name.encode()))
    cases = [data[:k] for k in np.linspace(0, len(data) - 1, 40).astype(int)]
    for _ in range(200):
        damaged = bytearray(data)
        for _ in range(rng.integers(1, 4)):
            damaged[rng.integers(len(damaged))] = rng.integers(256)
        cases.append(bytes(damaged))
    path = tmp_path / name
    outcomes = {"image": 0, "error": 0}
    for case in cases:
        path.write_bytes(case)
        try:
            image = load_rgb8(path)
        except ImageLoadError as exc:
            assert_one_line_naming(exc, path)
            outcomes["error"] += 1
        else:
            assert image.pixels.dtype == np.uint8 and image.pixels.ndim == 3 and image.pixels.shape[2] == 3
            assert image.pixels.flags.c_contiguous and image.height >= 1 and image.width >= 1
            outcomes["image"] += 1
    assert outcomes["error"] >= 40  # the truncations at least


# --- 16-bit alpha is opaque only at 65535 -------------------------------------------------------


@pytest.mark.parametrize("channels", [2, 4])  # LA, RGBA
def test_16_bit_alpha_is_opaque_only_when_every_sample_is_65535(tmp_path, channels):
    wide = np.full((3, 5, channels), 65535, np.uint16)
    wide[..., :-1] = 30000
    path = tmp_path / "a16.png"
    path.write_bytes(imagecodecs.png_encode(wide))
    image = load_rgb8(path)
    assert image.pixels.shape == (3, 5, 3)
    assert "opaque alpha channel dropped" in image.conversion
    wide[1, 2, -1] = 65534  # rounds to 255 in 8 bits, but it is not opaque
    path.write_bytes(imagecodecs.png_encode(wide))
    with pytest.raises(ImageLoadError, match=r"a16.png: has an alpha channel with 1 non-opaque pixels"):
        load_rgb8(path)


def test_8_bit_alpha_is_opaque_only_at_255(tmp_path):
    rgba = np.full((3, 5, 4), 255, np.uint8)
    rgba[0, 0, 3] = 254
    path = tmp_path / "a8.png"
    path.write_bytes(pillow_bytes(rgba, "PNG", "RGBA"))
    with pytest.raises(ImageLoadError, match=r"a8.png: has an alpha channel with 1 non-opaque pixels"):
        load_rgb8(path)


# --- formats read exactly, lossy sources ----------------------------------------------------------


def test_lossless_formats_are_read_exactly(tmp_path):
    rgb = gradient()
    files = {
        "a.bmp": pillow_bytes(rgb, "BMP"),
        "b.ppm": pillow_bytes(rgb, "PPM"),
        "c.pnm": pillow_bytes(rgb, "PPM"),
        "d.webp": pillow_bytes(rgb, "WEBP", lossless=True),
        "e.tif": pillow_bytes(rgb, "TIFF", compression="tiff_lzw"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        image = load_rgb8(tmp_path / name)
        np.testing.assert_array_equal(image.pixels, rgb, err_msg=name)
        assert image.conversion is None, name
    grey = rgb[..., 1]
    (tmp_path / "f.pgm").write_bytes(pillow_bytes(grey, "PPM", "L"))
    image = load_rgb8(tmp_path / "f.pgm")
    np.testing.assert_array_equal(image.pixels, np.repeat(grey[..., None], 3, axis=2))
    assert image.conversion == "grey replicated to RGB"
    assert {".bmp", ".ppm", ".pgm", ".pnm", ".webp"} <= set(bench.data.images.IMAGE_SUFFIXES)


def test_lossy_sources(tmp_path):
    """Lossy WebP is refused (it is the output of a codec under test); JPEG is accepted as before and
    recorded as a lossy source."""
    rgb = gradient()
    (tmp_path / "lossy.webp").write_bytes(pillow_bytes(rgb, "WEBP", quality=80))
    with pytest.raises(ImageLoadError, match=r"lossy.webp: is a lossy WebP file"):
        load_rgb8(tmp_path / "lossy.webp")
    (tmp_path / "photo.jpg").write_bytes(pillow_bytes(rgb, "JPEG", quality=90))
    assert load_rgb8(tmp_path / "photo.jpg").conversion == "lossy source (JPEG)"


# --- EXIF orientation -----------------------------------------------------------------------------


def with_orientation(rgb: np.ndarray, kind: str, orientation: int) -> bytes:
    """``rgb`` stored in a file of ``kind`` whose EXIF orientation tag is ``orientation``."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    if kind == "png16":  # imagecodecs writes no EXIF: put an eXIf chunk after IHDR
        data = imagecodecs.png_encode(rgb.astype(np.uint16) * 257)
        return data[:33] + png_chunk(b"eXIf", exif.tobytes()[6:]) + data[33:]  # (tobytes() starts "Exif\0\0")
    if kind == "tiff16":  # 16-bit grey, written by Pillow with the orientation tag
        return pillow_bytes(rgb[..., 1].astype(np.uint16) * 257, "TIFF", tiffinfo={0x0112: orientation})
    fmt = {"png": "PNG", "tiff": "TIFF", "jpeg": "JPEG", "webp": "WEBP"}[kind]
    extra = {"jpeg": {"quality": 95}, "webp": {"lossless": True}, "tiff": {"compression": "tiff_adobe_deflate"}}
    return pillow_bytes(rgb, fmt, exif=exif, **extra.get(kind, {}))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["png", "png16", "tiff", "tiff16", "webp", "jpeg"])
def test_exif_orientation_is_applied_and_recorded(tmp_path, kind, orientation):
    """Every format shows the image as viewers do (as Pillow's exif_transpose does; Pillow already
    applies it to 8-bit TIFF, not to the other formats nor to 16-bit files), and run.json says so."""
    from PIL import ImageOps

    rgb = gradient(24, 32)
    path = tmp_path / f"o{orientation}.{kind.rstrip('16')}"
    path.write_bytes(with_orientation(rgb, kind, orientation))
    image = load_rgb8(path)
    expected_image = Image.fromarray(rgb)
    expected_image.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(expected_image))
    if kind == "tiff16":
        expected = np.repeat(expected[..., 1:2], 3, axis=2)
    assert image.pixels.shape == expected.shape
    if kind == "jpeg":
        assert np.abs(image.pixels.astype(int) - expected).mean() < 3
    else:
        np.testing.assert_array_equal(image.pixels, expected)
    note = "EXIF orientation" if orientation == 1 else f"EXIF orientation {orientation} applied ("
    assert (note in (image.conversion or "")) == (orientation != 1), image.conversion


def test_unreadable_exif_does_not_fail_the_image(tmp_path, monkeypatch):
    def broken(self):
        raise SyntaxError("damaged EXIF")

    path = tmp_path / "x.jpg"
    path.write_bytes(with_orientation(gradient(), "jpeg", 6))
    monkeypatch.setattr(Image.Image, "getexif", broken)
    image = load_rgb8(path)
    assert image.pixels.shape == (24, 32, 3)
    assert image.conversion == "lossy source (JPEG); EXIF data unreadable (SyntaxError), orientation not applied"
