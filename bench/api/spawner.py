"""Run codecs' programs from a small helper process, and measure each program's peak resident memory.

**Why a helper.** ``wait4`` gives a finished child's peak resident memory (``ru_maxrss``), but Linux
counts in it the pages of the process the program was started from: at ``exec`` the kernel records
the peak of the memory being replaced, which for a program started by a measuring worker (a Python
process holding images, libraries and models: hundreds of MiB) is the worker's own memory (measured:
``/bin/true`` started from a 530 MiB process reports 530 MiB, with ``fork`` and ``vfork`` alike). So
each measuring process starts one small helper (``python -I -S``, standard library only) once, and
asks it to start every program: the helper forks, the child execs the program, the helper reaps it
with ``wait4`` and replies with its exit status and ``ru_maxrss``. The program's peak then includes
at most the helper's own resident memory at the fork (about 10 MiB), which the reply also gives
(``floor_mb``): a peak not above it means "at most that much".

Each program gets what ``subprocess`` would give it: the caller's environment and working directory at
the call, no input, SIGPIPE and SIGXFSZ at their defaults. The helper dies with the thread that
started it (``PR_SET_PDEATHSIG``: the measuring process's main thread) and when its input closes (the
process ended); every program it starts dies with the helper (so with a killed worker); a program
that runs past its time limit is killed by the helper (``SIGKILL``); when the caller's wait is
interrupted (an exception in the caller: Ctrl-C in a command that measures in its own process), the
caller kills the helper and so the program. Linux only (``/proc`` and ``prctl``); elsewhere
:func:`run_measured` runs the program directly and gives no peak.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bench.api.processes import die_with_parent

__all__ = ["MeasuredRun", "run_measured"]

#: Seconds the caller waits beyond a program's time limit for the helper's reply before giving up on it.
_REPLY_GRACE_S = 30.0

_HELPER = r"""
import ctypes, json, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
helper = os.getpid()
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the program itself; the caller handles it
state = {"child": 0, "killed": False}


def on_alarm(signum, frame):
    if state["child"]:  # not reaped yet (waitid WNOWAIT below): the pid is still the program's
        os.kill(state["child"], signal.SIGKILL)
        state["killed"] = True


def peak_kib():
    with open("/proc/self/status", "rb") as fh:
        text = fh.read()
    start = text.find(b"VmHWM:")
    return int(text[start + 6 : text.index(b"kB", start)]) if start >= 0 else 0


def start(req):
    for signum in (signal.SIGINT, signal.SIGALRM, signal.SIGPIPE, signal.SIGXFSZ):  # as subprocess restores them
        signal.signal(signum, signal.SIG_DFL)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the program dies with the helper
    if os.getppid() != helper:
        os._exit(1)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(req["stdout"], os.O_WRONLY | os.O_TRUNC)
    err = os.open(req["stderr"], os.O_WRONLY | os.O_TRUNC)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
    os.chdir(req["cwd"])
    os.execve(req["args"][0], req["args"], req["env"])


signal.signal(signal.SIGALRM, on_alarm)
for line in sys.stdin:
    req = json.loads(line)
    floor = peak_kib()
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            start(req)
        except BaseException as exc:
            os.write(write_end, repr(exc).encode())
        os._exit(127)
    os.close(write_end)
    failed = b""
    while chunk := os.read(read_end, 4096):  # closed by a successful exec (close-on-exec)
        failed += chunk
    os.close(read_end)
    state["child"], state["killed"] = pid, False
    signal.setitimer(signal.ITIMER_REAL, req["timeout_s"])
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a late alarm kills a zombie
    signal.setitimer(signal.ITIMER_REAL, 0)
    state["child"] = 0
    _, status, usage = os.wait4(pid, 0)
    reply = {"status": status, "maxrss_kib": usage.ru_maxrss, "floor_kib": floor, "killed": state["killed"],
             "failed": failed.decode(errors="replace")}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
"""


@dataclass(frozen=True)
class MeasuredRun:
    """A finished program: its exit status, its output, its peak resident memory in MiB (2^20 bytes;
    ``None`` where not measured) and ``floor_mb``, the helper's memory the peak can include (a peak not
    above it means at most that much)."""

    returncode: int
    stdout: bytes
    stderr: bytes
    peak_rss_mb: float | None
    floor_mb: float | None = None


class _Helper:
    """The helper process of one measuring process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )
        self.lock = threading.Lock()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def ask(self, request: dict, wait_s: float) -> dict:
        """Send ``request``, return the reply; kill the helper (and its program) when no reply comes
        within ``wait_s`` seconds or the wait is interrupted."""
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            poller = select.poll()
            poller.register(self.proc.stdout, select.POLLIN)
            line = self.proc.stdout.readline() if poller.poll(wait_s * 1000) else ""
        except BaseException:
            self.kill()
            raise
        if not line:
            self.kill()
            raise OSError("the program-starting helper process stopped answering")
        return json.loads(line)


_helpers: dict[int, _Helper] = {}  # the helper of each process (by pid: a forked worker starts its own)


_helpers_lock = threading.Lock()


def _helper() -> _Helper:
    with _helpers_lock:
        helper = _helpers.get(os.getpid())
        if helper is None or helper.proc.poll() is not None:
            helper = _helpers[os.getpid()] = _Helper()
        return helper


def _run_directly(args: Sequence[str | bytes | os.PathLike], timeout_s: float, cwd: str | None) -> MeasuredRun:
    proc = subprocess.run(args, capture_output=True, timeout=timeout_s, cwd=cwd, check=False,
                          stdin=subprocess.DEVNULL,
                          preexec_fn=die_with_parent if os.name == "posix" else None)  # fmt: skip
    return MeasuredRun(proc.returncode, proc.stdout, proc.stderr, None)


def run_measured(args: Sequence[str | bytes | os.PathLike], *, timeout_s: float, cwd: str | None = None) -> MeasuredRun:
    """Run the program ``args[0]`` (an absolute path) with no input to completion through this process's
    helper (the module docstring) and measure its peak resident memory. Raises
    :class:`subprocess.TimeoutExpired` when it ran past ``timeout_s`` seconds (it was killed) and
    :class:`OSError` when it could not be started."""
    if not sys.platform.startswith("linux"):
        return _run_directly(args, timeout_s, cwd)
    with tempfile.TemporaryDirectory(prefix="codec-bench-output-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        out.touch()
        err.touch()
        helper = _helper()
        request = {
            "args": [os.fsdecode(arg) for arg in args],  # str, bytes or paths, as subprocess takes them
            "cwd": os.fsdecode(cwd) if cwd is not None else os.getcwd(),
            "env": dict(os.environ),  # the caller's, now (not the helper's, from when it started)
            "timeout_s": timeout_s,
            "stdout": str(out),
            "stderr": str(err),
        }
        with helper.lock:
            reply = helper.ask(request, timeout_s + _REPLY_GRACE_S)
        if reply["failed"]:
            raise OSError(f"cannot start {args[0]}: {reply['failed']}")
        if reply["killed"]:
            raise subprocess.TimeoutExpired(args, timeout_s)
        return MeasuredRun(
            returncode=os.waitstatus_to_exitcode(reply["status"]),
            stdout=out.read_bytes(),
            stderr=err.read_bytes(),
            peak_rss_mb=reply["maxrss_kib"] / 1024,
            floor_mb=reply["floor_kib"] / 1024,
        )
