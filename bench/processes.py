"""Child processes that never outlive their parent.

:func:`die_with_parent` asks the kernel to SIGKILL the calling process when its parent dies (Linux's
``PR_SET_PDEATHSIG``; elsewhere it does nothing). The measuring workers call it, and so do the
programs that command-line codecs start (``preexec_fn``), so a killed ``bench run`` leaves nothing
running behind it.
"""

from __future__ import annotations

import signal
import sys

__all__ = ["die_with_parent"]

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
