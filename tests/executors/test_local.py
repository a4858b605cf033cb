"""The local executor (bench/executors/local.py): no process it starts outlives a `kill -9` of the command,
whatever its workers are doing (hanging in Python, or in native code that holds the GIL), for `bench run`
and `bench score` alike; and it starts no more workers than there are tasks."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.api.executor import run_tasks
from bench.api.records import Record
from bench.api.task import MeasureOptions, Task
from bench.executors.local import LocalExecutor
from conftest import data_root, quiet_run, write_synthetic_images
from sessions import session_processes, wait_until_gone

#: JPEG, except that while $HANG_ENCODE (or $HANG_DECODE) names a folder, encoding (decoding) leaves a
#: file there named after its process and hangs: encoding in native code holding the GIL (a C call
#: through ctypes.PyDLL), decoding in a Python loop at 100% CPU.
HANGING = """
import ctypes, io, os
from pathlib import Path
import numpy as np
from PIL import Image
from bench.api.codec import Codec, Knob, register_codec


def hang_if(variable, hang):
    folder = os.environ.get(variable)
    if folder:
        Path(folder, str(os.getpid())).touch()
        hang()


def spin():
    while True:
        pass


@register_codec
class Hanging(Codec):
    name = "hanging"
    knob = Knob("quality", 1, 100, (50,))

    def encode(self, image, quality):
        hang_if("HANG_ENCODE", lambda: ctypes.PyDLL(None).sleep(3600))
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
        return buf.getvalue()

    def decode(self, data):
        hang_if("HANG_DECODE", spin)
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def settings(self):
        return {}

    def versions(self):
        return {"test": "1"}
"""

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def hanging(tmp_path) -> Path:
    plugin = tmp_path / "hanging.py"
    plugin.write_text(HANGING)
    return plugin


def kill_once_hung(args: list[str], variable: str, hung: Path, workers: int) -> int:
    """Start ``bench ARGS`` in a session of its own with ``$variable`` naming the folder ``hung``; once
    ``workers`` workers hang there, SIGKILL its main process (only); returns the session's id."""
    hung.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "BENCH_DATA": str(data_root()), variable: str(hung)})  # fmt: skip
    deadline = time.monotonic() + 90
    while len(list(hung.iterdir())) < workers and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(hung.iterdir())) == workers, "the workers must hang before the command is killed"
    assert len(session_processes(proc.pid)) >= 2 + workers  # bench, its fork server, the workers (a resource tracker)
    os.kill(proc.pid, signal.SIGKILL)  # the main process only, as the OOM killer or a batch system's kill does
    proc.wait(30)
    return proc.pid


@linux_only
def test_a_killed_bench_run_leaves_no_process_while_its_workers_hang_in_native_code(tmp_path, hanging):
    images = write_synthetic_images(tmp_path / "images", 2)
    args = ["run", "--dataset", str(images), "--plugin", str(hanging), "--codec", "hanging", "--out",
            str(tmp_path / "r"), "-j", "2", "--no-report", "--no-progress"]  # fmt: skip
    session = kill_once_hung(args, "HANG_ENCODE", tmp_path / "hung", workers=2)
    assert wait_until_gone(session, 5) == []


@linux_only
def test_a_killed_bench_score_leaves_no_process_while_its_workers_spin(tmp_path, hanging):
    images = write_synthetic_images(tmp_path / "images", 2)
    run = tmp_path / "r"
    made = quiet_run(dataset=str(images), codecs=("hanging",), plugins=(str(hanging),), metrics=("psnr_rgb",),
                     save_bitstreams=True, out=run)  # fmt: skip
    assert made.ok and len(made.records) == 2
    args = ["score", str(run), "--metrics", "psnr_y", "--plugin", str(hanging), "-j", "2", "--no-report",
            "--no-progress"]  # fmt: skip
    session = kill_once_hung(args, "HANG_DECODE", tmp_path / "hung", workers=2)
    assert wait_until_gone(session, 5) == []


def test_no_more_workers_start_than_there_are_tasks(tmp_path):
    source = tmp_path / "image.npy"
    np.save(source, np.zeros((16, 16, 3), np.uint8))
    with LocalExecutor(MeasureOptions(metrics=("psnr_rgb",)), jobs=4) as executor:
        (result,) = run_tasks(executor, [Task("jpeg", 50, "image", source=str(source))])
        workers = [p for p in multiprocessing.active_children() if p.name == "codec-bench worker"]
    assert isinstance(result, Record) and len(workers) == 1
