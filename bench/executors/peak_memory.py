"""The peak resident memory of the measuring process during one call (Linux).

Linux keeps each process's peak resident set size (``VmHWM`` in ``/proc/self/status``) and resets it
to the current resident size when ``5`` is written to ``/proc/self/clear_refs`` (kernel 4.0 and
later). :class:`PeakMemory` resets it just before a codec's call and reads it just after, so the value
is the highest resident memory of the whole process (the images, the models, the libraries and what
the call allocated) at any moment of that call, in MiB (2^20 bytes). Linux's resident-size counters
are kept per CPU and lag by a few pages, so a peak read just after a call that freed memory can come out a
little below the size read at its start: the measuring code takes the peak as at least that start
(:meth:`bench.executors.measure.Measurer._timed`). Each reset or read costs some
tens of microseconds (``tests/perf/memory_probe_overhead.py`` measures it against a JPEG measurement).

Elsewhere (macOS, Windows, a kernel that refuses the reset) :attr:`PeakMemory.available` is false and
:meth:`PeakMemory.read_mb` gives ``None``: the peak since the process started could only overstate it.
The peak of a codec's *program* (a command-line codec) is measured from the program itself
(:func:`bench.api.spawner.run_measured`).
"""

from __future__ import annotations

import os
import sys

__all__ = ["PeakMemory"]

_KIB_PER_MIB = 1024.0


class PeakMemory:
    """Resets and reads this process's peak resident memory (see the module docstring). The files are
    opened on first use in the process that uses them (a forked worker opens its own)."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._clear: int | None = None
        self._status: int | None = None
        self._available: bool | None = None

    def _close(self) -> None:
        for fd in (self._clear, self._status):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._clear = self._status = None

    def _open(self) -> bool:
        if self._pid == os.getpid():
            return bool(self._available)
        self._close()  # inherited from the process this one was forked from: that process's files
        self._pid, self._available = os.getpid(), False
        if not sys.platform.startswith("linux"):
            return False
        try:
            self._clear = os.open("/proc/self/clear_refs", os.O_WRONLY | os.O_CLOEXEC)
            self._status = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
            os.write(self._clear, b"5")
            self._available = self._read_kib() is not None
        except (OSError, ValueError):
            self._close()
        return self._available

    @property
    def available(self) -> bool:
        """Whether this system lets the peak be reset and read."""
        return self._open()

    def reset(self) -> float | None:
        """Make the peak the current resident memory and return that, in MiB (``None`` where not available)."""
        if not self._open():
            return None
        os.write(self._clear, b"5")
        kib = self._read_kib()
        return None if kib is None else kib / _KIB_PER_MIB

    def _read_kib(self) -> int | None:
        text = os.pread(self._status, 8192, 0)
        start = text.find(b"VmHWM:")
        if start < 0:
            return None
        return int(text[start + 6 : text.index(b"kB", start)])

    def read_mb(self) -> float | None:
        """The peak resident memory since the last :meth:`reset`, in MiB; ``None`` where not available."""
        if not self._open():
            return None
        kib = self._read_kib()
        return None if kib is None else kib / _KIB_PER_MIB
