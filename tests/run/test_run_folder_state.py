"""What a run folder says about the invocations that wrote it, and options refused before anything runs
(bench/run/folder.py, bench/run/runner.py, bench/run/config.py).

``run.json`` lists every invocation with what it measured. One killed with ``kill -9`` cannot write its
end, but each result it committed also committed its counts: the next invocation into the folder says it
ended without finishing and records it ``unfinished`` with those counts.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import bench_cli, data_root, write_synthetic_images

#: jpeg, except that quality 90 takes two minutes: a run of 10,20,90 stops after two records.
STALLING_PLUGIN = """
import time

from bench.api.codec import register_codec
from bench_codecs.jpeg import JpegCodec


@register_codec
class Stalling(JpegCodec):
    name = "stalling"

    def encode(self, image, quality):
        if quality >= 90:
            time.sleep(120)
        return super().encode(image, quality)
"""


def stored_records(store: Path) -> int:
    """The records committed to ``store`` (0 before it has any)."""
    if not store.is_file():
        return 0
    db = sqlite3.connect(store, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def test_an_invocation_killed_after_committing_rows_is_recorded_unfinished_with_its_real_count(tmp_path):
    images = write_synthetic_images(tmp_path / "images", 1)
    plugin = tmp_path / "stalling.py"
    plugin.write_text(STALLING_PLUGIN)
    out = tmp_path / "run"
    args = ["run", "--dataset", str(images), "--plugin", str(plugin), "--codec", "stalling", "-j", "1",
            "--metrics", "psnr_rgb", "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args, "--quality", "10,20,90"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "BENCH_DATA": str(data_root())})  # fmt: skip
    deadline = time.monotonic() + 120
    while stored_records(out / "store.sqlite") < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert stored_records(out / "store.sqlite") == 2

    again = bench_cli(*args, "--quality", "10,20")  # measures nothing: both are stored
    assert again.returncode == 0, again.stderr
    killed, last = json.loads((out / "run.json").read_text())["invocations"]
    assert (killed["status"], killed["measured"], killed["failed"]) == ("unfinished", 2, 0)
    assert (last["status"], last["measured"]) == ("complete", 0)
    assert f"the run started {killed['started']} into {out} ended without finishing (killed?): it stored 2 " \
           "measurements and 0 failures, which are kept" in again.stdout  # fmt: skip


def test_a_target_tolerance_without_target_rates_is_refused_with_one_line(tmp_path):
    done = bench_cli("run", "--dataset", str(write_synthetic_images(tmp_path / "images", 1)), "--codec", "jpeg",
                     "--quality", "50", "--target-tolerance", "0.15", "--out", str(tmp_path / "run"))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "bench run: --target-tolerance is the tolerance of rate matching: give it with --target-bpp, or leave it "
        "out (a sweep of --quality values has no target to reach)"
    )
    assert not (tmp_path / "run").exists()
