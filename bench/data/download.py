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
* ``offline=True`` refuses at once (``--offline``: nothing is fetched, nothing is created);
* ``resume=True`` (large archives: :func:`bench.data.datasets.resolve_dataset`) keeps what arrived in
  ``<dest>.part`` instead of a temporary file, so that an interrupted download (a cut connection, a
  stall, Ctrl-C, SIGTERM) goes on where it stopped the next time: it asks for the rest with an HTTP
  ``Range: bytes=N-`` request and appends the answer when the server sends ``206 Partial Content``
  from byte N, or starts again when it sends the whole file (``200``). The ``.part`` file is locked
  while it grows (two processes never append to it at once), is dropped when it is longer than the
  announced ``size`` or when the whole file fails its hash check, and becomes ``dest`` only once
  complete and checked: a ``dest`` that exists is always whole.

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
    "download_first",
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
    ``~/.cache/torch/hub/checkpoints``), where torchvision keeps its files too. Found as ``torch.hub.get_dir``
    finds it, without importing torch where it is not imported yet (then nothing can have moved it with
    ``torch.hub.set_dir``)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return Path(torch.hub.get_dir()) / "checkpoints"
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub" / "checkpoints"


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
    resume: bool = False,
    size: int | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (its folder is created) and return ``dest``.

    ``sha256``: the expected sha256 or a prefix of it (hex); by default the prefix ``dest``'s name
    carries (:func:`hash_prefix`), and no check when it carries none. ``timeout``: longest wait for
    the server, seconds; ``deadline`` (seconds) and ``min_rate`` (bytes per second, averaged once
    ``timeout`` seconds have passed): by default ``$BENCH_DOWNLOAD_DEADLINE`` and
    ``$BENCH_DOWNLOAD_MIN_RATE``, else :data:`DOWNLOAD_DEADLINE_S` and :data:`DOWNLOAD_MIN_RATE`; 0: no
    limit. ``progress``: show a progress bar on stderr (only when stderr is a terminal), labelled
    ``desc`` (default: the file name). ``offline``: refuse without touching the network or the disk.
    ``resume``: keep an unfinished download in ``<dest>.part`` and go on from it (see the module
    docstring); ``size``: the file's size in bytes when known (checked, and a longer ``.part`` dropped).
    Raises :class:`DownloadError`; ``dest`` then stays as it was and no temporary file is left (nor
    after Ctrl-C or SIGTERM), except the ``.part`` file of a resumable download.
    """
    if offline:
        raise DownloadError(f"not downloading {url}: downloading is switched off (--offline)")
    dest = Path(dest)
    expected = (sha256 if sha256 is not None else hash_prefix(dest.name) or "").lower()
    pace = _Pace(url, timeout, _limit(deadline, DEADLINE_ENV, DOWNLOAD_DEADLINE_S, url),
                 _limit(min_rate, MIN_RATE_ENV, DOWNLOAD_MIN_RATE, url))  # fmt: skip
    said = "the hash in its file name" if sha256 is None else "the expected sha256"
    if resume:
        return _download_resuming(url, dest, expected, said, size, pace, progress, desc or dest.name, timeout)

    def fetch(tmp: Path) -> None:
        with open(tmp, "wb") as out, _open(url, timeout) as response:
            _stream(response, out, pace, dest.parent, desc or dest.name, progress)
        if size is not None and tmp.stat().st_size != size:
            raise DownloadError(f"download of {url} has {tmp.stat().st_size} bytes, not the {size} expected; "
                                "nothing was saved")  # fmt: skip
        if expected:
            _check_sha256(tmp, expected, url, said)

    try:
        with _sigterm_removes_temporary():
            atomic_write(dest, fetch)
    except OSError as exc:  # the folder or file cannot be made, written or renamed (network errors: DownloadError)
        raise DownloadError(f"cannot save {url} in {dest.parent}: {exc.strerror or exc}") from None
    return dest


def download_first(urls: list[str], dest: str | Path, **options) -> Path:
    """:func:`download_file` from the first of ``urls`` that gives the file (mirrors in order of
    preference); :class:`DownloadError` naming every URL tried and why each failed."""
    failures = []
    for url in urls:
        try:
            return download_file(url, dest, **options)
        except DownloadError as exc:
            if options.get("offline"):
                raise
            failures.append(str(exc))
    if len(failures) == 1:
        raise DownloadError(failures[0])
    raise DownloadError(f"no source gave {Path(dest).name}: " + " | ".join(failures))


def _download_resuming(url: str, dest: Path, expected: str, said: str, size: int | None, pace: _Pace,
                       progress: bool, label: str, timeout: float) -> Path:  # fmt: skip
    """:func:`download_file` with ``resume=True``: grow ``<dest>.part`` (locked) from where it stopped,
    check it whole, then rename it to ``dest``."""
    import fcntl

    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = open(part, "a+b")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise DownloadError(f"cannot save {url} in {dest.parent}: {exc.strerror or exc}") from None
    with out:
        fcntl.flock(out, fcntl.LOCK_EX)  # another process growing the same file: wait for it
        if not part.exists() or os.stat(part).st_ino != os.fstat(out.fileno()).st_ino:
            if dest.is_file():  # the other process finished it (checked, renamed) while this one waited
                return dest
            out.close()
            return _download_resuming(url, dest, expected, said, size, pace, progress, label, timeout)
        have = out.seek(0, os.SEEK_END)
        if size is not None and have > size:
            out.truncate(0)
            have = 0
        if size is None or have < size:
            try:
                _resume_into(out, url, have, pace, dest.parent, label, progress, timeout)
            except DownloadError as exc:
                kept = out.seek(0, os.SEEK_END)
                if not kept:
                    part.unlink(missing_ok=True)
                    raise
                raise DownloadError(
                    str(exc).replace(
                        "nothing was saved", f"{kept} bytes kept in {part}: the next try goes on from there"
                    )
                ) from None
        got = out.seek(0, os.SEEK_END)
        try:
            if size is not None and got != size:
                raise DownloadError(f"download of {url} has {got} bytes, not the {size} expected: a different or "
                                    "damaged file; nothing was saved")  # fmt: skip
            out.flush()
            if expected:
                _check_sha256(part, expected, url, said)
        except DownloadError:
            part.unlink(missing_ok=True)  # the next try starts afresh
            raise
        os.replace(part, dest)
    return dest


def _resume_into(out: BinaryIO, url: str, have: int, pace: _Pace, folder: Path, label: str, progress: bool,
                 timeout: float) -> None:  # fmt: skip
    """Append the rest of ``url`` from byte ``have`` to ``out`` (a ``Range`` request), or all of it
    again when the server answers with the whole file."""
    try:
        response = _open(url, timeout, {"Range": f"bytes={have}-"} if have else {})
    except DownloadError as exc:
        if not (have and "HTTP 416" in str(exc)):  # 416: no bytes after `have` (the file is shorter)
            raise
        out.truncate(0)
        have = 0
        response = _open(url, timeout)
    with response:
        status = getattr(response, "status", 200)
        content_range = response.headers.get("Content-Range", "")
        if have and not (status == 206 and content_range.startswith(f"bytes {have}-")):
            out.truncate(0)  # the server sent the whole file: start again
            have = 0
        _stream(response, out, pace, folder, label, progress, start=have)


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


def _open(url: str, timeout: float, headers: dict[str, str] | None = None):
    """The server's response to ``url`` (a context manager), or :class:`DownloadError` saying why not."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (URLs of the caller)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"cannot download {url}: {type(exc).__name__}: {exc}") from None


def _stream(response, out: BinaryIO, pace: _Pace, folder: Path, label: str, progress: bool, start: int = 0) -> None:
    """Copy the body of ``response`` into ``out`` as it arrives, with a progress bar labelled ``label``
    (``start``: bytes of the file already in ``out``, for the bar); :class:`DownloadError` when the
    connection is cut or stalls, fewer bytes than announced arrive, or ``pace`` refuses the time it takes."""
    from tqdm import tqdm

    url = pace.url
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    got = 0
    read = getattr(response, "read1", response.read)  # what has arrived, without waiting for a whole chunk
    bar = tqdm(total=None if total is None else start + total, initial=start, unit="B", unit_scale=True,
               unit_divisor=1024, file=sys.stderr, desc=label, disable=None if progress else True, leave=False)  # fmt: skip
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
