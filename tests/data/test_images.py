"""Inputs that must never lose a run: unreadable images, folder scans, EXIF, plugin identity,
`bench codecs`, optional programs in the test suite, and paths recorded as given (issue 8)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import PIL
import pytest
from PIL import Image

import bench.data.images
from bench.api.plugins import load_plugin_file
from bench.data.datasets import resolve_dataset
from bench.data.images import ImageLoadError, load_rgb8
from conftest import bench_cli

# --- helpers -------------------------------------------------------------------------------------


def gradient(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """A small RGB test image: smooth ramps plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 4 % 256], -1)
    return np.clip(rgb + rng.integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)


def pillow_bytes(arr: np.ndarray, fmt: str, mode: str | None = None, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, fmt, **kw)
    return buf.getvalue()


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


# --- 1. any exception while reading an image is a per-image failure -------------------------------


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


# --- 2. 16-bit alpha is opaque only at 65535 ------------------------------------------------------


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


# --- 3. dataset scans list what they skip ---------------------------------------------------------


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


def test_folder_scan_lists_every_entry_it_skips(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    rgb = gradient()
    (folder / "a.png").write_bytes(pillow_bytes(rgb, "PNG"))
    (folder / "b.bmp").write_bytes(pillow_bytes(rgb, "BMP"))
    (folder / "c.ppm").write_bytes(pillow_bytes(rgb, "PPM"))
    (folder / "d.webp").write_bytes(pillow_bytes(rgb, "WEBP", lossless=True))
    (folder / "e.webp").write_bytes(pillow_bytes(rgb, "WEBP", quality=80))
    (folder / "f.gif").write_bytes(pillow_bytes(rgb, "GIF"))
    (folder / "g.txt").write_text("notes")
    (folder / "h.png").mkdir()
    (folder / "i.png").symlink_to(folder / "gone.png")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "j.jpg").write_bytes(pillow_bytes(rgb, "JPEG"))
    dataset = resolve_dataset(str(folder))
    assert [im.name for im in dataset.images] == ["a.png", "b.bmp", "c.ppm", "d.webp", "j.jpg"]
    skipped = dict(dataset.skipped)
    assert list(skipped) == [".DS_Store", "e.webp", "f.gif", "g.txt", "h.png", "i.png"]
    assert "hidden" in skipped[".DS_Store"]
    assert "lossy WebP" in skipped["e.webp"]
    assert "'.gif'" in skipped["f.gif"] and "'.txt'" in skipped["g.txt"]
    assert "folder" in skipped["h.png"]
    assert "broken symbolic link" in skipped["i.png"]
    described = dataset.describe()
    assert described["skipped"] == [{"name": n, "reason": r} for n, r in dataset.skipped]
    json.dumps(described)


def test_a_folder_with_nothing_usable_says_what_it_skipped(tmp_path):
    (tmp_path / "x.gif").write_bytes(pillow_bytes(gradient(), "GIF"))
    with pytest.raises(Exception, match=r"holds no images .*x.gif: "):
        resolve_dataset(str(tmp_path))


# --- 4. EXIF orientation --------------------------------------------------------------------------


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


# --- 5. plugin identity by content -----------------------------------------------------------------

PLUGIN = """
import io
import numpy as np
import PIL
from PIL import Image
from bench.api.codec import Codec, Knob, register_codec


@register_codec
class {cls}(Codec):
    name = "{name}"
    extension = "png"
    knob = Knob("level", 0, 9, sweep=(1, 9))

    def encode(self, image, quality):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "PNG", compress_level=int(quality))
        return buf.getvalue()

    def decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data), formats=["PNG"]).convert("RGB"))

    def settings(self):
        return {{"threads": 1}}

    def versions(self):
        return {{"Pillow": PIL.__version__, "libfoo": "{libfoo}"}}
"""


def plugin_source(name: str = "pngtest", cls: str = "PngTest", libfoo: str = "1.0") -> str:
    return PLUGIN.format(name=name, cls=cls, libfoo=libfoo)


