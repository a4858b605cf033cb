"""Writing files so that a crash never leaves half of one, hashing files, and the command line.

* :func:`atomic_write`: the file appears whole or not at all (written beside it under a name of its
  own, ``.<name>.<random>.tmp``, then renamed over it, which POSIX and Windows make atomic on one file
  system; two writers of one file never mix their bytes). Every file codec-bench writes that a later
  command reads back goes through it (downloads included: :mod:`bench.data.download`).
* :func:`sha256_file`: the hex sha256 of a file, read in 1 MiB chunks.
* :func:`command_line`: the invoking ``bench`` command, shell-quoted, for provenance;
  :func:`portable_path` and :func:`portable_command`: paths and commands as recorded in files meant for
  other machines (relative to where the command ran, never an absolute path of this machine).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex
import sys
from pathlib import Path
from typing import Callable

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "sha256_file",
    "command_line",
    "portable_path",
    "portable_command",
    "folder_name",
    "file_stem",
]


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to create and fill a temporary file beside ``path`` (a new name each call;
    created by ``write``, so with the usual permissions), then rename it to ``path``.

    The parent folder is created if needed. If ``write`` raises, ``path`` is left as it was and the
    temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, UTF-8 encoded (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def command_line(argv: list[str] | None = None) -> str:
    """The invoking command as a shell-quoted string (``bench`` and its arguments), for provenance."""
    argv = sys.argv if argv is None else argv
    return " ".join(shlex.quote(a) for a in ["bench", *argv[1:]])


def portable_path(path: str | Path) -> str:
    """``path`` as recorded in files meant for other machines: a relative path as it is, an absolute
    one relative to the current directory (``../shared/datasets/x`` rather than ``/home/me/...``)."""
    text = str(path)
    if not os.path.isabs(text):
        return text
    try:
        return os.path.relpath(text)
    except ValueError:  # another drive (Windows): no relative form; the folder's name at least
        return Path(text).name


def portable_command(command: str, paths: tuple[str | Path, ...]) -> str:
    """``command`` with every argument that is one of the absolute ``paths`` (alone or as ``--opt=PATH``)
    written relative to the current directory: the same command from the same directory, without
    this machine's absolute paths."""
    absolute = {str(p): portable_path(p) for p in paths if Path(p).is_absolute()}
    if not command or not absolute:
        return command
    try:
        args = shlex.split(command)
    except ValueError:
        return command
    for i, arg in enumerate(args):
        option, equals, value = arg.partition("=")
        if arg in absolute:
            args[i] = absolute[arg]
        elif equals and option.startswith("-") and value in absolute:
            args[i] = f"{option}={absolute[value]}"
    return " ".join(shlex.quote(a) for a in args)


def file_stem(image: str, shared: bool) -> str:
    """The stem under which an image's saved bitstreams and reconstructions are named: the image's own
    stem, or its whole name with the dots made ``_`` (``a_png``, ``a_jpg``) when ``shared``, i.e. when
    several images of the dataset have that stem."""
    return image.replace(".", "_") if shared else Path(image).stem


def folder_name(name: str) -> str:
    """``name`` (a codec's) as one safe folder name: itself when it is made of letters, digits and
    ``._:+-`` (and is not ``.`` or ``..``); otherwise those characters kept, the others made ``_``,
    at most 60 of them, and 8 hex digits of its sha256 (``compressai:mbt2018:runs/*.pth.tar`` cannot
    write outside the folder it is saved in, and two different names never share a folder)."""
    if re.fullmatch(r"[A-Za-z0-9._:+-]+", name) and name not in (".", ".."):
        return name
    safe = re.sub(r"[^A-Za-z0-9._:+-]", "_", name)[:60].strip(".")
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
