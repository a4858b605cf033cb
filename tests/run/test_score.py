"""Adding metrics to finished runs (`bench score`, bench/run/score.py).

The runs are small and made once (conftest's ``saved_runs``): two synthetic 96 x 128 images, jpeg and webp
at qualities 30 and 70, PSNR-RGB only, with saved bitstreams, with saved reconstructions, with neither,
and one that computed Y-PSNR and the README's MAE plugin from the start (what scoring must reproduce).
Each test scores a copy of a run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

import bench.api.executor
import bench.metrics.fidelity
from bench.api.executor import Executor
from bench.run.runner import RunConfig, RunSetupError, run
from bench.run.score import ScoreConfig, ScoreSetupError, score
from conftest import NOT_HERE, SAVED_RUN_RECORDS, bench_cli, read_csv, without_timings

#: MAE, slow (0.4 s a record) while a file named "slow" lies beside the plugin.
SLOW_MAE = """
import time
from pathlib import Path

import numpy as np

from bench.api.metric import Metric, register_metric


@register_metric
class SlowMae(Metric):
    name = "slow_mae"
    label = "MAE"
    axis_label = "MAE"
    higher_is_better = False

    def compute(self, ref, dist):
        if Path(__file__).with_name("slow").exists():
            time.sleep(0.4)
        return float(np.abs(ref.astype(float) - dist.astype(float)).mean())
"""


#: MAE that hangs or crashes its process on the decoded images whose sha256 faults.json (beside it) names.
FAULTY_MAE = """
import hashlib, json, os, time
from pathlib import Path

import numpy as np

from bench.api.metric import Metric, register_metric


@register_metric
class FaultyMae(Metric):
    name = "faulty_mae"
    label = "MAE"
    axis_label = "MAE"
    higher_is_better = False

    def compute(self, ref, dist):
        faults = Path(__file__).with_name("faults.json")
        fault = json.loads(faults.read_text()).get(hashlib.sha256(dist.tobytes()).hexdigest()) if faults.exists() else None
        if fault == "hang":  # (long enough for any --timeout to stop it, short enough to end a test that has none)
            time.sleep(60)
        if fault == "crash":
            os._exit(3)
        return float(np.abs(ref.astype(float) - dist.astype(float)).mean())
"""


class InlineExecutor(Executor):
    """Runs each task in this process when its result is asked for, through the worker-side code
    (``Measurer.run``), as an executor written for ``bench run`` would: it scores unchanged."""

    name = "inline"

    def __init__(self, options, jobs: int, timeout: float = 0) -> None:
        super().__init__(options, jobs, timeout)
        self.queue: deque = deque()

    @property
    def pending(self) -> int:
        return len(self.queue)

    def submit(self, task) -> None:
        self.queue.append(task)

    def results(self) -> Iterator:
        from bench.executors.measure import Measurer

        measurer = Measurer(self.options)
        while self.queue:
            yield measurer.run(self.queue.popleft())

    def cancel(self) -> None:
        self.queue.clear()

    def shutdown(self, wait: bool = True) -> None:
        self.queue.clear()


def quiet_score(run_folder: Path, metrics: tuple[str, ...], **kwargs):
    kwargs.setdefault("jobs", 1)
    return score(ScoreConfig(run=run_folder, metrics=metrics, **kwargs), progress=False, echo=lambda text: None)


def stored_values(folder: Path, metric: str) -> int:
    db = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM metric_values WHERE metric=?", (metric,)).fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def copy_of(saved_runs, tmp_path):
    """A copy of one of the runs, to score."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(saved_runs[name], tmp_path / name))

    return copy


