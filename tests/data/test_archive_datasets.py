"""Named datasets that come as one archive (bench/data/extracted.py, the manifests of bench_datasets/):
served from a local server with the real layout (same member names), they are downloaded (resumed after
an interruption with HTTP Range), checked against the published checksum or, where none is published,
against the first download's record, extracted safely and atomically, and listed by ``bench datasets``."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from data.test_archives import make_zip
from PIL import Image

from bench.data import extracted
from bench.data.datasets import DatasetError, known_datasets, load_manifest, resolve_dataset
from bench.data.manifests import CONTENTS_FILE, Manifest, manifest_from_json
from conftest import bench_cli

TECNICK_DIR = "testimages/RGB/RGB_OR_1200x1200"


def png(seed: int, size: int = 8) -> bytes:
    """A small RGB PNG, different for each ``seed``."""
    image = Image.new("RGB", (size, size), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def tecnick_zip(path, changed: int | None = None):
    """An archive with the layout of TESTIMAGES' testimages.zip: the 100 RGB_OR_1200x1200 images (image
    ``changed`` with other pixels), other sizes and grey images beside them, a licence file."""
    members = {f"{TECNICK_DIR}/RGB_OR_1200x1200_{i:03d}.png": png(i + (1000 if i == changed else 0))
               for i in range(1, 101)}  # fmt: skip
    members |= {f"testimages/RGB/RGB_R02_0600x0600/RGB_R02_0600x0600_{i:03d}.png": png(i) for i in range(1, 4)}
    members |= {"testimages/GRAY/GRAY_OR_1200x1200_001.png": png(7), "testimages/LICENSE.txt": b"terms"}
    return make_zip(path, members)


@pytest.fixture
def mirror(http_server, tmp_path, monkeypatch):
    """A local server as $BENCH_DATASET_MIRROR: it serves <name>/<archive file> from ``tmp_path/mirror``."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = http_server(folder=folder)
    monkeypatch.setenv("BENCH_DATASET_MIRROR", server.base)
    server.folder_path = folder
    return server


