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
* it ends in time: a server that sends nothing for ``timeout`` seconds (:data:`DOWNLOAD_TIMEOUT_S`,
  60) is given up; so is a download still unfinished after :data:`DOWNLOAD_DEADLINE_S` (an hour;
  ``$BENCH_DOWNLOAD_DEADLINE`` or ``deadline=`` replace it) or whose average rate, once ``timeout``
  seconds have passed, is under :data:`DOWNLOAD_MIN_RATE` (10 KiB/s; ``$BENCH_DOWNLOAD_MIN_RATE`` or
  ``min_rate=``): a server that sends a byte every few seconds never stalls long enough for the
  ``timeout`` but would take hours. Both are checked as data arrives; 0 switches a check off;
* SIGTERM during a download (under Python's default handling of it) first removes the temporary file,
  then ends the process as SIGTERM does;
* a progress bar (tqdm) goes to stderr when it is a terminal;
* ``offline=True`` refuses at once (``--offline``: nothing is fetched, nothing is created).

Every download of codec-bench goes through it: datasets (:mod:`bench.data.datasets`), CompressAI's
zoo weights, learned metrics' weights and published anchors.

Every failure is a :class:`DownloadError` whose message is one line naming the URL and what is wrong.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from bench.api.files import atomic_write, sha256_file
from bench.api.processes import Terminated, catch_sigterm, restore_sigterm

__all__ = [
    "DEADLINE_ENV",
    "DOWNLOAD_DEADLINE_S",
    "DOWNLOAD_MIN_RATE",
    "DOWNLOAD_TIMEOUT_S",
    "DownloadError",
    "MIN_RATE_ENV",
    "download_file",
    "hash_prefix",
    "hub_checkpoints",
]

#: Longest wait for the server (to connect, and for each block of data), seconds.
DOWNLOAD_TIMEOUT_S = 60.0
#: Longest time one download may take, seconds (0: no limit); ``$BENCH_DOWNLOAD_DEADLINE`` replaces it.
DOWNLOAD_DEADLINE_S = 3600.0
#: Slowest average rate of a download once its first ``timeout`` seconds have passed, bytes per second
#: (0: no limit); ``$BENCH_DOWNLOAD_MIN_RATE`` replaces it.
DOWNLOAD_MIN_RATE = 10 * 1024.0
DEADLINE_ENV = "BENCH_DOWNLOAD_DEADLINE"
MIN_RATE_ENV = "BENCH_DOWNLOAD_MIN_RATE"
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
    deadline: float | None = None,
    min_rate: float | None = None,
    progress: bool = True,
    desc: str | None = None,
    offline: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` (its folder is created) and return ``dest``.

    ``sha256``: the expected sha256 or a prefix of it (hex); by default the prefix ``dest``'s name
    carries (:func:`hash_prefix`), and no check when it carries none. ``timeout``: longest wait for
    the server, seconds; ``deadline`` (seconds) and ``min_rate`` (bytes per second, averaged once
    ``timeout`` seconds have passed): by default ``$BENCH_DOWNLOAD_DEADLINE`` and
    ``$BENCH_DOWNLOAD_MIN_RATE``, else :data:`DOWNLOAD_DEADLINE_S` and :data:`DOWNLOAD_MIN_RATE`; 0: no
    limit. ``progress``: show a progress bar on stderr (only when stderr is a terminal), labelled
    ``desc`` (default: the file name). ``offline``: refuse without touching the network or the disk.
    Raises :class:`DownloadError`; ``dest`` then stays as it was and no temporary file is left (nor
    after Ctrl-C or SIGTERM).
    """
    if offline:
        raise DownloadError(f"not downloading {url}: downloading is switched off (--offline)")
    dest = Path(dest)
    expected = (sha256 if sha256 is not None else hash_prefix(dest.name) or "").lower()
    pace = _Pace(url, timeout, _limit(deadline, DEADLINE_ENV, DOWNLOAD_DEADLINE_S, url),
                 _limit(min_rate, MIN_RATE_ENV, DOWNLOAD_MIN_RATE, url))  # fmt: skip

    def fetch(tmp: Path) -> None:
        with open(tmp, "wb") as out, _open(url, timeout) as response:
            _stream(response, out, pace, dest.parent, desc or dest.name, progress)
        if expected:
            said = "the hash in its file name" if sha256 is None else "the expected sha256"
            _check_sha256(tmp, expected, url, said)

    try:
        with _sigterm_removes_temporary():
            atomic_write(dest, fetch)
    except OSError as exc:  # the folder or file cannot be made, written or renamed (network errors: DownloadError)
        raise DownloadError(f"cannot save {url} in {dest.parent}: {exc.strerror or exc}") from None
    return dest


def _limit(given: float | None, env: str, default: float, url: str) -> float:
    """``given``, else the number in ``$env``, else ``default``; :class:`DownloadError` for a bad one."""
    if given is not None:
        return given
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise DownloadError(f"not downloading {url}: ${env} is {text!r}, not a number >= 0 (0: no limit)")
    return value


class _Pace:
    """The clock of one download from ``url``: :meth:`check` refuses it once past ``deadline`` seconds,
    or (after its first ``grace`` seconds) when its average rate is under ``min_rate`` bytes per second."""

    def __init__(self, url: str, grace: float, deadline: float, min_rate: float) -> None:
        self.url, self.grace, self.deadline, self.min_rate = url, grace, deadline, min_rate
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def check(self, got: int, total: int | None) -> None:
        elapsed = self.elapsed()
        if self.deadline and elapsed > self.deadline:
            raise DownloadError(
                f"download of {self.url} did not finish within {self.deadline:g} s (${DEADLINE_ENV}): "
                f"{_bytes(got, total)} arrived in {elapsed:.1f} s; nothing was saved"
            )
        if self.min_rate and elapsed > self.grace and got < self.min_rate * elapsed:
            raise DownloadError(
                f"download of {self.url} is too slow: {_bytes(got, total)} arrived in {elapsed:.1f} s "
                f"({got / elapsed:.0f} bytes/s, under the minimum of {self.min_rate:g} bytes/s, ${MIN_RATE_ENV}); "
                "nothing was saved"
            )


def _bytes(got: int, total: int | None) -> str:
    return f"{got} of {total} bytes" if total is not None else f"{got} bytes"


@contextmanager
def _sigterm_removes_temporary() -> Iterator[None]:
    """While downloading, SIGTERM (when Python's default handling of it is in force, in the main thread)
    raises :class:`~bench.api.processes.Terminated` instead of ending the process at once: the temporary
    file is removed on the way out, and then the process ends as SIGTERM would have ended it. A handler
    of the caller's own (``bench run`` while measuring) is left in charge."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    previous = catch_sigterm()
    try:
        yield
    except Terminated:
        restore_sigterm(previous)
        os.kill(os.getpid(), signal.SIGTERM)  # the default action: the process ends here
        raise
    finally:
        restore_sigterm(previous)


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


def _stream(response, out: BinaryIO, pace: _Pace, folder: Path, label: str, progress: bool) -> None:
    """Copy the body of ``response`` into ``out`` as it arrives, with a progress bar labelled ``label``;
    :class:`DownloadError` when the connection is cut or stalls, fewer bytes than announced arrive, or
    ``pace`` refuses the time it takes."""
    from tqdm import tqdm

    url = pace.url
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    got = 0
    read = getattr(response, "read1", response.read)  # what has arrived, without waiting for a whole chunk
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, desc=label,
               disable=None if progress else True, leave=False)  # fmt: skip
    with bar:
        while True:
            try:
                chunk = read(_CHUNK)
            except Exception as exc:  # connection reset, timeout, IncompleteRead, ...
                raise DownloadError(_cut(url, got, total, exc, pace)) from None
            if not chunk:
                break
            try:
                out.write(chunk)
            except OSError as exc:
                raise DownloadError(f"cannot save {url} in {folder}: {exc.strerror or exc}") from None
            got += len(chunk)
            bar.update(len(chunk))
            pace.check(got, total)
    if total is not None and got != total:
        raise DownloadError(
            f"download of {url} is incomplete: {got} of {total} bytes arrived before the connection closed; "
            "nothing was saved"
        )


def _cut(url: str, got: int, total: int | None, exc: Exception, pace: _Pace) -> str:
    """The message of a download cut by ``exc`` after ``got`` bytes of the body."""
    if isinstance(exc, TimeoutError):
        return (f"download of {url} stalled: nothing arrived for {pace.grace:g} s after {_bytes(got, total)} "
                f"({pace.elapsed():.1f} s in all); nothing was saved")  # fmt: skip
    return f"download of {url} was cut after {_bytes(got, total)} ({type(exc).__name__}: {exc}); nothing was saved"


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
