"""Downloading one file, streamed to disk and checked, so that a bad download never lands in a cache.

:func:`download_file` fetches a URL (``https://``, ``http://``, ``file://``; proxies from the usual
environment variables) into ``dest``:

* it streams into a temporary file in ``dest``'s own folder and renames it to ``dest`` only once it is
  complete and its hash checked (:func:`bench.api.files.atomic_write`: a name of its own, so two
  processes fetching the same file do not mix their bytes); on any failure, Ctrl-C included, the
  temporary file is removed and ``dest`` is left as it was (absent, for a cache);
* complete means every byte the server announced (``Content-Length``) arrived: fewer bytes, or a
  connection cut while reading, is refused;
* the hash convention is torch hub's: the hex digits (8 or more) after the last ``-`` of the file
  name, before its extension (``bmshj2018-hyperprior-1-7eb97409.pth.tar``: ``7eb97409``), are a
  prefix of the file's sha256 (:func:`hash_prefix`); a whole sha256 can be given instead;
* a progress bar (tqdm) goes to stderr when it is a terminal;
* ``offline=True`` refuses at once (``--offline``: nothing is fetched, nothing is created).

Every download of codec-bench goes through it: datasets (:mod:`bench.data.datasets`), CompressAI's
zoo weights, learned metrics' weights and published anchors.

Every failure is a :class:`DownloadError` whose message is one line naming the URL and what is wrong.
"""

from __future__ import annotations

import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from bench.api.files import atomic_write, sha256_file

__all__ = ["DOWNLOAD_TIMEOUT_S", "DownloadError", "download_file", "hash_prefix", "hub_checkpoints"]

#: Longest wait for the server (to connect, and for each block of data), seconds.
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16
_HASH = re.compile(r"-([0-9a-f]{8,})\.[^-]*$")


class DownloadError(RuntimeError):
    """A download that failed or was refused; the message is one line naming the URL."""


def hash_prefix(name: str) -> str | None:
    """The sha256 prefix a file name carries (torch hub convention), or None:
    ``hash_prefix("bmshj2018-hyperprior-1-7eb97409.pth.tar") == "7eb97409"``."""
    match = _HASH.search(name)
    return match.group(1) if match else None


def hub_checkpoints() -> Path:
    """torch hub's folder of downloaded weights: ``$TORCH_HOME/hub/checkpoints`` (by default
    ``~/.cache/torch/hub/checkpoints``), where torchvision keeps its files too."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def download_file(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    progress: bool = True,
    desc: str | None = None,
    offline: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` (its folder is created) and return ``dest``.

    ``sha256``: the expected sha256 or a prefix of it (hex); by default the prefix ``dest``'s name
    carries (:func:`hash_prefix`), and no check when it carries none. ``progress``: show a progress
    bar on stderr (only when stderr is a terminal), labelled ``desc`` (default: the file name).
    ``offline``: refuse without touching the network or the disk.
    Raises :class:`DownloadError`; ``dest`` then stays as it was and no temporary file is left.
    """
    if offline:
        raise DownloadError(f"not downloading {url}: downloading is switched off (--offline)")
    dest = Path(dest)
    expected = (sha256 if sha256 is not None else hash_prefix(dest.name) or "").lower()

    def fetch(tmp: Path) -> None:
        with open(tmp, "wb") as out, _open(url, timeout) as response:
            _stream(response, out, url, dest.parent, desc or dest.name, progress)
        if expected:
            said = "the hash in its file name" if sha256 is None else "the expected sha256"
            _check_sha256(tmp, expected, url, said)

    try:
        atomic_write(dest, fetch)
    except (
        OSError
    ) as exc:  # the folder or the file cannot be made, written or renamed (network errors are DownloadErrors)
        raise DownloadError(f"cannot save {url} in {dest.parent}: {exc.strerror or exc}") from None
    return dest


def _open(url: str, timeout: float):
    """The server's response to ``url`` (a context manager), or :class:`DownloadError` saying why not."""
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (URLs of the caller)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"cannot download {url}: {type(exc).__name__}: {exc}") from None


def _stream(response, out: BinaryIO, url: str, folder: Path, label: str, progress: bool) -> None:
    """Copy the body of ``response`` into ``out`` in chunks, with a progress bar labelled ``label``;
    :class:`DownloadError` when the connection is cut or fewer bytes than announced arrive."""
    from tqdm import tqdm

    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    got = 0
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, desc=label,
               disable=None if progress else True, leave=False)  # fmt: skip
    with bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except Exception as exc:  # connection reset, timeout, IncompleteRead, ...
                of = f" of {total}" if total is not None else ""
                raise DownloadError(
                    f"download of {url} was cut after {got}{of} bytes ({type(exc).__name__}: {exc}); nothing was saved"
                ) from None
            if not chunk:
                break
            try:
                out.write(chunk)
            except OSError as exc:
                raise DownloadError(f"cannot save {url} in {folder}: {exc.strerror or exc}") from None
            got += len(chunk)
            bar.update(len(chunk))
    if total is not None and got != total:
        raise DownloadError(
            f"download of {url} is incomplete: {got} of {total} bytes arrived before the connection closed; "
            "nothing was saved"
        )


def _check_sha256(path: Path, expected: str, url: str, said: str) -> None:
    """:class:`DownloadError` unless the sha256 of ``path`` (downloaded from ``url``) starts with
    ``expected`` (a whole sha256 or a prefix; ``said``: where it comes from)."""
    actual = sha256_file(path)
    if actual.startswith(expected):
        return
    more = "..." if len(expected) < len(actual) else ""  # (a prefix)
    raise DownloadError(
        f"download of {url} has sha256 {actual[: len(expected)]}{more}, not {expected}{more} ({said}): "
        "a different or damaged file; nothing was saved"
    )
