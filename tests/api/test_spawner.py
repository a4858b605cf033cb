"""Programs started through the helper (bench/api/spawner.py): their own peak memory, not the caller's; exit status
and output; time limits, Ctrl-C and a killed caller leave no program behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.api.spawner import run_measured

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper is Linux-only")

ALLOCATE_300_MIB = "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"


def _gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether process ``pid`` has ended (or is a zombie) within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def test_the_peak_is_the_programs_own_not_the_callers():
    held = bytearray(600 * 2**20)  # the caller holds 600 MiB...
    held[::4096] = b"x" * len(held[::4096])
    # ...which wait4 on a program started directly from this process would report as the program's peak
    direct = subprocess.Popen(["/bin/true"])
    _, _, usage = os.wait4(direct.pid, 0)
    direct.returncode = 0
    assert usage.ru_maxrss / 1024 > 550
    small = run_measured(["/bin/true"], timeout_s=30)
    assert small.returncode == 0 and small.peak_rss_mb <= small.floor_mb < 64
    big = run_measured([sys.executable, "-c", ALLOCATE_300_MIB], timeout_s=60)
    assert big.returncode == 0 and 300 < big.peak_rss_mb < 400
    del held


def test_exit_status_and_output_are_the_programs(tmp_path):
    run = run_measured(["/bin/sh", "-c", "pwd; echo oops >&2; exit 3"], timeout_s=30, cwd=str(tmp_path))
    assert (run.returncode, run.stdout, run.stderr) == (3, f"{tmp_path}\n".encode(), b"oops\n")
    with pytest.raises(OSError, match="cannot start /no/such/program"):
        run_measured(["/no/such/program"], timeout_s=30)
    assert run_measured(["/bin/true"], timeout_s=30).returncode == 0  # the helper goes on after a failure


def test_a_program_gets_what_subprocess_would_give_it(tmp_path, monkeypatch):
    run_measured(["/bin/true"], timeout_s=30)  # the helper exists before the caller's environment changes
    monkeypatch.setenv("CODEC_BENCH_TEST_VALUE", "set after the helper started")
    monkeypatch.chdir(tmp_path)
    run = run_measured([Path("/bin/sh"), b"-c", "echo $CODEC_BENCH_TEST_VALUE; pwd; grep SigIgn /proc/self/status"],
                       timeout_s=30)  # fmt: skip
    value, cwd, ignored = run.stdout.decode().splitlines()
    assert value == "set after the helper started" and cwd == str(tmp_path)
    assert int(ignored.split()[1], 16) & (1 << (signal.SIGPIPE - 1)) == 0  # SIGPIPE not ignored (Python ignores it)


def test_a_program_past_its_time_limit_is_killed(tmp_path):
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_measured(["/bin/sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"], timeout_s=0.5)
    assert time.monotonic() - start < 10
    assert _gone(int(pid_file.read_text()))


def test_ctrl_c_while_waiting_kills_the_program(tmp_path):
    pid_file = tmp_path / "pid"

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_measured(["/bin/sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"], timeout_s=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(int(pid_file.read_text()))
    assert run_measured(["/bin/true"], timeout_s=30).returncode == 0  # a new helper serves the next call


def test_a_killed_caller_leaves_no_program_behind(tmp_path):
    pid_file = tmp_path / "pid"
    caller = subprocess.Popen([sys.executable, "-c", (
        "from bench.api.spawner import run_measured\n"
        f"run_measured(['/bin/sh', '-c', 'echo $$ > {pid_file}; exec sleep 60'], timeout_s=120)\n"
    )])  # fmt: skip
    deadline = time.monotonic() + 30
    while not (pid_file.is_file() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    caller.kill()
    caller.wait()
    assert _gone(int(pid_file.read_text()))
