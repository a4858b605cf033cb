"""Named datasets (download, verification, cache), folders of images and input conversions."""

from __future__ import annotations

import hashlib
import http.server
import threading
import urllib.error
from functools import partial
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from bench.data.datasets import DatasetError, _http_fetch, data_root, load_manifest, resolve_dataset
from bench.data.images import ImageLoadError, load_rgb8
from conftest import bench_cli


def test_kodak_manifest_lists_the_24_r0k_files(kodak_dir):
    manifest = load_manifest("kodak")
    assert [f.name for f in manifest.files] == [f"kodim{i:02d}.png" for i in range(1, 25)]
    assert all(f.url == f"http://r0k.us/graphics/kodak/kodak/{f.name}" for f in manifest.files)
    published = dict(line.split()[::-1] for line in (kodak_dir / "SHA256SUMS").read_text().splitlines())
    assert {f.name: f.sha256 for f in manifest.files} == published


def test_kodak_resolves_from_the_data_root_and_is_verified(kodak_dir):
    dataset = resolve_dataset("kodak", kodak_dir.parent, download=False)
    assert dataset.root == kodak_dir and len(dataset.images) == 24
    assert dataset.images[0].sha256 == hashlib.sha256((kodak_dir / "kodim01.png").read_bytes()).hexdigest()


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("BENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "codec-bench" / "datasets"


def local_fetch(kodak_dir: Path, calls: list[str]):
    """Serves the manifest URLs from the local copy (the bytes r0k.us serves)."""

    def fetch(url: str, timeout: float) -> bytes:
        calls.append(url)
        return (kodak_dir / url.rsplit("/", 1)[1]).read_bytes()

    return fetch


def test_missing_files_are_downloaded_verified_and_cached(tmp_path, kodak_dir):
    calls: list[str] = []
    dataset = resolve_dataset("kodak", tmp_path, fetch=local_fetch(kodak_dir, calls))
    assert len(calls) == 24 and len(dataset.images) == 24
    assert (tmp_path / "kodak" / "kodim24.png").read_bytes() == (kodak_dir / "kodim24.png").read_bytes()
    assert not list((tmp_path / "kodak").glob("*.tmp"))  # no download left half-written (bench.api.files.atomic_write)
    resolve_dataset("kodak", tmp_path, fetch=local_fetch(kodak_dir, calls))
    assert len(calls) == 24  # the cache is used, nothing downloaded again


def test_a_damaged_cached_file_is_downloaded_again(tmp_path, kodak_dir):
    calls: list[str] = []
    resolve_dataset("kodak", tmp_path, fetch=local_fetch(kodak_dir, calls))
    (tmp_path / "kodak" / "kodim07.png").write_bytes(b"truncated")
    resolve_dataset("kodak", tmp_path, fetch=local_fetch(kodak_dir, calls))
    assert calls[24:] == ["http://r0k.us/graphics/kodak/kodak/kodim07.png"]


def test_a_download_with_the_wrong_hash_is_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"kodim01.png has sha256 [0-9a-f]{64}, expected a56e27cb"):
        resolve_dataset("kodak", tmp_path, fetch=lambda url, timeout: b"<html>moved</html>")
    assert not (tmp_path / "kodak" / "kodim01.png").exists()


def test_offline_and_missing_names_the_folder_to_fill(tmp_path):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(DatasetError) as err:
        resolve_dataset("kodak", tmp_path, fetch=offline)
    message = str(err.value)
    assert f"Fill the folder {tmp_path / 'kodak'} with the 24 files" in message
    assert "URLError" in message and "BENCH_DATA" in message


def test_http_download_really_fetches_over_http(kodak_dir):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(kodak_dir))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        data = _http_fetch(f"http://127.0.0.1:{server.server_port}/kodim03.png", 10)
    finally:
        server.shutdown()
    assert data == (kodak_dir / "kodim03.png").read_bytes()


def test_cli_offline_with_missing_dataset_exits_2_naming_the_folder(tmp_path):
    result = bench_cli("run", "--dataset", "kodak", "--data-dir", str(tmp_path), "--offline", "--codec", "jpeg",
                       "--out", str(tmp_path / "out"), timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert f"Fill the folder {tmp_path / 'kodak'}" in result.stderr


def test_folder_dataset_takes_images_in_name_order(tmp_path):
    for name in ("b.png", "a.JPG", "c.tif", "notes.txt", ".hidden.png"):
        path = tmp_path / name
        if name.endswith(".txt"):
            path.write_text("not an image")
        else:
            Image.new("RGB", (8, 8)).save(
                path, format={"png": "PNG", "jpg": "JPEG", "tif": "TIFF"}[name.rsplit(".", 1)[1].lower()]
            )
    dataset = resolve_dataset(str(tmp_path))
    assert [im.name for im in dataset.images] == ["a.JPG", "b.png", "c.tif"]
    assert dataset.source == "folder" and dataset.name == tmp_path.name


def test_unknown_dataset_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope': not a dataset name \(kodak\) nor a folder"):
        resolve_dataset("nope")
    with pytest.raises(DatasetError, match="holds no images"):
        resolve_dataset(str(tmp_path))


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
