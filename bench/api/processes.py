"""Processes: children that never outlive their parent, and SIGTERM taken as Ctrl-C.

:func:`die_with_parent` asks the kernel to SIGKILL the calling process when its parent dies (Linux's
``PR_SET_PDEATHSIG``; elsewhere it does nothing). The local workers' fork server calls it, and so do
the processes it forks (:mod:`bench.executors.fork_server`), the programs that metrics and ``bench
verify`` start (:func:`run_program`, ``preexec_fn``) and the helper that starts command-line codecs'
programs (:mod:`bench.api.spawner`, whose programs die with it), so a killed ``bench run`` or
``bench score`` leaves nothing running behind it. :func:`run_program` runs such a program to completion
with a time limit, and :func:`one_line` makes its output fit a one-line error message. :func:`catch_sigterm` makes the SIGTERM that
``timeout``, Slurm and Docker send end a run or a scoring as Ctrl-C does (what was measured is kept,
workers are ended).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Callable

__all__ = [
    "die_with_parent",
    "one_line",
    "run_program",
    "start_program",
    "catch_sigterm",
    "restore_sigterm",
    "Terminated",
]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """SIGKILL this process when its parent dies (Linux; elsewhere nothing).

    ``parent``: the pid the parent should have; when this process has another one already (the parent
    died before the kernel was asked, and the process was handed to another), it exits at once.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:  # too late: the parent is gone
        os._exit(1)


def one_line(text: str, limit: int = 300) -> str:
    """``text``'s non-empty lines joined by `` | `` (its last ``limit`` characters), or ``(no output)``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " | ".join(lines) or "(no output)"
    return joined if len(joined) <= limit else "..." + joined[-limit:]


def run_program(
    args: list[str], *, name: str, timeout_s: float, error: Callable[[str], Exception], cwd: str | None = None
) -> subprocess.CompletedProcess:
    """Run the program ``args[0]`` (called ``name`` in messages) to completion: text output captured, no
    input, killed with its parent; ``error(message)`` is raised when it cannot start or runs past
    ``timeout_s`` seconds. Its exit status is the caller's to judge."""
    try:
        return subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=timeout_s, cwd=cwd,
                              check=False, stdin=subprocess.DEVNULL,
                              preexec_fn=die_with_parent if os.name == "posix" else None)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise error(f"{name} did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise error(f"{name} could not be started ({args[0]}): {exc}") from None


def start_program(args: list[str], *, name: str, error: Callable[[str], Exception], stdout, stderr) -> subprocess.Popen:
    """Start the program ``args[0]`` (``name`` in messages) without waiting for it: no input, its output into the
    open files ``stdout`` and ``stderr``, killed with its parent; ``error(message)`` is raised when it cannot start.
    For programs run side by side (:func:`run_program` runs one to completion)."""
    try:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                preexec_fn=die_with_parent if os.name == "posix" else None)  # fmt: skip
    except OSError as exc:
        raise error(f"{name} could not be started ({args[0]}): {exc}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout``, Slurm and Docker send), handled like Ctrl-C."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def catch_sigterm():
    """Handle SIGTERM like Ctrl-C (:class:`Terminated`, a ``KeyboardInterrupt``) from now on, in the
    main thread only; returns the previous handler, for :func:`restore_sigterm`."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def restore_sigterm(previous) -> None:
    """Put back the SIGTERM handler :func:`catch_sigterm` replaced."""
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