def test_a_plugin_file_is_named_by_its_content(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    first = tmp_path / "a" / "codec.py"
    first.write_text(plugin_source())
    copy = tmp_path / "b" / "codec.py"
    shutil.copy(first, copy)
    renamed = tmp_path / "c" / "renamed.py"
    shutil.copy(first, renamed)
    other = tmp_path / "c" / "codec.py"  # same stem, different content
    other.write_text(plugin_source(name="pngother"))
    m1, m2, m3, m4 = (load_plugin_file(p) for p in (first, copy, other, renamed))
    assert m1.__name__ == m2.__name__ == m4.__name__ != m3.__name__
    assert m1.PngTest().describe()["class"] == m2.PngTest().describe()["class"]
    assert m3.PngTest.name == "pngother"
    # the copy runs as itself: code that uses __file__ (a trained family's plugin.py) sees its own folder
    assert Path(m1.__file__) == first.resolve() and Path(m2.__file__) == copy.resolve()
    assert load_plugin_file(first) is not None


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i in range(2):
        (folder / f"t{i}.png").write_bytes(pillow_bytes(gradient(48, 64, seed=i), "PNG"))
    return folder


def test_a_run_continues_after_its_plugin_file_moved(tmp_path, tiny_folder):
    (tmp_path / "old").mkdir()
    plugin = tmp_path / "old" / "pngtest.py"
    plugin.write_text(plugin_source())
    out = tmp_path / "run"
    args = ("run", "--dataset", str(tiny_folder), "--codec", "pngtest", "--out", str(out), "--no-progress",
            "--no-report", "-j", "1")  # fmt: skip
    first = bench_cli(*args, "--plugin", str(plugin), "--quality", "1", timeout=120)
    assert first.returncode == 0, first.stderr
    (tmp_path / "new").mkdir()
    moved = plugin.rename(tmp_path / "new" / "pngtest.py")
    again = bench_cli(*args, "--plugin", str(moved), "--quality", "1,9", timeout=120)
    assert again.returncode == 0, again.stderr
    assert len((out / "records.csv").read_text().strip().splitlines()) == 1 + 2 * 2


# --- 6. bench codecs ------------------------------------------------------------------------------


def test_bench_codecs_aligns_long_names_and_says_each_version_once(tmp_path):
    plugin = tmp_path / "two.py"
    plugin.write_text(
        plugin_source("a-very-long-plugin-codec-name-xyz", "LongOne", "1.0")
        + plugin_source("shortp", "ShortOne", "2.0").split("from bench.api.codec import Codec, Knob, register_codec")[1]
    )
    result = bench_cli("codecs", "--plugin", str(plugin), timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert result.stdout.count(PIL.__version__) == 1, result.stdout  # each version said once
    assert re.search(rf"^  Pillow: +{re.escape(PIL.__version__)} \[jpeg, webp, .*shortp\]$", result.stdout, re.M)
    assert re.search(r"^  libfoo: +1\.0 \[a-very-long-plugin-codec-name-xyz\], 2\.0 \[shortp\]$", result.stdout, re.M)
    from bench.api.codec_registry import discover

    registry = discover([plugin])
    names = [*registry.broken, *(entry.name for entry in registry.entries())]
    assert "a-very-long-plugin-codec-name-xyz" in names and "jpeg" in names
    status_columns = set()
    for name in names:
        i = next(k for k, line in enumerate(lines) if line.split(" ", 1)[0] == name)
        line = lines[i] if ("available (" in lines[i] or "NOT AVAILABLE (" in lines[i]) else lines[i + 1]
        status = line.index("NOT AVAILABLE (") if "NOT AVAILABLE (" in line else line.index("available (")
        status_columns.add(status)
    assert len(status_columns) == 1, status_columns
    jpeg_block = lines[next(k for k, line in enumerate(lines) if line.startswith("jpeg ")) :][:4]
    assert any("libraries: Pillow, libjpeg-turbo" in line for line in jpeg_block), jpeg_block


# --- 7. optional programs: skipped locally, required under CI --------------------------------------


def test_kodak_run_leaves_out_missing_programs_only_outside_ci(monkeypatch):
    from test_kodak_end_to_end import plan_codecs

    from bench.api.codec_registry import discover

    monkeypatch.setenv("BENCH_CJXL", str(Path("/nonexistent/cjxl")))
    monkeypatch.setenv("BENCH_DJXL", str(Path("/nonexistent/djxl")))
    registry = discover(use_entry_points=False)
    measure, left_out = plan_codecs(registry, in_ci=False)
    assert "jpegxl-cli" in left_out and "cjxl and djxl not found" in left_out["jpegxl-cli"]
    assert "jpegxl-cli" not in measure and {"jpeg", "webp", "jpegxl", "mean-scale-small"} <= set(measure)
    measure, left_out = plan_codecs(registry, in_ci=True)
    assert "jpegxl-cli" in measure and "jpegxl-cli" not in left_out  # under CI the run must fail on it


# --- 8. paths as given --------------------------------------------------------------------------------


def test_dataset_description_records_the_folder_as_given(tmp_path, tiny_folder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    described = resolve_dataset("./tiny").describe()
    assert described["given"] == "./tiny" and described["root"] == "tiny"
    assert str(tmp_path) not in json.dumps(described)
    absolute = resolve_dataset(str(tiny_folder)).describe()
    assert absolute["root"] == "tiny" and str(tmp_path) not in json.dumps(absolute)


def test_named_dataset_description_has_no_machine_path(kodak_dir):
    described = resolve_dataset("kodak", kodak_dir.parent, download=False).describe()
    assert described["given"] == "kodak" and described["root"] == "<data root>/kodak"
    assert str(kodak_dir) not in json.dumps(described)


def test_train_records_data_and_out_as_given(tmp_path):
    pytest.importorskip("compressai")
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(3):
        (data / f"i{i}.png").write_bytes(pillow_bytes(gradient(64, 64, seed=i), "PNG"))
    work = tmp_path / "work"
    work.mkdir()
    result = bench_cli("train", "--data", "../imgs", "--out", "fam", "--lambdas", "0.01", "--steps", "1",
                       "--val-every", "1", "--arch", "factorized", "--N", "8", "--M", "8", "--batch-size", "1",
                       "--crop", "64", "--threads", "1", "--device", "cpu", "--no-progress", cwd=work, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    family = json.loads((work / "fam" / "family.json").read_text())
    assert family["training"]["data"]["folder"] == "../imgs"
    assert family["training"]["config"]["data"] == "../imgs" and family["training"]["config"]["out"] == "fam"
    card = (work / "fam" / "MODEL_CARD.md").read_text()
    for text in (json.dumps(family), card):
        assert str(tmp_path) not in text
    assert "- ../imgs: " in card
    # an absolute --data is recorded relative to the directory the command ran in
    out2 = work / "fam2"
    result = bench_cli("train", "--data", str(data), "--out", str(out2), "--lambdas", "0.01", "--steps", "1",
                       "--val-every", "1", "--arch", "factorized", "--N", "8", "--M", "8", "--batch-size", "1",
                       "--crop", "64", "--threads", "1", "--device", "cpu", "--no-progress", cwd=work, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    family = json.loads((out2 / "family.json").read_text())
    assert family["training"]["data"]["folder"] == "../imgs" and family["training"]["config"]["out"] == "fam2"
    assert str(tmp_path) not in json.dumps(family) and str(tmp_path) not in (out2 / "MODEL_CARD.md").read_text()
    assert os.sep not in family["training"]["config"]["out"]
