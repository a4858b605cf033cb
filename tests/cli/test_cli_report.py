"""What `bench report` (bench/cli/report.py) prints and its exit status: interrupted, warnings, errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

#: Runs `bench report` in a fresh process whose make_report receives a signal while it writes.
SIGNALLED = """
import os, signal, time
import bench.report.writer as writer

def make_report(config):
    (config.out / "bd_rate.csv").parent.mkdir(parents=True, exist_ok=True)
    os.kill(os.getpid(), signal.{signal})
    time.sleep(5)

writer.make_report = make_report
from bench.cli import main
raise SystemExit(main(["report", "--reference", "x.json", "--out", {out!r}]))
"""


@pytest.mark.parametrize(
    "signal, status, how", [("SIGTERM", 143, "terminated (SIGTERM)"), ("SIGINT", 130, "interrupted")]
)
def test_a_signal_while_reporting_says_what_is_left_and_exits_with_the_conventional_status(tmp_path, signal, status,
                                                                                             how):  # fmt: skip
    out = tmp_path / "rep"
    script = textwrap.dedent(SIGNALLED).format(signal=signal, out=str(out))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"bench report: {how} before the report was complete: the files in {out} are each whole")
    assert lines[0].endswith("run the same command again")
