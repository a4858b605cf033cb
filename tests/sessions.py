"""Watching the processes of a process session (Linux ``/proc``): what a killed command left behind."""

from __future__ import annotations

import time
from pathlib import Path


def session_processes(sid: int) -> list[int]:
    """Processes of session ``sid`` still alive (zombies aside)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_until_gone(sid: int, seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and session_processes(sid):
        time.sleep(0.1)
    return session_processes(sid)
