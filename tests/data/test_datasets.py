"""Named datasets (download, verification, cache), folders of images and input conversions."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from dataclasses import replace
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from bench.data import datasets
from bench.data.datasets import DatasetError, data_root, load_manifest, resolve_dataset
from bench.data.download import DownloadError, download_file
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


class KodakServer(http.server.ThreadingHTTPServer):
    """Serves the Kodak files by name (the bytes r0k.us serves), as ``how`` says: ``ok``; ``moved`` (an
    HTML page instead of every file); ``truncated`` (announces every byte, sends half and closes).
    Records the names asked for in ``requests``."""

    daemon_threads = True

    def __init__(self, folder: Path) -> None:
        super().__init__(("127.0.0.1", 0), _KodakHandler)
        self.folder = folder
        self.how = "ok"
        self.requests: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _KodakHandler(http.server.BaseHTTPRequestHandler):
    server: KodakServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = self.path.rsplit("/", 1)[1]
        self.server.requests.append(name)
        data = b"<html>moved</html>" if self.server.how == "moved" else (self.server.folder / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if self.server.how == "truncated" else data)

    def log_message(self, *args) -> None:
        pass


def serve_kodak_from(monkeypatch, base: str) -> None:
    """Point the kodak manifest's URLs at ``base`` (``<base>/kodim01.png``, ...)."""
    real = datasets.load_manifest("kodak")
    files = tuple(replace(f, url=f"{base}/{f.name}") for f in real.files)
    monkeypatch.setattr(datasets, "load_manifest", lambda name: replace(real, files=files))
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.fixture
def kodak_server(kodak_dir, monkeypatch):
    """A local HTTP server playing r0k.us, which the kodak manifest's URLs point at."""
    server = KodakServer(kodak_dir)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    serve_kodak_from(monkeypatch, server.base)
    yield server
    server.shutdown()
    server.server_close()


def test_missing_files_are_downloaded_verified_and_cached(tmp_path, kodak_dir, kodak_server, capsys):
    dataset = resolve_dataset("kodak", tmp_path)
    assert len(kodak_server.requests) == 24 and len(dataset.images) == 24
    assert f"kodak: downloading 24 file(s) into {tmp_path / 'kodak'}" in capsys.readouterr().err
    assert (tmp_path / "kodak" / "kodim24.png").read_bytes() == (kodak_dir / "kodim24.png").read_bytes()
    assert sorted(p.name for p in (tmp_path / "kodak").iterdir()) == [f.name for f in load_manifest("kodak").files]
    resolve_dataset("kodak", tmp_path)
    assert len(kodak_server.requests) == 24  # the cache is used, nothing downloaded again


def test_a_damaged_cached_file_is_downloaded_again(tmp_path, kodak_server):
    resolve_dataset("kodak", tmp_path)
    (tmp_path / "kodak" / "kodim07.png").write_bytes(b"truncated")
    resolve_dataset("kodak", tmp_path)
    assert kodak_server.requests[24:] == ["kodim07.png"]


def test_a_download_with_the_wrong_hash_is_refused(tmp_path, kodak_server):
    kodak_server.how = "moved"
    with pytest.raises(DatasetError) as refused:
        resolve_dataset("kodak", tmp_path)
    message = str(refused.value)
    assert "\n" not in message and f"{tmp_path / 'kodak' / 'kodim01.png'} is missing" in message
    assert re.search(r"kodim01.png has sha256 [0-9a-f]{64}, not a56e27cb[0-9a-f]{56} \(the expected sha256\)", message)
    assert f"Fill the folder {tmp_path / 'kodak'}" in message
    assert list((tmp_path / "kodak").iterdir()) == []  # nothing saved, no partial file left


def test_a_download_cut_short_leaves_nothing_in_the_cache(tmp_path, kodak_server):
    kodak_server.how = "truncated"
    with pytest.raises(DatasetError, match=r"kodim01.png is incomplete: \d+ of \d+ bytes arrived"):
        resolve_dataset("kodak", tmp_path)
    assert list((tmp_path / "kodak").iterdir()) == []


def test_without_network_the_error_names_the_url_and_the_folder_to_fill(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{probe.getsockname()[1]}"
    serve_kodak_from(monkeypatch, base)
    with pytest.raises(DatasetError) as err:
        resolve_dataset("kodak", tmp_path)
    message = str(err.value)
    assert "\n" not in message and f"cannot download {base}/kodim01.png" in message
    assert f"Fill the folder {tmp_path / 'kodak'} with the 24 files" in message and "BENCH_DATA" in message


def test_offline_nothing_is_downloaded_and_the_error_says_why(tmp_path, kodak_server):
    with pytest.raises(DatasetError) as err:
        resolve_dataset("kodak", tmp_path, download=False)
    message = str(err.value)
    assert f"{tmp_path / 'kodak' / 'kodim01.png'} is missing" in message and "switched off (--offline)" in message
    assert f"Fill the folder {tmp_path / 'kodak'}" in message
    assert kodak_server.requests == [] and not (tmp_path / "kodak").exists()


def test_download_file_offline_refuses_without_touching_network_or_disk(tmp_path):
    with pytest.raises(DownloadError, match=r"^not downloading http://127.0.0.1:9/x.bin: downloading is switched off"):
        download_file("http://127.0.0.1:9/x.bin", tmp_path / "cache" / "x.bin", offline=True)
    assert not (tmp_path / "cache").exists()


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
