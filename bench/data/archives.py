"""Taking a dataset's images out of a downloaded archive (ZIP or tar, compressed or not), safely.

:func:`extract_images` copies the members of an archive that match a dataset's patterns (e.g.
``valid/*.png``; ``fnmatch`` patterns on the member's whole path, ``/``-separated) into a folder,
each under its own base name, and refuses the whole archive, leaving nothing it made, when:

* any member's path is absolute, has a ``..`` part, a backslash or a NUL (a "zip slip": it would land
  outside the folder);
* a chosen member is not a regular file (a symbolic or hard link, a device, a folder);
* two chosen members have the same base name;
* a chosen member is larger than ``max_member_bytes`` (:data:`bench.data.images.MAX_FILE_BYTES`,
  1 GiB), or all of them together than ``max_total_bytes`` (:data:`MAX_TOTAL_BYTES`), counting the
  bytes as they come out of the decompressor (a "bomb" whose header understates its size is stopped
  there too).

macOS's ``__MACOSX/`` resource forks and hidden files (``._name.png``) are never chosen. The caller
(:mod:`bench.data.datasets`) extracts into a fresh folder and renames it into place only once the
count of images is right, so an interrupted extraction leaves nothing that looks complete.
"""

from __future__ import annotations

import fnmatch
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator, Sequence

from bench.data.images import MAX_FILE_BYTES

__all__ = ["ArchiveError", "MAX_TOTAL_BYTES", "extract_images", "member_problem"]

#: The most bytes :func:`extract_images` writes out of one archive by default (64 GiB).
MAX_TOTAL_BYTES = 64 * 2**30
_CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    """An archive that is unreadable or refused; the message is one line naming it and what is wrong."""


@dataclass(frozen=True)
class _Member:
    """One archive member: its path, its declared size, whether it is a regular file, and how to read it."""

    name: str
    size: int
    regular: bool
    kind: str
    open: Callable[[], BinaryIO]


def member_problem(name: str) -> str | None:
    """Why the member path ``name`` could land outside the extraction folder, or None."""
    if "\x00" in name or "\\" in name:
        return "has a NUL or a backslash in its path"
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        return "has an absolute path"
    if ".." in path.parts:
        return "has a '..' in its path (it would land outside the folder)"
    return None


def _chosen(name: str, patterns: Sequence[str]) -> bool:
    path = PurePosixPath(name)
    if "__MACOSX" in path.parts or any(part.startswith(".") for part in path.parts):
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        kind = "folder" if info.is_dir() else "symbolic link" if stat.S_ISLNK(mode) else "file"
        if kind == "file" and stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # (no type bits: a plain file)
            kind = "special file"
        yield _Member(info.filename, info.file_size, kind == "file", kind, lambda info=info: archive.open(info))


def _tar_members(archive: tarfile.TarFile) -> Iterator[_Member]:
    for info in archive:
        kind = ("file" if info.isfile() else "folder" if info.isdir() else "symbolic link" if info.issym()
                else "hard link" if info.islnk() else "special file")  # fmt: skip
        yield _Member(info.name, info.size, info.isfile(), kind, lambda info=info: archive.extractfile(info))


def _open_archive(path: Path):
    """The archive at ``path`` and its members, by its content (not its name)."""
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        return archive, _zip_members(archive)
    if tarfile.is_tarfile(path):
        archive = tarfile.open(path)  # noqa: SIM115 (closed by the caller)
        return archive, _tar_members(archive)
    raise ArchiveError(f"{path} is neither a ZIP nor a tar archive")


def extract_images(
    archive_path: str | Path,
    dest: str | Path,
    patterns: Sequence[str],
    *,
    max_member_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> list[Path]:
    """Copy the members of ``archive_path`` matching ``patterns`` into the folder ``dest`` (created;
    it must not hold files of the same names) and return their paths, sorted; :class:`ArchiveError`
    (and nothing left in ``dest`` by this call) for a refused or unreadable archive (module docstring)."""
    archive_path, dest = Path(archive_path), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        archive, members = _open_archive(archive_path)
        with archive:
            chosen = _choose(archive_path, list(members), patterns, max_member_bytes)
            total = 0
            for member in chosen:
                target = dest / PurePosixPath(member.name).name
                total += _copy(archive_path, member, target, written, max_member_bytes, max_total_bytes - total)
    except BaseException as exc:  # (an ArchiveError too: nothing of this call is left)
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(exc, (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError)):
            raise ArchiveError(f"{archive_path} cannot be read: {type(exc).__name__}: {exc}") from None
        raise
    return sorted(written)


def _choose(path: Path, members: list[_Member], patterns: Sequence[str], max_member_bytes: int) -> list[_Member]:
    """The members to extract; :class:`ArchiveError` for a hostile archive (see the module docstring)."""
    for member in members:
        problem = member_problem(member.name)
        if problem:
            raise ArchiveError(f"{path}: member {member.name!r} {problem}: the archive is refused, nothing extracted")
    chosen = [m for m in members if _chosen(m.name, patterns) and m.kind != "folder"]
    seen: dict[str, str] = {}
    for member in chosen:
        if not member.regular:
            raise ArchiveError(f"{path}: member {member.name!r} is a {member.kind}, not a regular file: the archive "
                               "is refused, nothing extracted")  # fmt: skip
        if member.size > max_member_bytes:
            raise ArchiveError(f"{path}: member {member.name!r} declares {member.size} bytes, more than the "
                               f"{max_member_bytes} an image may have: the archive is refused, nothing extracted")  # fmt: skip
        base = PurePosixPath(member.name).name
        if base in seen:
            raise ArchiveError(f"{path}: members {seen[base]!r} and {member.name!r} have the same name: the archive "
                               "is refused, nothing extracted")  # fmt: skip
        seen[base] = member.name
    return sorted(chosen, key=lambda m: m.name)


def _copy(path: Path, member: _Member, target: Path, written: list[Path], max_member: int, room: int) -> int:
    """Copy ``member`` to ``target`` (appended to ``written`` first), stopping as soon as it exceeds
    ``max_member`` bytes or the ``room`` left of the archive's limit; the bytes copied."""
    if target.exists() or target.is_symlink():
        raise ArchiveError(f"{path}: {target} already exists; extract into an empty folder")
    written.append(target)
    copied = 0
    with member.open() as source, open(target, "xb") as out:
        while chunk := source.read(_CHUNK):
            copied += len(chunk)
            if copied > max_member:
                raise ArchiveError(f"{path}: member {member.name!r} gives more than {max_member} bytes (it declared "
                                   f"{member.size}): the archive is refused, nothing extracted")  # fmt: skip
            if copied > room:
                raise ArchiveError(f"{path}: its images give more than the limit of the bytes extracted from one "
                                   "archive: the archive is refused, nothing extracted")  # fmt: skip
            out.write(chunk)
    return copied


def remove_folder(folder: Path) -> None:
    """Remove ``folder`` and what it holds (an unfinished extraction), ignoring what is already gone."""
    shutil.rmtree(folder, ignore_errors=True)
