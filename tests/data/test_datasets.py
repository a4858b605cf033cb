"""Datasets (bench/data/datasets.py): named datasets (download, verification, cache), folders of images
(name order, what a scan skips and why), and descriptions that record paths as given."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time
from dataclasses import replace

import pytest
from PIL import Image

from bench.data import datasets
from bench.data.datasets import DatasetError, data_root, load_manifest, resolve_dataset
from conftest import bench_cli, gradient, pillow_bytes


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


def serve_kodak_from(monkeypatch, base: str) -> None:
    """Point the kodak manifest's URLs at ``base`` (``<base>/kodim01.png``, ...)."""
    real = datasets.load_manifest("kodak")
    files = tuple(replace(f, url=f"{base}/{f.name}") for f in real.files)
    monkeypatch.setattr(datasets, "load_manifest", lambda name: replace(real, files=files))
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.fixture
def kodak_server(http_server, kodak_dir, monkeypatch):
    """A local HTTP server playing r0k.us (the Kodak files by name), which the kodak manifest's URLs point at."""
    server = http_server(folder=kodak_dir)
    serve_kodak_from(monkeypatch, server.base)
    return server


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
    kodak_server.mode = "html"
    with pytest.raises(DatasetError) as refused:
        resolve_dataset("kodak", tmp_path)
    message = str(refused.value)
    assert "\n" not in message and f"{tmp_path / 'kodak' / 'kodim01.png'} is missing" in message
    assert re.search(r"kodim01.png has sha256 [0-9a-f]{64}, not a56e27cb[0-9a-f]{56} \(the expected sha256\)", message)
    assert f"Fill the folder {tmp_path / 'kodak'}" in message
    assert list((tmp_path / "kodak").iterdir()) == []  # nothing saved, no partial file left


def test_a_download_cut_short_leaves_nothing_in_the_cache(tmp_path, kodak_server):
    kodak_server.mode = "truncated"
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
    with pytest.raises(
        DatasetError,
        match=r"unknown dataset 'nope': not a dataset name \(clic2020-mobile-test, .*, kodak, tecnick\) nor a folder",
    ):
        resolve_dataset("nope")
    with pytest.raises(DatasetError, match="holds no images"):
        resolve_dataset(str(tmp_path))


# --- dataset scans list what they skip -------------------------------------------------------------------


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


# --- paths as given (issue 8) ---------------------------------------------------------------------------


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


def test_a_file_too_large_to_be_an_image_is_skipped_from_its_size_before_it_is_hashed(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(gradient()).save(folder / "a.png")
    with open(folder / "huge.png", "wb") as fh:  # sparse: 50 GB that take no disk, and minutes to hash
        fh.truncate(50 * 10**9)
    started = time.perf_counter()
    dataset = resolve_dataset(str(folder))
    assert time.perf_counter() - started < 5
    assert [image.name for image in dataset.images] == ["a.png"]
    assert dict(dataset.skipped) == {
        "huge.png": "is a file of 46.6 GiB, larger than any image codec-bench reads (at most 1 GiB, "
        "bench.data.images.MAX_FILE_BYTES)"
    }


def test_a_folder_of_only_a_huge_file_is_refused_at_once_from_the_command_line(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    with open(folder / "huge.png", "wb") as fh:
        fh.truncate(50 * 10**9)
    started = time.perf_counter()
    done = bench_cli("run", "--dataset", str(folder), "--codec", "jpeg", "--out", str(tmp_path / "out"))
    assert time.perf_counter() - started < 60 and done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("huge.png: is a file of 46.6 GiB, larger than any image "
                                                          "codec-bench reads (at most 1 GiB, bench.data.images.MAX_FILE_BYTES)")  # fmt: skip


def test_an_image_whose_header_has_too_many_pixels_is_skipped_before_it_is_hashed(tmp_path, monkeypatch):
    import bench.data.images

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(gradient(24, 32)).save(folder / "big.png")
    Image.fromarray(gradient(8, 8)).save(folder / "small.png")
    monkeypatch.setattr(bench.data.images, "MAX_PIXELS", 24 * 32 - 1)
    hashed = []
    monkeypatch.setattr(datasets, "sha256_file", lambda path: hashed.append(path.name) or "0" * 64)
    dataset = resolve_dataset(str(folder))
    assert [image.name for image in dataset.images] == ["small.png"] and hashed == ["small.png"]
    assert dict(dataset.skipped)["big.png"].startswith("is 32 x 24 = 768 pixels, more than the 767 codec-bench reads")
