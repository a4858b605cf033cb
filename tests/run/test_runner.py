"""The runner (bench/run/runner.py): complete, resumable, crash-safe, self-describing runs."""

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

from bench.api.codec_registry import discover
from bench.executors.peak_memory import PeakMemory
from bench.run.runner import RunConfig, RunSetupError, run
from bench.store.export import record_columns, summary_columns
from conftest import bench_cli, data_root, quiet_run, read_csv, without_timings

#: The optional columns every run has where the peak memory of each call can be measured (Linux).
MEMORY = ("encode_peak_rss_mb", "decode_peak_rss_mb", "encode_rss_start_mb", "decode_rss_start_mb")


def test_outputs_have_the_documented_columns_and_values(tmp_path, small_dataset):
    report = quiet_run(dataset=str(small_dataset), codecs=("jpeg", "webp"), qualities=(20, 80), out=tmp_path / "r")
    assert report.ok and report.measured_now == 2 * 2 * 4
    records = read_csv(tmp_path / "r" / "records.csv")
    memory = MEMORY if PeakMemory().available else ()
    assert tuple(records[0]) == record_columns(extras=memory) and len(records) == 16
    assert tuple(records[0])[-len(MEMORY) :] == MEMORY or not memory
    assert [(r["codec"], r["quality"], r["image"]) for r in records[:3]] == [
        ("jpeg", "20", "crop01.png"), ("jpeg", "20", "crop04.png"), ("jpeg", "20", "crop13.png"),
    ]  # fmt: skip
    for row in records:
        assert int(row["width"]) == 256 and int(row["height"]) == 192
        assert float(row["bpp"]) == pytest.approx(8 * int(row["bytes"]) / (256 * 192))
        assert 20 < float(row["psnr_rgb"]) < 60 and 0.5 < float(row["ms_ssim_rgb"]) <= 1
        assert float(row["encode_s"]) > 0 and float(row["decode_s"]) > 0
    summary = read_csv(tmp_path / "r" / "summary.csv")
    assert tuple(summary[0]) == summary_columns(extras=memory) and len(summary) == 4
    for row in records:  # each call's peak is at least the memory it started with
        assert not memory or float(row["decode_peak_rss_mb"]) >= float(row["decode_rss_start_mb"]) > 10
    jpeg20 = [r for r in records if r["codec"] == "jpeg" and r["quality"] == "20"]
    assert summary[0]["images"] == "4"
    assert float(summary[0]["psnr_rgb"]) == pytest.approx(np.mean([float(r["psnr_rgb"]) for r in jpeg20]), abs=1e-12)
    assert read_csv(tmp_path / "r" / "failures.csv") == []


def test_run_json_makes_the_run_reproducible(tmp_path, small_dataset):
    quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=(50,), out=tmp_path / "r", command="bench run x")
    doc = json.loads((tmp_path / "r" / "run.json").read_text())
    assert doc["status"] == "complete" and doc["command"] == "bench run x"
    assert doc["codecs"]["jpeg"]["settings"]["subsampling"] == "4:2:0"
    assert doc["codecs"]["jpeg"]["versions"]["libjpeg-turbo"]
    assert doc["codecs"]["jpeg"]["qualities_measured"] == ["50"]
    assert [im["name"] for im in doc["dataset"]["images"]] == ["crop01.png", "crop04.png", "crop13.png", "crop23.png"]
    assert all(len(im["sha256"]) == 64 and im["conversion"] is None for im in doc["dataset"]["images"])
    env = doc["environment"]
    for lib in ("libjpeg-turbo", "OpenJPEG", "libwebp", "libavif", "libheif", "libjxl"):
        assert env["libraries"][lib]
    assert env["packages"]["numpy"] and env["packages"]["pillow"] and env["python"] and env["cpu"]
    assert env["worker_threads"]["codecs"] == 1 and env["worker_threads"]["OMP_NUM_THREADS"] == 1
    assert "commit" in doc["git"] and doc["config"]["jobs"] == 1
    assert doc["invocations"][-1]["status"] == "complete" and doc["invocations"][-1]["measured"] == 4


def test_rerunning_measures_only_what_is_missing(tmp_path, small_dataset):
    out = tmp_path / "r"
    first = quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=(30,), out=out)
    again = quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=(30,), out=out)
    more = quiet_run(dataset=str(small_dataset), codecs=("jpeg", "webp"), qualities=(30, 60), out=out)
    assert (first.measured_now, again.measured_now, more.measured_now) == (4, 0, 12)
    assert len(read_csv(out / "records.csv")) == 16


RESUME_ARGS = ("--codec", "jpeg,webp,jpeg2000", "-j", "1", "--no-progress")


