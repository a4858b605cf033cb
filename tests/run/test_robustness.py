"""A run (bench/run/runner.py) survives what codecs, users and machines do to it: hangs, exits, crashes,
kills, two writers, cheating decoders, full disks; and says exactly what happened."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.run.runner import RunConfig, run
from conftest import bench_cli, data_root, read_csv
from sessions import session_processes, wait_until_gone

PLUGINS = '''
import ctypes, io, os, sys, time
import numpy as np
from PIL import Image
from bench.api.codec import Codec, Knob, register_codec


def jpeg(image, quality):
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
    return buf.getvalue()


class Base(Codec):
    knob = Knob("quality", 1, 100, (40, 80))
    def decode(self, data): return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    def settings(self): return {}
    def versions(self): return {"test": "1"}


@register_codec
class Hangs(Base):
    """Hangs in Python on 200-row images, in native code on 190-row images."""
    name = "hangs"
    def encode(self, image, quality):
        if image.shape[0] == 200:
            time.sleep(10000)
        if image.shape[0] == 190:
            ctypes.CDLL(None).sleep(10000)
        return jpeg(image, quality)


@register_codec
class Exits(Base):
    """sys.exit on 200-row images, KeyboardInterrupt on 210-row ones, numpy statistics on 220-row ones."""
    name = "exits"
    def encode(self, image, quality):
        self.rows = image.shape[0]
        if image.shape[0] == 200:
            sys.exit(3)
        if image.shape[0] == 210:
            raise KeyboardInterrupt
        return jpeg(image, quality)
    def last_stats(self):
        return {"peak": np.float32(1.5)} if getattr(self, "rows", 0) == 220 else {}


_LAST = {}


@register_codec
class Cheats(Base):
    """Returns 4 bytes and decodes from what encode left in a module global."""
    name = "cheats"
    def encode(self, image, quality):
        _LAST["image"] = image.copy()
        return b"1234"
    def decode(self, data):
        return _LAST["image"]


@register_codec
class Wobbles(Base):
    """Real JPEG files with a comment that counts the encodes: repeated encodes always differ."""
    name = "wobbles"
    encodes = 0
    def encode(self, image, quality):
        Wobbles.encodes += 1
        data = jpeg(image, quality)
        return data[:2] + b"\\xff\\xfe\\x00\\x04" + bytes([Wobbles.encodes % 256, 7]) + data[2:]


@register_codec
class Slow(Base):
    """JPEG after a second of sleep."""
    name = "slow"
    def encode(self, image, quality):
        time.sleep(1)
        return jpeg(image, quality)
'''


@pytest.fixture
def plugin(tmp_path) -> str:
    path = tmp_path / "plugins.py"
    path.write_text(textwrap.dedent(PLUGINS))
    return str(path)


def add_image(folder: Path, name: str, height: int) -> None:
    pixels = np.random.default_rng(height).integers(0, 256, (height, 256, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / name)


def test_a_hanging_codec_times_out_and_a_rerun_does_not_hang_again(tmp_path, small_dataset, plugin):
    add_image(small_dataset, "python-hang.png", 200)
    add_image(small_dataset, "native-hang.png", 190)
    out = tmp_path / "r"
    args = ("run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "hangs", "--quality", "40",
            "--out", str(out), "-j", "2", "--timeout", "4", "--no-report", "--no-progress")  # fmt: skip
    start = time.monotonic()
    first = bench_cli(*args, timeout=120)
    assert first.returncode == 1, first.stderr
    assert time.monotonic() - start < 60
    failures = {f["image"]: f for f in read_csv(out / "failures.csv")}
    assert {name: f["stage"] for name, f in failures.items()} == {
        "python-hang.png": "timeout",
        "native-hang.png": "timeout",
    }
    assert "no result after 4 s" in failures["native-hang.png"]["error"]
    assert len(read_csv(out / "records.csv")) == 4  # the other images were measured
    start = time.monotonic()
    again = bench_cli(*args, timeout=120)
    assert again.returncode == 1 and time.monotonic() - start < 20  # nothing to measure: the timeouts stay
    retried = bench_cli(*args, "--retry-timeouts", timeout=120)
    assert retried.returncode == 1 and "timeout" in retried.stdout


def test_exits_interrupts_and_unserialisable_statistics_fail_only_their_task(tmp_path, small_dataset, plugin):
    add_image(small_dataset, "exit.png", 200)
    add_image(small_dataset, "interrupt.png", 210)
    add_image(small_dataset, "numpy-stats.png", 220)
    report = run(RunConfig(dataset=str(small_dataset), codecs=("exits",), qualities=(40,), out=tmp_path / "r",
                           jobs=2, plugins=(plugin,)), progress=False, echo=lambda text: None)  # fmt: skip
    assert not report.interrupted and not report.broken and len(report.records) == 4
    failures = {f.image: f for f in report.failures}
    assert set(failures) == {"exit.png", "interrupt.png", "numpy-stats.png"}
    assert failures["exit.png"].stage == "encode" and "SystemExit" in failures["exit.png"].error
    assert failures["interrupt.png"].stage == "encode" and "KeyboardInterrupt" in failures["interrupt.png"].error
    assert failures["numpy-stats.png"].stage == "stats" and "JSON-serialisable" in failures["numpy-stats.png"].error


def test_a_decoder_that_does_not_decode_from_the_bytes_is_caught(tmp_path, small_dataset, plugin):
    out = tmp_path / "r"
    result = bench_cli("run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "cheats,jpeg",
                       "--quality", "40", "--out", str(out), "--no-report", "--no-progress")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert {r["codec"] for r in read_csv(out / "records.csv")} == {"jpeg"}
    failures = read_csv(out / "failures.csv")
    assert len(failures) == 4 and {f["stage"] for f in failures} == {"decode-check"}
    assert "does not decode from the bytes alone" in failures[0]["error"]
    assert "FAILED cheats 40" in result.stdout


def test_repeated_encodes_that_differ_are_flagged(tmp_path, small_dataset, plugin):
    report = run(RunConfig(dataset=str(small_dataset), codecs=("wobbles", "jpeg"), qualities=(40,), repeat=2,
                           out=tmp_path / "r", jobs=2, plugins=(plugin,)), progress=False, echo=lambda text: None)  # fmt: skip
    assert report.ok
    (warning,) = report.warnings
    assert warning.startswith("wobbles 40: repeated encodes") and "4 image(s)" in warning
    assert json.loads((tmp_path / "r" / "run.json").read_text())["warnings"] == [warning]


def start_slow_run(small_dataset: Path, plugin: str, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bench", "run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "slow",
           "--quality", "10,20,30,40,50", "--out", str(out), "-j", "2", "--no-report", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_DATA": str(data_root())})  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(session_processes(proc.pid)) < 4:  # runner, fork server, 2 workers
        time.sleep(0.1)
    time.sleep(1.5)
    return proc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_process_outlives_a_terminated_or_killed_run(tmp_path, small_dataset, plugin, sig):
    out = tmp_path / "r"
    proc = start_slow_run(small_dataset, plugin, out)
    assert len(session_processes(proc.pid)) >= 4
    os.kill(proc.pid, sig)  # the main process only, as `timeout`, Slurm, Docker or the OOM killer do
    proc.wait(30)
    assert wait_until_gone(proc.pid) == []
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and not list(out.glob(".staging-*"))
        assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    else:
        assert list(out.glob(".staging-*"))  # killed: nobody could clean up ...
    measured = len(read_csv(out / "records.csv")) if (out / "records.csv").exists() else 0
    with sqlite3.connect(out / "store.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] >= measured
    again = bench_cli("run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "slow", "--quality",
                      "10,20,30,40,50", "--out", str(out), "-j", "2", "--no-report", "--no-progress", timeout=120)  # fmt: skip
    assert again.returncode == 0 and len(read_csv(out / "records.csv")) == 20
    assert not list(out.glob(".staging-*"))  # ... the next run does


def test_a_second_run_on_the_same_folder_is_refused_clearly(tmp_path, small_dataset, plugin):
    out = tmp_path / "r"
    first = start_slow_run(small_dataset, plugin, out)
    second = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50", "--out", str(out))
    assert second.returncode == 2
    assert second.stderr.strip().startswith(f"bench run: {out} is being written by another bench run (pid {first.pid}")
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.wait(120) == 0
    invocations = json.loads((out / "run.json").read_text())["invocations"]
    assert [i["status"] for i in invocations] == ["complete"]


def test_image_provenance_is_stored_as_each_image_is_read(tmp_path, small_dataset, plugin):
    out = tmp_path / "r"
    proc = start_slow_run(small_dataset, plugin, out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    wait_until_gone(proc.pid)
    with sqlite3.connect(out / "store.sqlite") as db:
        stored = dict(db.execute("SELECT name, info FROM images").fetchall())
    assert len(stored) >= 1 and json.loads(next(iter(stored.values())))["width"] == 256
    done = bench_cli("run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec", "slow", "--quality",
                     "10,20,30,40,50", "--out", str(out), "-j", "2", "--no-report", "--no-progress", timeout=120)  # fmt: skip
    assert done.returncode == 0
    images = json.loads((out / "run.json").read_text())["dataset"]["images"]
    assert all(im["width"] == 256 and im["height"] == 192 and "conversion" in im for im in images)


def test_images_sharing_a_stem_keep_their_own_files(tmp_path, small_dataset):
    Image.open(small_dataset / "crop01.png").save(small_dataset / "crop01.tif")
    out = tmp_path / "r"
    report = run(RunConfig(dataset=str(small_dataset), codecs=("jpeg",), qualities=(50,), out=out, jobs=1,
                           save_reconstructions=True, save_bitstreams=True), progress=False, echo=lambda t: None)  # fmt: skip
    assert report.ok and len(report.records) == 5
    saved = sorted(p.name for p in (out / "bitstreams" / "jpeg" / "50").iterdir())
    assert saved == ["crop01_png.jpg", "crop01_tif.jpg", "crop04.jpg", "crop13.jpg", "crop23.jpg"]
    assert len(list((out / "reconstructions" / "jpeg" / "50").iterdir())) == 5


def test_a_damaged_store_and_a_file_as_out_are_one_line_errors(tmp_path, small_dataset):
    out = tmp_path / "r"
    out.mkdir()
    (out / "store.sqlite").write_bytes(b"this is not a database" * 100)
    damaged = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "50", "--out", str(out))
    assert damaged.returncode == 2 and len(damaged.stderr.strip().splitlines()) == 1
    assert "store.sqlite is corrupt (SQLite: file is not a database): move it away" in damaged.stderr
    a_file = tmp_path / "file"
    a_file.write_text("x")
    refused = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--out", str(a_file))
    assert refused.returncode == 2 and "is a file, not a folder" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_run_that_breaks_says_so_and_keeps_what_it_measured(tmp_path, small_dataset, monkeypatch):
    from bench.store.sqlite import Store

    real = Store.add_record
    calls = []

    def fill_the_disk(self, record, meta=None):
        calls.append(record)
        if len(calls) > 3:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, record, meta)

    monkeypatch.setattr(Store, "add_record", fill_the_disk)
    out = tmp_path / "r"
    report = run(RunConfig(dataset=str(small_dataset), codecs=("jpeg",), qualities=(30, 60), out=out, jobs=2),
                 progress=False, echo=lambda text: None)  # fmt: skip
    assert report.broken == "OperationalError: database or disk is full" and not report.ok
    doc = json.loads((out / "run.json").read_text())
    assert doc["status"] == "broken" and doc["error"] == report.broken
    assert len(read_csv(out / "records.csv")) == 3


def test_summary_means_cover_the_images_with_every_metric_defined(tmp_path, small_dataset):
    add_image(small_dataset, "tiny.png", 120)  # too small for 5-scale MS-SSIM: NaN
    out = tmp_path / "r"
    report = run(RunConfig(dataset=str(small_dataset), codecs=("jpeg",), qualities=(50,), out=out, jobs=1),
                 progress=False, echo=lambda text: None)  # fmt: skip
    assert report.ok and len(report.records) == 5
    (summary,) = read_csv(out / "summary.csv")
    full = [r for r in read_csv(out / "records.csv") if r["image"] != "tiny.png"]
    assert summary["images"] == "4"
    assert float(summary["ms_ssim_rgb"]) == pytest.approx(np.mean([float(r["ms_ssim_rgb"]) for r in full]))
    assert float(summary["psnr_rgb"]) == pytest.approx(np.mean([float(r["psnr_rgb"]) for r in full]))
    assert float(summary["bpp"]) == pytest.approx(np.mean([float(r["bpp"]) for r in full]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_one_ctrl_c_ends_a_run_stuck_in_native_code(tmp_path, small_dataset, plugin):
    for name in ("crop01.png", "crop04.png", "crop13.png", "crop23.png"):
        (small_dataset / name).unlink()
    add_image(small_dataset, "native-hang-1.png", 190)
    add_image(small_dataset, "native-hang-2.png", 190)
    cmd = [sys.executable, "-m", "bench", "run", "--dataset", str(small_dataset), "--plugin", plugin, "--codec",
           "hangs", "--quality", "40", "--out", str(tmp_path / "r"), "--timeout", "0", "--no-report", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "BENCH_DATA": str(data_root())})  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(session_processes(proc.pid)) < 4:
        time.sleep(0.1)
    time.sleep(2)  # the workers are in the hanging call
    start = time.monotonic()
    try:
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(20) == 130 and time.monotonic() - start < 10
        assert wait_until_gone(proc.pid) == []
    finally:
        for pid in session_processes(proc.pid):  # a failure leaves nothing running either
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def read_only_copy(tmp_path, small_dataset):
    """A finished run folder on a file system mounted read-only (root ignores file permissions)."""
    out = tmp_path / "r"
    assert run(RunConfig(dataset=str(small_dataset), codecs=("jpeg", "webp"), qualities=(30, 70), out=out, jobs=2),
               progress=False, echo=lambda text: None).ok  # fmt: skip
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a file system here (needs root)")
    try:
        subprocess.run(["cp", "-r", str(out), str(mount / "r")], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / "r"
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_report_and_export_read_a_read_only_run_folder(tmp_path, read_only_copy):
    report = bench_cli("report", str(read_only_copy), "--out", str(tmp_path / "rep"))
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "rep" / "bd_rate.csv").is_file()
    exported = bench_cli("export", str(read_only_copy), "--out", str(tmp_path / "exp"))
    assert exported.returncode == 0 and (tmp_path / "exp" / "webp.json").is_file()
    in_place = bench_cli("report", str(read_only_copy))  # the default <run>/report cannot be written
    assert in_place.returncode == 2 and len(in_place.stderr.strip().splitlines()) == 1
    assert "cannot write the report into" in in_place.stderr and "--out" in in_place.stderr
