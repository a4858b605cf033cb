"""Adding metrics to finished runs (`bench score`), listing metrics (`bench metrics`), computing one
metric from Python (`bench.api.metric.compute`) and reports of chosen metrics (`bench report --metric`).

The runs are small and made once: two synthetic 96 x 128 images, jpeg and webp at qualities 30 and 70,
PSNR-RGB only, with saved bitstreams, with saved reconstructions, with neither, and one that computed
Y-PSNR and the README's MAE plugin from the start (what scoring must reproduce). Each test scores a
copy of a run.
"""

from __future__ import annotations

import csv
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
from bench.api.metric import MetricError
from bench.api.metric_registry import compute
from bench.report.writer import ReportConfig, ReportError, make_report
from bench.run.runner import RunConfig, RunSetupError, run
from bench.run.score import ScoreConfig, ScoreSetupError, score
from conftest import REPO, bench_cli, write_synthetic_images

TIMING = ("encode_s", "decode_s")
RECORDS = 8  # 2 codecs x 2 qualities x 2 images


def readme_metric_plugin() -> str:
    """The plugin example of the README's 'Adding a metric' section (MAE)."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Adding a metric", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


NOT_HERE = """
from bench.api.metric import DatasetMetric, Metric, register_metric


@register_metric
class NeedsWeights(Metric):
    name = "needs_weights"
    label = "NW"
    axis_label = "NW"
    convention = "needs weights that are not here"

    @classmethod
    def unavailable_reason(cls):
        return "weights nw.pth not found in ~/.cache/nw (download them first)"

    def compute(self, ref, dist):
        raise AssertionError("an unavailable metric is never computed")


@register_metric
class DatasetWide(DatasetMetric):
    name = "dataset_wide"
    label = "DW"
    axis_label = "DW"
    features = "dw"
    convention = "over a whole dataset"

    def extract(self, image):
        raise AssertionError("not measured in these tests")

    def aggregate(self, ref, dist):
        raise AssertionError("not measured in these tests")
"""

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


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def without_timings(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def quiet_score(run_folder: Path, metrics: tuple[str, ...], **kwargs):
    kwargs.setdefault("jobs", 1)
    return score(ScoreConfig(run=run_folder, metrics=metrics, **kwargs), progress=False, echo=lambda text: None)


def stored_values(folder: Path, metric: str) -> int:
    db = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM metric_values WHERE metric=?", (metric,)).fetchone()[0]
    finally:
        db.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("score")
    images = write_synthetic_images(root / "images", 2)
    plugin = root / "mae.py"
    plugin.write_text(readme_metric_plugin())
    common = dict(dataset=str(images), codecs=("jpeg", "webp"), qualities=(30, 70), jobs=2, metrics=("psnr_rgb",))
    folders = {"images": images, "mae": plugin}
    for name, extra in (
        ("bitstreams", dict(save_bitstreams=True)),
        ("reconstructions", dict(save_reconstructions=True)),
        ("neither", {}),
        ("reference", dict(metrics=("psnr_rgb", "psnr_y", "mae"), plugins=(str(plugin),))),
    ):
        folders[name] = root / name
        made = run(RunConfig(**{**common, **extra, "out": folders[name]}), progress=False, echo=lambda text: None)
        assert made.ok and len(made.records) == RECORDS
    return folders


@pytest.fixture
def copy_of(setup, tmp_path):
    """A copy of one of the runs, to score."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(setup[name], tmp_path / name))

    return copy


# --- bench score ------------------------------------------------------------------------------