def test_a_run_killed_with_sigkill_resumes_to_the_same_records(tmp_path, small_dataset):
    """kill -9 of the whole run mid-way, run again: records.csv equals an uninterrupted run's."""
    total = 4 * (19 + 19 + 11)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    cmd = [sys.executable, "-m", "bench", "run", "--dataset", str(small_dataset), *RESUME_ARGS, "--out", str(killed)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "BENCH_DATA": str(data_root())})  # fmt: skip
    rows = 0
    deadline = time.monotonic() + 120
    while rows < 40 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(killed / "store.sqlite", timeout=1) as db:
                rows = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        except sqlite3.Error:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < rows < total, "the run must be killed part-way"
    assert not (killed / "records.csv").exists()

    resumed = bench_cli("run", "--dataset", str(small_dataset), *RESUME_ARGS, "--out", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = bench_cli("run", "--dataset", str(small_dataset), *RESUME_ARGS, "--out", str(whole))
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    got, expected = read_csv(killed / "records.csv"), read_csv(whole / "records.csv")
    assert len(got) == len(expected) == total
    assert without_timings(got) == without_timings(expected)
    statuses = [inv["status"] for inv in json.loads((killed / "run.json").read_text())["invocations"]]
    assert statuses == ["unfinished", "complete"]  # the killed invocation's end, written by the next one


FLAKY_PLUGIN = '''
import io, os, signal
import numpy as np
from PIL import Image
from bench.api.codec import Codec, CodecError, Knob, register_codec

@register_codec
class Flaky(Codec):
    """JPEG, except: raises on images 200 pixels high, kills its process on images 210 pixels high."""
    name = "flaky"
    knob = Knob("quality", 1, 100, (40, 80))

    def encode(self, image, quality):
        if image.shape[0] == 200 and not os.environ.get("FLAKY_FIXED"):
            raise CodecError("cannot code 200-row images")
        if image.shape[0] == 210:
            os.kill(os.getpid(), signal.SIGKILL)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
        return buf.getvalue()

    def decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def settings(self): return {}
    def versions(self): return {"flaky": "1"}
'''


@pytest.fixture
def troubled_dataset(tmp_path, small_dataset, kodak_dir) -> Path:
    """The small dataset plus an image the codec rejects, one it crashes on, and a corrupt file."""
    rng = np.random.default_rng(5)
    for name, rows in (("raises.png", 200), ("crashes.png", 210)):
        Image.fromarray(rng.integers(0, 256, (rows, 256, 3), dtype=np.uint8)).save(small_dataset / name)
    (small_dataset / "corrupt.png").write_bytes((kodak_dir / "kodim02.png").read_bytes()[:20000])  # truncated
    plugin = tmp_path / "flaky.py"
    plugin.write_text(textwrap.dedent(FLAKY_PLUGIN))
    return small_dataset


def test_failures_are_recorded_and_the_rest_is_measured(tmp_path, troubled_dataset):
    plugin, out = str(tmp_path / "flaky.py"), tmp_path / "r"
    result = bench_cli("run", "--dataset", str(troubled_dataset), "--plugin", plugin, "--codec", "flaky", "-j", "2",
                       "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 1
    records = read_csv(out / "records.csv")
    assert sorted({r["image"] for r in records}) == ["crop01.png", "crop04.png", "crop13.png", "crop23.png"]
    assert len(records) == 8
    failures = {(f["image"], f["quality"], f["stage"]): f["error"] for f in read_csv(out / "failures.csv")}
    assert set(failures) == {
        ("corrupt.png", "", "load"),
        ("raises.png", "40", "encode"), ("raises.png", "80", "encode"),
        ("crashes.png", "40", "worker"), ("crashes.png", "80", "worker"),
    }  # fmt: skip
    assert "cannot code 200-row images" in failures[("raises.png", "40", "encode")]
    assert "worker process died" in failures[("crashes.png", "80", "worker")]
    assert "corrupt.png: is corrupt or truncated" in failures[("corrupt.png", "", "load")]
    assert "5 failed" in result.stdout and "crashes.png (worker)" in result.stdout

    # the codec is fixed for 200-row images: a re-run retries what failed and keeps the rest
    (troubled_dataset / "crashes.png").unlink()
    (troubled_dataset / "corrupt.png").unlink()
    again = bench_cli("run", "--dataset", str(troubled_dataset), "--plugin", plugin, "--codec", "flaky", "-j", "2",
                      "--out", str(out), "--no-progress", env={"FLAKY_FIXED": "1"})  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(read_csv(out / "records.csv")) == 10
    # the store keeps the history: failures of images no longer in the folder stay on record
    assert {f["image"] for f in read_csv(out / "failures.csv")} == {"crashes.png", "corrupt.png"}


def test_repeat_keeps_the_median_and_all_timings(tmp_path, small_dataset):
    report = quiet_run(
        dataset=str(small_dataset), codecs=("webp",), qualities=(50,), out=tmp_path / "r", repeat=3, max_images=1
    )
    (record,) = report.records
    assert len(record.extra["encode_runs"]) == 3 and record.extra["repeat_identical"] is True
    assert record.encode_s == sorted(record.extra["encode_runs"])[1]
    assert record.decode_s == sorted(record.extra["decode_runs"])[1]


def test_saved_bitstreams_decode_to_the_saved_reconstructions(tmp_path, small_dataset):
    out = tmp_path / "r"
    quiet_run(dataset=str(small_dataset), codecs=("jpeg2000",), qualities=(0.5,), out=out, max_images=2,
              save_reconstructions=True, save_bitstreams=True)  # fmt: skip
    stream = (out / "bitstreams" / "jpeg2000" / "0.5" / "crop01.j2k").read_bytes()
    recon = np.asarray(Image.open(out / "reconstructions" / "jpeg2000" / "0.5" / "crop01.png"))
    np.testing.assert_array_equal(discover().get("jpeg2000").create().decode(stream), recon)
    record = next(r for r in read_csv(out / "records.csv") if r["image"] == "crop01.png")
    assert int(record["bytes"]) == len(stream)


def test_bad_requests_stop_before_measuring(tmp_path, small_dataset):
    with pytest.raises(RunSetupError, match=r"codec 'jpeg': quality 150 is outside the valid range \[1, 100\]"):
        quiet_run(dataset=str(small_dataset), codecs=("jpeg",), qualities=(150,), out=tmp_path / "a")
    with pytest.raises(RunSetupError, match=r"unknown codec 'jpg'; known codecs: .*jpeg"):
        quiet_run(dataset=str(small_dataset), codecs=("jpg",), out=tmp_path / "b")
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "abc")
    assert result.returncode == 2 and "expected comma-separated numbers" in result.stderr


def test_default_run_skips_unavailable_codecs_with_a_note(tmp_path, small_dataset, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no bpgenc, no cjxl
    lines: list[str] = []
    report = run(RunConfig(dataset=str(small_dataset), out=tmp_path / "r", jobs=2, max_images=1,
                           qualities=None), progress=False, echo=lines.append)  # fmt: skip
    assert "bpg" in report.skipped_codecs and "bench_codecs" not in report.skipped_codecs
    assert any(line.startswith("skipping bpg: bpgenc and bpgdec not found") for line in lines)
    assert {r.codec for r in report.records} == {
        "jpeg",
        "webp",
        "jpeg2000",
        "heif",
        "avif",
        "jpegxl",
        "mean-scale-small",
        "factorized-small",
    }
    assert json.loads((tmp_path / "r" / "run.json").read_text())["skipped_codecs"]["bpg"].startswith("bpgenc")


def test_run_records_real_size_and_the_model_estimate(tiny_family, small_dataset, tmp_path):
    out = tmp_path / "run"
    result = bench_cli("run", "--dataset", str(small_dataset), "--plugin", str(tiny_family / "plugin.py"),
                       "--codec", "tiny,jpeg", "--quality", "1,2", "--out", str(out), "--no-progress",
                       "--no-report")  # fmt: skip
    assert result.returncode == 0, result.stderr
    # the model's own estimate of the rate next to the real one, in the CSVs and the printed table
    import csv

    with open(out / "summary.csv", newline="") as fh:
        summary = {(r["codec"], r["quality"]): r for r in csv.DictReader(fh)}
    assert list(next(iter(summary.values())))[:5] == ["codec", "quality", "images", "bpp", "estimated_bpp"]
    for quality in ("1", "2"):
        assert 0 < float(summary["tiny", quality]["estimated_bpp"]) < float(summary["tiny", quality]["bpp"])
        assert summary["jpeg", quality]["estimated_bpp"] == ""  # jpeg gives no estimate
    assert "est. bpp" in result.stdout
    from bench.store.sqlite import Store

    with Store(out / "store.sqlite") as store:
        records = store.records()
        settings = store.codec_descriptions()["tiny"]["settings"]
    records = [r for r in records if r.codec == "tiny"]
    assert len(records) == 2 * 4
    for record in records:
        assert record.extra["estimated_bits"] > 0 and record.bytes > 0
    assert settings["device"] == "cpu" and settings["threads"] == 1 and settings["padding"].startswith("replicate")
    assert settings["kmac_per_pixel"]["decoder"] > 0


def test_bench_run_ends_with_a_report(tmp_path, small_dataset):
    out = tmp_path / "r"
    result = bench_cli("run", "--dataset", str(small_dataset), "--codec", "jpeg,webp", "--quality", "20,50,80",
                       "--out", str(out), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"report: {out}/report/report.md (BD-rates against jpeg)" in result.stdout
    report = out / "report"
    assert (report / "index.html").is_file() and (report / "bd_rate.tex").is_file()
    # the figures for a paper are bench report's (or bench run --figures'): the page says so, and none is stale
    assert not list(report.glob("*.png")) and not list(report.glob("*.pdf"))
    assert f"`bench report {out}` draws the figures for a paper" in (report / "report.md").read_text()