def leftovers(root) -> list[str]:
    """What lies in the data root besides the records: partial folders, archives, .part files."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".records" not in p.parts)


def test_every_shipped_manifest_says_where_its_images_and_checksums_come_from():
    names = known_datasets()
    for wanted in ("kodak", "clic2020-professional-valid", "clic2020-mobile-valid", "clic2020-professional-test",
                   "clic2020-mobile-test", "tecnick", "div2k-valid"):  # fmt: skip
        assert wanted in names
    counts = {"kodak": 24, "clic2020-professional-valid": 41, "clic2020-mobile-valid": 61, "tecnick": 100,
              "div2k-valid": 100, "clic2020-professional-test": 250, "clic2020-mobile-test": 178}  # fmt: skip
    for name in names:
        manifest = load_manifest(name)
        assert manifest.licence and manifest.citation and manifest.homepage.startswith("http")
        assert manifest.image_count == counts.get(name, manifest.image_count) > 0
        archive = manifest.archive
        if archive is None:
            continue
        assert archive.url.startswith("https://") and archive.members
        if archive.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", archive.sha256) and archive.size > 0
            assert "url_checksums" in archive.checksum_source  # who published it
        else:
            assert "no checksum published" in manifest.checksum
            assert any("No checksum is published" in note for note in manifest.notes)
    tfds = {"professional_valid_2020.zip": ("00be3809", 134834429), "DIV2K_valid_HR.zip": ("20dd31fd", 448993893)}
    for name in ("clic2020-professional-valid", "div2k-valid"):
        archive = load_manifest(name).archive
        assert (archive.sha256[:8], archive.size) == tfds[archive.file_name]


def test_tecnick_is_extracted_from_the_mirror_recorded_and_checked_on_each_use(tmp_path, mirror):
    (mirror.folder_path / "tecnick").mkdir()
    tecnick_zip(mirror.folder_path / "tecnick" / "testimages.zip")
    root = tmp_path / "data"
    dataset = resolve_dataset("tecnick", root)
    assert [im.name for im in dataset.images] == [f"RGB_OR_1200x1200_{i:03d}.png" for i in range(1, 101)]
    assert mirror.requests == ["tecnick/testimages.zip"]  # the mirror first: the official URL is never asked
    assert leftovers(root) == sorted([f"tecnick/{CONTENTS_FILE}", *(f"tecnick/{im.name}" for im in dataset.images)])
    record = json.loads((root / ".records" / "tecnick.json").read_text())
    archive_sha = hashlib.sha256((mirror.folder_path / "tecnick" / "testimages.zip").read_bytes()).hexdigest()
    assert record["archive"]["sha256"] == archive_sha and "recorded on first download" in record["archive"]["checksum"]
    assert record["images"]["RGB_OR_1200x1200_100.png"] == dataset.images[-1].sha256
    origin = dataset.describe()["origin"]  # what run.json records of where the images came from
    assert origin["archive"]["sha256"] == archive_sha and origin["archive"]["members"] == [
        "*RGB/RGB_OR_1200x1200/*.png"
    ]
    assert origin["checksum"].startswith("no checksum published anywhere") and "testimages.org" in origin["homepage"]
    resolve_dataset("tecnick", root)
    assert len(mirror.requests) == 1  # checked, not downloaded again
    (root / "tecnick" / "RGB_OR_1200x1200_050.png").write_bytes(b"damaged")
    assert resolve_dataset("tecnick", root).images[49].sha256 == dataset.images[49].sha256
    assert len(mirror.requests) == 2  # damaged: downloaded and extracted again


def test_a_later_download_that_differs_from_the_first_is_refused(tmp_path, mirror):
    (mirror.folder_path / "tecnick").mkdir()
    served = mirror.folder_path / "tecnick" / "testimages.zip"
    tecnick_zip(served)
    root = tmp_path / "data"
    resolve_dataset("tecnick", root)
    tecnick_zip(served, changed=42)  # the host now serves another archive
    for path in (root / "tecnick").iterdir():
        path.unlink()
    (root / "tecnick").rmdir()
    with pytest.raises(DatasetError) as err:
        resolve_dataset("tecnick", root)
    message = str(err.value)
    assert "\n" not in message and "but the first download (recorded" in message and "is refused" in message
    assert leftovers(root) == []  # nothing extracted, the refused archive deleted


def test_an_archive_other_than_the_published_one_is_refused_before_extraction(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr(
        extracted, "sources", lambda manifest, name, url, mirrors: [mirror.url(f"{manifest.name}/{name}")]
    )
    (mirror.folder_path / "clic2020-professional-valid").mkdir()
    make_zip(mirror.folder_path / "clic2020-professional-valid" / "professional_valid_2020.zip",
             {f"valid/image-{i}.png": png(i) for i in range(41)})  # fmt: skip
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as err:
        resolve_dataset("clic2020-professional-valid", root)
    message = str(err.value)
    assert "\n" not in message and "not the 134834429 expected" in message  # TFDS's size, then its sha256
    assert "Put the archive https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip" in message
    assert leftovers(root) == [] and not (root / ".records").exists()


def archive_manifest(server, name: str, data: bytes, images: int, members=("valid/*.png",)) -> Manifest:
    """A manifest of an archive served by ``server`` as ``<name>.zip``, with its real sha256 and size."""
    server.files[f"{name}.zip"] = data
    return manifest_from_json({
        "name": name, "title": name, "homepage": "http://127.0.0.1/", "citation": "test", "licence": "test",
        "images": images, "archive": {"url": server.url(f"{name}.zip"), "size": len(data), "members": list(members),
                                      "sha256": hashlib.sha256(data).hexdigest(), "checksum_source": "the test"},
    })  # fmt: skip


def serve_manifests(monkeypatch, *manifests: Manifest) -> None:
    from bench.data import datasets

    real_load, real_known = datasets.load_manifest, datasets.known_datasets
    by_name = {m.name: m for m in manifests}
    monkeypatch.setattr(datasets, "load_manifest", lambda name: by_name.get(name) or real_load(name))
    monkeypatch.setattr(datasets, "known_datasets", lambda: sorted({*real_known(), *by_name}))


def clic_like(tmp_path, count: int) -> bytes:
    return make_zip(tmp_path / "a.zip", {f"valid/img-{i:02d}.png": png(i) for i in range(count)}).read_bytes()


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path, http_server, monkeypatch):
    server = http_server()
    data = clic_like(tmp_path, 5)
    manifest = archive_manifest(server, "clicish", data, 5)
    serve_manifests(monkeypatch, manifest)
    root = tmp_path / "data"
    server.mode = "truncated"  # the connection is cut half-way
    with pytest.raises(DatasetError, match=r"bytes kept in .*clicish.zip.part: the next try goes on from there"):
        resolve_dataset("clicish", root)
    part = root / ".downloads" / "clicish" / "clicish.zip.part"
    assert part.stat().st_size == len(data) // 2 and not (root / "clicish").exists()
    server.mode = "ok"
    dataset = resolve_dataset("clicish", root)
    assert server.ranges == [None, f"bytes={len(data) // 2}-"] and len(dataset.images) == 5
    assert leftovers(root) == sorted([f"clicish/{CONTENTS_FILE}", *(f"clicish/img-{i:02d}.png" for i in range(5))])


def test_a_server_that_ignores_range_sends_the_whole_file_again(tmp_path, http_server, monkeypatch):
    server = http_server()
    data = clic_like(tmp_path, 3)
    serve_manifests(monkeypatch, archive_manifest(server, "clicish", data, 3))
    part = tmp_path / "data" / ".downloads" / "clicish" / "clicish.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage that is not the start of the file")
    server.honour_ranges = False
    assert len(resolve_dataset("clicish", tmp_path / "data").images) == 3
    assert server.ranges == ["bytes=41-"] and not part.exists()


def test_the_wrong_number_of_images_or_a_hostile_archive_leaves_nothing_that_looks_complete(tmp_path, http_server,
                                                                                            monkeypatch):  # fmt: skip
    server = http_server()
    short = archive_manifest(server, "short", clic_like(tmp_path, 2), 3)
    slip = archive_manifest(server, "slip", make_zip(tmp_path / "s.zip", {"valid/a.png": png(1),
                                                                         "../../a.png": png(2)}).read_bytes(), 1)  # fmt: skip
    serve_manifests(monkeypatch, short, slip)
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match=r"short.zip holds 2 images matching valid/\*.png, not the 3 of the split"):
        resolve_dataset("short", root)
    with pytest.raises(DatasetError, match=r"member '../../a.png' has a '..' in its path"):
        resolve_dataset("slip", root)
    assert leftovers(root) == [] and sorted(p.name for p in root.iterdir()) == [".downloads"]
    assert not (tmp_path / "a.png").exists()


def test_an_interrupted_extraction_leaves_no_dataset_folder(tmp_path, http_server, monkeypatch):
    server = http_server()
    serve_manifests(monkeypatch, archive_manifest(server, "clicish", clic_like(tmp_path, 3), 3))
    real = extracted.extract_images

    def interrupted(archive, dest, patterns):
        real(archive, dest, patterns)
        raise KeyboardInterrupt  # Ctrl-C once the images are out, before the folder is complete

    monkeypatch.setattr(extracted, "extract_images", interrupted)
    with pytest.raises(KeyboardInterrupt):
        resolve_dataset("clicish", tmp_path / "data")
    assert not (tmp_path / "data" / "clicish").exists()
    assert [p.name for p in (tmp_path / "data").iterdir() if p.name.startswith(".clicish")] == []
    monkeypatch.setattr(extracted, "extract_images", real)
    assert len(resolve_dataset("clicish", tmp_path / "data").images) == 3  # the archive was kept: no new download
    assert len(server.requests) == 1


def test_offline_an_archive_dataset_is_not_downloaded(tmp_path, mirror):
    with pytest.raises(DatasetError) as err:
        resolve_dataset("div2k-valid", tmp_path / "data", download=False)
    message = str(err.value)
    assert "downloading is switched off (--offline)" in message and "DIV2K_valid_HR.zip" in message
    assert mirror.requests == [] and not (tmp_path / "data").exists()


def test_kodak_files_come_from_the_mirror_first(tmp_path, http_server, kodak_dir, monkeypatch):
    server = http_server(folder=kodak_dir, prefix="kodak")
    monkeypatch.setenv("BENCH_DATASET_MIRROR", server.base.rsplit("/kodak", 1)[0])
    assert len(resolve_dataset("kodak", tmp_path).images) == 24
    assert server.requests[:2] == ["kodim01.png", "kodim02.png"] and len(server.requests) == 24


def test_bench_datasets_lists_images_resolution_size_licence_checksums_and_the_cache(tmp_path, mirror):
    (mirror.folder_path / "tecnick").mkdir()
    tecnick_zip(mirror.folder_path / "tecnick" / "testimages.zip")
    root = tmp_path / "data"
    resolve_dataset("tecnick", root)
    out = bench_cli("datasets", "--data-dir", str(root), timeout=60).stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert re.search(r"100 images\s+8x8\s+size not published\s+cached: yes \(100 images\)", lines["tecnick"])
    assert re.search(r"41 images .* archive 129 MiB\s+cached: no$", lines["clic2020-professional-valid"])
    assert re.search(r"24 images\s+768x512 and 512x768\s+15 MiB\s+cached: 0/24 files", lines["kodak"])
    assert "checksum: archive sha256 published by TensorFlow Datasets" in out
    assert "checksum: no checksum published anywhere: sha256 recorded on first download" in out
    assert out.count("licence: ") == len(known_datasets())
