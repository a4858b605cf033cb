"""Archive extraction (bench/data/archives.py): only the split's images, each under its own name; a
hostile archive (zip slip, links, bombs, clashing names, not an archive) is refused whole and leaves
nothing behind."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest

from bench.data.archives import ArchiveError, extract_images, member_problem


def make_zip(path, members: dict[str, bytes], links: dict[str, str] | None = None, compress=zipfile.ZIP_DEFLATED):
    """A ZIP at ``path`` with ``members`` (name -> bytes) and symbolic ``links`` (name -> target)."""
    with zipfile.ZipFile(path, "w", compress) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def make_tar(path, members: dict[str, bytes], mode="w:bz2", extra: list[tarfile.TarInfo] | None = None):
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info)
    return path


CLIC_LAYOUT = {
    "valid/alberto-montalesi-176097.png": b"a" * 100,
    "valid/andrew-ruiz-376.png": b"b" * 200,
    "__MACOSX/valid/._andrew-ruiz-376.png": b"resource fork",
    "valid/.DS_Store": b"finder",
    "valid/readme.txt": b"not an image",
}


def test_only_the_members_of_the_split_are_extracted_by_base_name(tmp_path):
    archive = make_zip(tmp_path / "professional_valid_2020.zip", CLIC_LAYOUT)
    paths = extract_images(archive, tmp_path / "out", ["valid/*.png"])
    assert [p.name for p in paths] == ["alberto-montalesi-176097.png", "andrew-ruiz-376.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in paths]
    assert paths[1].read_bytes() == b"b" * 200


def test_a_compressed_tar_is_read_by_its_content(tmp_path):
    archive = make_tar(tmp_path / "data.bin", {"TESTIMAGES/RGB/RGB_OR_1200x1200/RGB_OR_1200x1200_001.png": b"x",
                                               "TESTIMAGES/GRAY/GRAY_1200x1200_001.png": b"y"})  # fmt: skip
    paths = extract_images(archive, tmp_path / "out", ["*RGB/RGB_OR_1200x1200/*.png"])
    assert [p.name for p in paths] == ["RGB_OR_1200x1200_001.png"]


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "valid/../../evil.png", "C:/evil.png",
                                  "valid\\..\\evil.png"])  # fmt: skip
def test_a_member_that_would_land_outside_the_folder_refuses_the_whole_archive(tmp_path, name):
    assert member_problem(name)
    archive = make_zip(tmp_path / "slip.zip", {"valid/good.png": b"ok", name: b"evil"})
    with pytest.raises(ArchiveError, match=r"slip\.zip: member .* the archive is refused, nothing extracted") as err:
        extract_images(archive, tmp_path / "out", ["valid/*.png", "*.png"])
    assert "\n" not in str(err.value)
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "evil.png").exists()


def test_links_among_the_images_are_refused(tmp_path):
    archive = make_zip(tmp_path / "links.zip", {"valid/good.png": b"ok"}, links={"valid/passwd.png": "/etc/passwd"})
    with pytest.raises(ArchiveError, match=r"'valid/passwd.png' is a symbolic link, not a regular file"):
        extract_images(archive, tmp_path / "out", ["valid/*.png"])
    assert list((tmp_path / "out").iterdir()) == []
    hard = tarfile.TarInfo("valid/hard.png")
    hard.type, hard.linkname = tarfile.LNKTYPE, "valid/good.png"
    tar = make_tar(tmp_path / "links.tar", {"valid/good.png": b"ok"}, mode="w", extra=[hard])
    with pytest.raises(ArchiveError, match=r"'valid/hard.png' is a hard link"):
        extract_images(tar, tmp_path / "out", ["valid/*.png"])
    assert list((tmp_path / "out").iterdir()) == []


def test_a_bomb_is_stopped_at_the_limit_and_leaves_nothing(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"valid/a.png": b"1" * 1000, "valid/z.png": b"\0" * 10_000_000})
    assert archive.stat().st_size < 100_000  # ten megabytes of zeros in a few kilobytes
    with pytest.raises(ArchiveError, match=r"'valid/z.png' declares 10000000 bytes, more than the 1000000"):
        extract_images(archive, tmp_path / "out", ["valid/*.png"], max_member_bytes=1_000_000)
    with pytest.raises(ArchiveError, match=r"more than the limit of the bytes extracted from one archive"):
        extract_images(archive, tmp_path / "out", ["valid/*.png"], max_total_bytes=5_000_000)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_member_whose_header_understates_its_size_is_refused(tmp_path):
    archive = make_zip(tmp_path / "liar.zip", {"valid/a.png": b"\0" * 5000})
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header, central directory
        at = data.index(signature) + offset
        assert int.from_bytes(data[at : at + 4], "little") == 5000
        data[at : at + 4] = (10).to_bytes(4, "little")  # "10 bytes", while 5000 inflate out of it
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"liar.zip"):
        extract_images(archive, tmp_path / "out", ["valid/*.png"], max_member_bytes=100)
    assert list((tmp_path / "out").iterdir()) == []


def test_two_images_of_the_same_name_and_non_archives_are_refused(tmp_path):
    archive = make_zip(tmp_path / "twice.zip", {"a/x.png": b"1", "b/x.png": b"2"})
    with pytest.raises(ArchiveError, match=r"'a/x.png' and 'b/x.png' have the same name"):
        extract_images(archive, tmp_path / "out", ["*.png"])
    page = tmp_path / "download.zip"
    page.write_bytes(b"<html>moved</html>")
    with pytest.raises(ArchiveError, match=r"download.zip is neither a ZIP nor a tar archive"):
        extract_images(page, tmp_path / "out", ["*.png"])
    cut = tmp_path / "cut.zip"
    cut.write_bytes(make_zip(tmp_path / "whole.zip", CLIC_LAYOUT).read_bytes()[:-30])
    with pytest.raises(ArchiveError, match=r"cut.zip (is neither|cannot be read)"):
        extract_images(cut, tmp_path / "out", ["valid/*.png"])
    assert list((tmp_path / "out").iterdir()) == []