def test_score_adds_metrics_from_saved_bitstreams_with_the_values_bench_run_computes(saved_runs, copy_of):
    folder = copy_of("bitstreams")
    done = bench_cli("score", str(folder), "--metrics", "psnr_y,mae", "--plugin", str(saved_runs["mae"]), "-j", "2",
                     "--no-report", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"scored {SAVED_RUN_RECORDS} records" in done.stdout and "8 by decoding saved bitstreams" in done.stdout
    reference = saved_runs["reference"]
    # the same columns, in the same order, with the same values as a run that had the metrics from the start
    assert without_timings(read_csv(folder / "records.csv")) == without_timings(read_csv(reference / "records.csv"))
    assert without_timings(read_csv(folder / "summary.csv")) == without_timings(read_csv(reference / "summary.csv"))
    described = json.loads((folder / "run.json").read_text())
    expected = json.loads((reference / "run.json").read_text())
    assert described["metric_implementations"] == expected["metric_implementations"]  # conventions, versions
    assert list(described["metrics"]) == list(expected["metrics"])
    assert (
        described["invocations"][-1]["kind"] == "score" and described["invocations"][-1]["scored"] == SAVED_RUN_RECORDS
    )


def test_score_takes_saved_reconstructions_and_needs_no_codec_for_them(saved_runs, copy_of):
    folder = copy_of("reconstructions")
    with sqlite3.connect(folder / "store.sqlite") as db:  # a codec that changed since: no matter, it is not used
        db.execute("UPDATE codecs SET description = json_set(description, '$.versions.Pillow', '0.0')")
    db.close()
    done = bench_cli("score", str(folder), "--metrics", "psnr_y,mae", "--plugin", str(saved_runs["mae"]), "-j", "1")
    assert done.returncode == 0, done.stderr
    assert "8 from saved reconstructions, 0 by decoding" in done.stdout
    assert without_timings(read_csv(folder / "records.csv")) == without_timings(
        read_csv(saved_runs["reference"] / "records.csv")
    )
    assert "Y-PSNR" in (folder / "report" / "bd_rate.md").read_text()  # the report is made again with the new metric


def test_scoring_again_is_a_no_op(saved_runs, copy_of):
    folder = copy_of("bitstreams")
    first = quiet_score(folder, ("psnr_y",))
    assert first.ok and first.scored == SAVED_RUN_RECORDS and first.already == 0
    files = {name: (folder / name).read_bytes() for name in ("records.csv", "summary.csv", "run.json", "store.sqlite")}
    mtimes = {name: (folder / name).stat().st_mtime_ns for name in files}
    again = quiet_score(folder, ("psnr_y",))
    assert again.ok and again.scored == 0 and again.already == SAVED_RUN_RECORDS and not again.changed
    assert {name: (folder / name).read_bytes() for name in files} == files
    assert {name: (folder / name).stat().st_mtime_ns for name in files} == mtimes
    # a metric the run had from the start is not computed again either
    assert quiet_score(folder, ("psnr_rgb", "psnr_y")).scored == 0


def test_a_run_without_saved_files_is_refused_with_what_to_do(copy_of):
    folder = copy_of("neither")
    before = (folder / "records.csv").read_bytes()
    done = bench_cli("score", str(folder), "--metrics", "psnr_y", "--no-progress")
    assert done.returncode == 2
    for codec in ("jpeg", "webp"):
        line = next(line for line in done.stderr.splitlines() if line.startswith(f"codec '{codec}'"))
        assert "re-run it with --save-bitstreams or --save-reconstructions" in line
    assert stored_values(folder, "psnr_y") == 0 and (folder / "records.csv").read_bytes() == before


def test_a_changed_reference_image_is_refused(saved_runs, copy_of, tmp_path):
    folder = copy_of("reconstructions")
    images = Path(shutil.copytree(saved_runs["images"], tmp_path / "moved"))
    pixels = np.asarray(Image.open(images / "img1.png")).copy()
    pixels[0, 0, 0] ^= 1  # one sample of one image
    Image.fromarray(pixels).save(images / "img1.png")
    with pytest.raises(ScoreSetupError, match=r"reference image img1\.png has changed since the run measured it"):
        quiet_score(folder, ("psnr_y",), dataset=str(images))
    assert stored_values(folder, "psnr_y") == 0
    # the unchanged folder, given where the run's dataset moved to, is fine
    shutil.copy(saved_runs["images"] / "img1.png", images / "img1.png")
    assert quiet_score(folder, ("psnr_y",), dataset=str(images)).scored == SAVED_RUN_RECORDS


def test_bitstreams_of_a_codec_that_changed_since_the_run_are_not_decoded(copy_of):
    folder = copy_of("bitstreams")
    with sqlite3.connect(folder / "store.sqlite") as db:
        db.execute("UPDATE codecs SET description = json_set(description, '$.settings.quality_tables', 'other') "
                   "WHERE name = 'jpeg'")  # fmt: skip
    db.close()
    outcome = quiet_score(folder, ("psnr_y",))
    assert "not the one that made its bitstreams" in outcome.refused["jpeg"]
    assert "settings.quality_tables" in outcome.refused["jpeg"]
    assert not outcome.ok and outcome.scored == SAVED_RUN_RECORDS // 2  # webp's were scored
    rows = read_csv(folder / "records.csv")
    assert all((row["psnr_y"] == "nan") == (row["codec"] == "jpeg") for row in rows)


def test_a_metric_the_run_computed_with_other_versions_is_refused(copy_of):
    folder = copy_of("bitstreams")
    with sqlite3.connect(folder / "store.sqlite") as db:
        db.execute("UPDATE metrics SET description = json_set(description, '$.versions.numpy', '0.1') "
                   "WHERE name = 'psnr_rgb'")  # fmt: skip
    db.close()
    with pytest.raises(ScoreSetupError, match=r"'psnr_rgb' values computed by other code or versions"):
        quiet_score(folder, ("psnr_rgb", "psnr_y"))
    assert stored_values(folder, "psnr_y") == 0


def test_an_interrupted_scoring_keeps_what_it_stored_and_the_next_one_finishes(saved_runs, copy_of, tmp_path):
    folder = copy_of("bitstreams")
    plugin = tmp_path / "slow_mae.py"
    plugin.write_text(SLOW_MAE)
    (tmp_path / "slow").touch()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "score", str(folder), "--metrics", "slow_mae", "--plugin", str(plugin), "-j", "1",
         "--no-report", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        while stored_values(folder, "slow_mae") < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()  # a failure leaves nothing running either (its workers die with it)
        process.wait()
    assert process.returncode == 130, stderr
    kept = stored_values(folder, "slow_mae")
    assert 2 <= kept < SAVED_RUN_RECORDS and "run the same command again" in stdout
    (tmp_path / "slow").unlink()
    outcome = quiet_score(folder, ("slow_mae",), plugins=(str(plugin),))
    assert outcome.ok and outcome.scored == SAVED_RUN_RECORDS - kept and outcome.already == kept
    mae = {(r["codec"], r["quality"], r["image"]): r["mae"] for r in read_csv(saved_runs["reference"] / "records.csv")}
    assert {(r["codec"], r["quality"], r["image"]): r["slow_mae"] for r in read_csv(folder / "records.csv")} == mae


def test_a_timeout_and_a_crashing_metric_fail_their_records_only_and_the_next_scoring_adds_them(saved_runs, copy_of,
                                                                                              tmp_path):  # fmt: skip
    folder = copy_of("reconstructions")
    plugin = tmp_path / "faulty_mae.py"
    plugin.write_text(FAULTY_MAE)

    def digest(codec: str, quality: int, image: str) -> str:
        decoded = np.asarray(Image.open(folder / "reconstructions" / codec / str(quality) / image))
        return hashlib.sha256(decoded.tobytes()).hexdigest()

    # one worker, records image by image: the 2nd hangs, the 7th crashes its worker
    faults = {digest("jpeg", 70, "img0.png"): "hang", digest("webp", 30, "img1.png"): "crash"}
    (tmp_path / "faults.json").write_text(json.dumps(faults))
    outcome = quiet_score(folder, ("faulty_mae",), plugins=(str(plugin),), timeout=5)
    failures = dict(outcome.failures)
    assert set(failures) == {("jpeg", 70.0, "img0.png"), ("webp", 30.0, "img1.png")}
    assert failures["jpeg", 70.0, "img0.png"].startswith("timeout: no result after 5 s")
    assert failures["webp", 30.0, "img1.png"].startswith("worker: the worker process died")
    assert not outcome.ok and outcome.scored == SAVED_RUN_RECORDS - 2 and not outcome.broken
    assert stored_values(folder, "faulty_mae") == SAVED_RUN_RECORDS - 2  # the values before and after the failures
    mae = {(r["codec"], r["quality"], r["image"]): r["mae"] for r in read_csv(saved_runs["reference"] / "records.csv")}
    scored = {(r["codec"], r["quality"], r["image"]): r["faulty_mae"] for r in read_csv(folder / "records.csv")}
    failed = {("jpeg", "70", "img0.png"), ("webp", "30", "img1.png")}
    assert {key: value for key, value in scored.items() if value != "nan"} == {
        key: value for key, value in mae.items() if key not in failed
    }
    assert json.loads((folder / "run.json").read_text())["invocations"][-1]["failed"] == 2
    (tmp_path / "faults.json").unlink()
    again = quiet_score(folder, ("faulty_mae",), plugins=(str(plugin),))
    assert again.ok and again.scored == 2 and again.already == SAVED_RUN_RECORDS - 2
    assert {(r["codec"], r["quality"], r["image"]): r["faulty_mae"] for r in read_csv(folder / "records.csv")} == mae


def test_an_unknown_executor_or_an_address_for_the_local_one_is_a_setup_error(copy_of):
    folder = copy_of("reconstructions")
    with pytest.raises(ScoreSetupError, match=r"^unknown executor 'nope'; known executors: local, ray"):
        quiet_score(folder, ("psnr_y",), executor="nope")
    with pytest.raises(ScoreSetupError, match=r"takes no cluster address \(--ray-address is for --executor ray\)"):
        quiet_score(folder, ("psnr_y",), ray_address="head:6379")
    done = bench_cli("score", str(folder), "--metrics", "psnr_y", "--executor", "nope", "--no-progress")
    assert done.returncode == 2  # (the run folder's lock was given back: the same error, not "in use")
    assert re.fullmatch(r"bench score: unknown executor 'nope'; known executors: local, ray.*\n", done.stderr)
    assert stored_values(folder, "psnr_y") == 0


def test_any_executor_scores_with_the_values_the_local_one_gives(saved_runs, copy_of, monkeypatch):
    monkeypatch.setitem(bench.api.executor.BUILTIN, "inline", f"{__name__}:InlineExecutor")
    folder = copy_of("bitstreams")
    outcome = quiet_score(folder, ("psnr_y", "mae"), plugins=(str(saved_runs["mae"]),), executor="inline")
    assert outcome.ok and outcome.scored == SAVED_RUN_RECORDS and outcome.from_reconstructions == 0
    reference = saved_runs["reference"]
    assert without_timings(read_csv(folder / "records.csv")) == without_timings(read_csv(reference / "records.csv"))
    invocation = json.loads((folder / "run.json").read_text())["invocations"][-1]
    assert (invocation["kind"], invocation["executor"], invocation["timeout_s"]) == ("score", "inline", 3600)


def test_bench_run_refuses_an_unavailable_metric_with_its_reason(saved_runs, tmp_path):
    plugin = tmp_path / "not_here.py"
    plugin.write_text(NOT_HERE)
    config = RunConfig(dataset=str(saved_runs["images"]), codecs=("jpeg",), qualities=(50,), out=tmp_path / "r", jobs=1,
                       plugins=(str(plugin),), metrics=("psnr_rgb", "needs_weights"))  # fmt: skip
    with pytest.raises(RunSetupError, match=r"metric 'needs_weights' is not available here: weights nw\.pth"):
        run(config, progress=False, echo=lambda text: None)
    with pytest.raises(ScoreSetupError, match=r"'needs_weights' is not available here"):
        quiet_score(saved_runs["reconstructions"], ("needs_weights",), plugins=(str(plugin),))
