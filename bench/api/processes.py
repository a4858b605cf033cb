"""Child processes that never outlive their parent.

:func:`die_with_parent` asks the kernel to SIGKILL the calling process when its parent dies (Linux's
``PR_SET_PDEATHSIG``; elsewhere it does nothing). The measuring workers call it, and so do the
programs that command-line codecs start (``preexec_fn``), so a killed ``bench run`` leaves nothing
running behind it. :func:`run_program` runs such a program to completion with a time limit, and
:func:`one_line` makes its output fit a one-line error message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Callable

__all__ = ["die_with_parent", "one_line", "run_program"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


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