def test_score_adds_metrics_from_saved_bitstreams_with_the_values_bench_run_computes(setup, copy_of):
    folder = copy_of("bitstreams")
    done = bench_cli("score", str(folder), "--metrics", "psnr_y,mae", "--plugin", str(setup["mae"]), "-j", "2",
                     "--no-report", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"scored {RECORDS} records" in done.stdout and "8 by decoding saved bitstreams" in done.stdout
    reference = setup["reference"]
    # the same columns, in the same order, with the same values as a run that had the metrics from the start
    assert without_timings(read_csv(folder / "records.csv")) == without_timings(read_csv(reference / "records.csv"))
    assert without_timings(read_csv(folder / "summary.csv")) == without_timings(read_csv(reference / "summary.csv"))
    described = json.loads((folder / "run.json").read_text())
    expected = json.loads((reference / "run.json").read_text())
    assert described["metric_implementations"] == expected["metric_implementations"]  # conventions, versions
    assert list(described["metrics"]) == list(expected["metrics"])
    assert described["invocations"][-1]["kind"] == "score" and described["invocations"][-1]["scored"] == RECORDS


def test_score_takes_saved_reconstructions_and_needs_no_codec_for_them(setup, copy_of):
    folder = copy_of("reconstructions")
    with sqlite3.connect(folder / "store.sqlite") as db:  # a codec that changed since: no matter, it is not used
        db.execute("UPDATE codecs SET description = json_set(description, '$.versions.Pillow', '0.0')")
    db.close()
    done = bench_cli("score", str(folder), "--metrics", "psnr_y,mae", "--plugin", str(setup["mae"]), "-j", "1")
    assert done.returncode == 0, done.stderr
    assert "8 from saved reconstructions, 0 by decoding" in done.stdout
    assert without_timings(read_csv(folder / "records.csv")) == without_timings(
        read_csv(setup["reference"] / "records.csv")
    )
    assert (folder / "report" / "rd_psnr_y.png").is_file()  # the report is made again with the new metric


def test_scoring_again_is_a_no_op(setup, copy_of):
    folder = copy_of("bitstreams")
    first = quiet_score(folder, ("psnr_y",))
    assert first.ok and first.scored == RECORDS and first.already == 0
    files = {name: (folder / name).read_bytes() for name in ("records.csv", "summary.csv", "run.json", "store.sqlite")}
    mtimes = {name: (folder / name).stat().st_mtime_ns for name in files}
    again = quiet_score(folder, ("psnr_y",))
    assert again.ok and again.scored == 0 and again.already == RECORDS and not again.changed
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


def test_a_changed_reference_image_is_refused(setup, copy_of, tmp_path):
    folder = copy_of("reconstructions")
    images = Path(shutil.copytree(setup["images"], tmp_path / "moved"))
    pixels = np.asarray(Image.open(images / "img1.png")).copy()
    pixels[0, 0, 0] ^= 1  # one sample of one image
    Image.fromarray(pixels).save(images / "img1.png")
    with pytest.raises(ScoreSetupError, match=r"reference image img1\.png has changed since the run measured it"):
        quiet_score(folder, ("psnr_y",), dataset=str(images))
    assert stored_values(folder, "psnr_y") == 0
    # the unchanged folder, given where the run's dataset moved to, is fine
    shutil.copy(setup["images"] / "img1.png", images / "img1.png")
    assert quiet_score(folder, ("psnr_y",), dataset=str(images)).scored == RECORDS


def test_bitstreams_of_a_codec_that_changed_since_the_run_are_not_decoded(copy_of):
    folder = copy_of("bitstreams")
    with sqlite3.connect(folder / "store.sqlite") as db:
        db.execute("UPDATE codecs SET description = json_set(description, '$.settings.quality_tables', 'other') "
                   "WHERE name = 'jpeg'")  # fmt: skip
    db.close()
    outcome = quiet_score(folder, ("psnr_y",))
    assert "not the one that made its bitstreams" in outcome.refused["jpeg"]
    assert "settings.quality_tables" in outcome.refused["jpeg"]
    assert not outcome.ok and outcome.scored == RECORDS // 2  # webp's were scored
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


def test_an_interrupted_scoring_keeps_what_it_stored_and_the_next_one_finishes(setup, copy_of, tmp_path):
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
    while stored_values(folder, "slow_mae") < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    kept = stored_values(folder, "slow_mae")
    assert 2 <= kept < RECORDS and "run the same command again" in stdout
    (tmp_path / "slow").unlink()
    outcome = quiet_score(folder, ("slow_mae",), plugins=(str(plugin),))
    assert outcome.ok and outcome.scored == RECORDS - kept and outcome.already == kept
    mae = {(r["codec"], r["quality"], r["image"]): r["mae"] for r in read_csv(setup["reference"] / "records.csv")}
    assert {(r["codec"], r["quality"], r["image"]): r["slow_mae"] for r in read_csv(folder / "records.csv")} == mae


def test_a_timeout_and_a_crashing_metric_fail_their_records_only_and_the_next_scoring_adds_them(setup, copy_of,
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
    assert not outcome.ok and outcome.scored == RECORDS - 2 and not outcome.broken
    assert stored_values(folder, "faulty_mae") == RECORDS - 2  # the values before and after the failures
    mae = {(r["codec"], r["quality"], r["image"]): r["mae"] for r in read_csv(setup["reference"] / "records.csv")}
    scored = {(r["codec"], r["quality"], r["image"]): r["faulty_mae"] for r in read_csv(folder / "records.csv")}
    failed = {("jpeg", "70", "img0.png"), ("webp", "30", "img1.png")}
    assert {key: value for key, value in scored.items() if value != "nan"} == {
        key: value for key, value in mae.items() if key not in failed
    }
    assert json.loads((folder / "run.json").read_text())["invocations"][-1]["failed"] == 2
    (tmp_path / "faults.json").unlink()
    again = quiet_score(folder, ("faulty_mae",), plugins=(str(plugin),))
    assert again.ok and again.scored == 2 and again.already == RECORDS - 2
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


def test_any_executor_scores_with_the_values_the_local_one_gives(setup, copy_of, monkeypatch):
    monkeypatch.setitem(bench.api.executor.BUILTIN, "inline", f"{__name__}:InlineExecutor")
    folder = copy_of("bitstreams")
    outcome = quiet_score(folder, ("psnr_y", "mae"), plugins=(str(setup["mae"]),), executor="inline")
    assert outcome.ok and outcome.scored == RECORDS and outcome.from_reconstructions == 0
    reference = setup["reference"]
    assert without_timings(read_csv(folder / "records.csv")) == without_timings(read_csv(reference / "records.csv"))
    invocation = json.loads((folder / "run.json").read_text())["invocations"][-1]
    assert (invocation["kind"], invocation["executor"], invocation["timeout_s"]) == ("score", "inline", 3600)


# --- metrics: availability, listing, compute ---------------------------------------------------


def test_bench_metrics_lists_every_metric_with_its_convention_and_availability(setup, tmp_path):
    plugin = tmp_path / "not_here.py"
    plugin.write_text(NOT_HERE)
    listed = bench_cli("metrics", "--json", "--plugin", str(setup["mae"]), "--plugin", str(plugin))
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    for cls in (bench.metrics.fidelity.PsnrRgb, bench.metrics.fidelity.PsnrY, bench.metrics.fidelity.MsSsimRgb):
        row = rows[cls.name]
        assert row["origin"] == "builtin" and row["available"] and row["default"] and row["per_image"]
        assert (row["label"], row["unit"], row["convention"]) == (cls.label, cls.unit, cls.convention)
        assert set(row["versions"]) == set(cls.packages) and "not installed" not in row["versions"].values()
    assert rows["ms_ssim_rgb"]["db"]["name"] == "ms_ssim_db" and rows["psnr_rgb"]["db"] is None
    assert rows["mae"]["origin"].startswith("plugin") and rows["mae"]["higher_is_better"] is False
    assert rows["dataset_wide"]["per_image"] is False
    assert rows["needs_weights"]["available"] is False and "weights nw.pth" in rows["needs_weights"]["reason"]
    text = bench_cli("metrics", "--plugin", str(plugin)).stdout
    assert re.search(r"^needs_weights +NOT AVAILABLE .*\n +why: weights nw\.pth", text, re.M)
    assert f"convention: {bench.metrics.fidelity.PsnrY.convention}" in text


def test_bench_run_refuses_an_unavailable_metric_with_its_reason(setup, tmp_path):
    plugin = tmp_path / "not_here.py"
    plugin.write_text(NOT_HERE)
    config = RunConfig(dataset=str(setup["images"]), codecs=("jpeg",), qualities=(50,), out=tmp_path / "r", jobs=1,
                       plugins=(str(plugin),), metrics=("psnr_rgb", "needs_weights"))  # fmt: skip
    with pytest.raises(RunSetupError, match=r"metric 'needs_weights' is not available here: weights nw\.pth"):
        run(config, progress=False, echo=lambda text: None)
    with pytest.raises(ScoreSetupError, match=r"'needs_weights' is not available here"):
        quiet_score(setup["reconstructions"], ("needs_weights",), plugins=(str(plugin),))


def test_compute_gives_the_value_a_run_stores(setup):
    reference = np.asarray(Image.open(setup["images"] / "img1.png"))
    decoded = np.asarray(Image.open(setup["reconstructions"] / "reconstructions" / "webp" / "30" / "img1.png"))
    stored = next(r for r in read_csv(setup["reference"] / "records.csv") if r["codec"] == "webp"
                  and r["quality"] == "30" and r["image"] == "img1.png")  # fmt: skip
    assert repr(compute("psnr_rgb", reference, decoded)) == stored["psnr_rgb"]
    assert repr(compute("psnr_y", reference, decoded)) == stored["psnr_y"]
    assert repr(compute("mae", reference, decoded, plugins=(setup["mae"],))) == stored["mae"]
    assert bench.metrics.compute is compute and bench.metrics.psnr_y is bench.metrics.fidelity.psnr_y
    assert compute("psnr_y", reference[::2, ::2], decoded[::2, ::2]) == bench.metrics.fidelity.psnr_y(
        np.ascontiguousarray(reference[::2, ::2]), np.ascontiguousarray(decoded[::2, ::2])
    )  # views are fine


def test_compute_refuses_unknown_per_dataset_or_unavailable_metrics_and_bad_arrays(setup, tmp_path):
    plugin = tmp_path / "not_here.py"
    plugin.write_text(NOT_HERE)
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(MetricError, match=r"unknown metric 'psnr_rbg'; known metrics: psnr_rgb"):
        compute("psnr_rbg", image, image)
    with pytest.raises(MetricError, match=r"'dataset_wide' is computed over a whole dataset"):
        compute("dataset_wide", image, image, plugins=(plugin,))
    with pytest.raises(MetricError, match=r"'needs_weights' is not available here: weights nw\.pth"):
        compute("needs_weights", image, image, plugins=(plugin,))
    for bad in (image.astype(np.float32), image[..., 0], image[..., :2], image.tolist()):
        with pytest.raises(ValueError, match=r"distorted image must be an H x W x 3 uint8 RGB array"):
            compute("psnr_rgb", image, bad)
    with pytest.raises(ValueError, match=r"image shapes differ"):
        compute("mae", image, image[:8], plugins=(setup["mae"],))


# --- bench report --metric ---------------------------------------------------------------------


def test_report_shows_only_the_metrics_asked_for(setup, tmp_path):
    made = make_report(ReportConfig(runs=(setup["reference"],), out=tmp_path / "report", metrics=("psnr_y",)))
    assert set(made.table["metric"]) == {"psnr_y"}
    assert (tmp_path / "report" / "rd_psnr_y.png").is_file() and not (tmp_path / "report" / "rd_psnr_rgb.png").exists()
    assert "rd_psnr_rgb" not in (tmp_path / "report" / "report.md").read_text()
    both = make_report(ReportConfig(runs=(setup["reference"],), out=tmp_path / "both", metrics=("psnr_y", "psnr_rgb")))
    assert list(dict.fromkeys(both.table["metric"])) == ["psnr_y", "psnr_rgb"]  # in the order asked
    with pytest.raises(ReportError, match=r"--metric: no curve has ssim_rgbb; the curves' metrics: psnr_rgb, psnr_y"):
        make_report(ReportConfig(runs=(setup["reference"],), out=tmp_path / "bad", metrics=("ssim_rgbb",)))


def test_bench_report_takes_the_metric_option(setup, tmp_path):
    done = bench_cli("report", str(setup["reference"]), "--metric", "psnr_y", "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert {row["metric"] for row in read_csv(tmp_path / "r" / "bd_rate.csv")} == {"psnr_y"}
