"""What was written before the move into packages keeps working: old run folders, old plugin.py files,
old module paths (bench/api/moved.py; ``tests/fixtures/flat_layout/README.md`` says how the fixtures were made)."""

from __future__ import annotations

import importlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from bench.api.codec_registry import discover
from bench.api.metric_registry import discover_metrics
from bench.api.moved import MOVED, current_class_path
from bench.report.writer import ReportConfig, make_report
from bench.run.runner import RunConfig, run
from bench.run.score import ScoreConfig, score
from bench.store.sqlite import Store
from conftest import FIXTURES, TIMING, read_csv

FIXTURE = FIXTURES / "flat_layout"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """A copy of the flat layout's run folder and images, its recorded library versions set to this
    environment's: what is under test is the module paths, not the versions (a run with other versions
    is refused, as it must be, by the tests of the store)."""
    shutil.copytree(FIXTURE / "images", tmp_path / "images")
    shutil.copytree(FIXTURE / "run", tmp_path / "run")
    codecs = {entry.name: entry.create() for entry in discover(use_entry_points=False).entries()}
    metrics = discover_metrics(use_entry_points=False)
    with sqlite3.connect(tmp_path / "run" / "store.sqlite") as db:
        for table, current in (("codecs", lambda n: codecs[n]), ("metrics", lambda n: metrics.get(n)())):
            for name, text in db.execute(f"SELECT name, description FROM {table}").fetchall():
                description = {**json.loads(text), "versions": current(name).describe()["versions"]}
                db.execute(f"UPDATE {table} SET description=? WHERE name=?", (json.dumps(description), name))
    return tmp_path / "run"


def test_the_fixture_was_recorded_under_the_old_module_paths():
    with Store(FIXTURE / "run" / "store.sqlite", read_only=True) as store:
        raw = store._db.execute("SELECT description FROM metrics WHERE name='psnr_rgb'").fetchone()[0]
    assert json.loads(raw)["class"] == "bench.metrics.PsnrRgb"  # read-only: nothing rewritten


def test_an_old_run_folder_resumes_with_only_what_is_missing(old_run: Path):
    before = read_csv(old_run / "records.csv")
    report = run(
        RunConfig(dataset=str(old_run.parent / "images"), codecs=("jpeg", "webp"), qualities=(30, 70, 90),
                  out=old_run, jobs=1, save_reconstructions=True, save_bitstreams=True),
        progress=False, echo=lambda text: None,
    )  # fmt: skip
    assert report.ok and report.measured_now == 4  # quality 90 of 2 codecs x 2 images; nothing refused
    after = read_csv(old_run / "records.csv")
    kept = [{k: v for k, v in r.items() if k not in TIMING} for r in after if r["quality"] != "90"]
    assert kept == [{k: v for k, v in r.items() if k not in TIMING} for r in before]
    with Store(old_run / "store.sqlite", read_only=True) as store:
        assert store.metric_descriptions()["psnr_rgb"]["class"] == "bench.metrics.fidelity.PsnrRgb"
        raw = store._db.execute("SELECT description FROM metrics WHERE name='psnr_rgb'").fetchone()[0]
    assert json.loads(raw)["class"] == "bench.metrics.PsnrRgb"  # not rewritten: 0.1 can still open the folder
    recorded = json.loads((old_run / "run.json").read_text())
    assert recorded["metric_implementations"]["ms_ssim_rgb"]["class"] == "bench.metrics.fidelity.MsSsimRgb"


def test_an_old_run_folder_reports_and_is_scored(old_run: Path, tmp_path: Path):
    result = make_report(ReportConfig(runs=(old_run,), out=tmp_path / "report"))
    assert (tmp_path / "report" / "report.md").is_file() and result
    images = str(old_run.parent / "images")  # run.json recorded it relative to where the run started
    scored = score(ScoreConfig(run=old_run, metrics=("psnr_yuv",), dataset=images, jobs=1), progress=False, echo=print)
    assert scored.ok and scored.scored == 8 and scored.from_reconstructions == 8
    rows = read_csv(old_run / "records.csv")
    assert all(float(row["psnr_yuv"]) > 25 for row in rows)


def test_a_plugin_file_written_by_the_old_bench_train_runs_its_family(tmp_path: Path):
    family = shutil.copytree(FIXTURE / "family", tmp_path / "family")
    assert "from bench.neural.codec import make_family_codec" in (family / "plugin.py").read_text()
    report = run(
        RunConfig(dataset=str(FIXTURE / "images"), codecs=("tiny-flat",), out=tmp_path / "run", jobs=1,
                  plugins=(str(family / "plugin.py"),), metrics=("psnr_rgb",)),
        progress=False, echo=lambda text: None,
    )  # fmt: skip
    assert report.ok and len(report.records) == 2 and all(r.bpp > 0 for r in report.records)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_module_path_imports_its_module(old: str):
    module = importlib.import_module(old)
    if old in ("bench.metrics", "bench.store", "bench.report"):  # now packages: the package itself
        assert module.__path__
    else:
        assert module is importlib.import_module(MOVED[old])


def test_recorded_class_paths_map_to_where_the_classes_live_now():
    assert current_class_path("bench.metrics.PsnrRgb") == "bench.metrics.fidelity.PsnrRgb"
    assert current_class_path("bench.metrics_colour.Ciede2000") == "bench.metrics.colour.Ciede2000"
    for unchanged in ("bench.metrics.fidelity.PsnrRgb", "bench_codecs.jpeg.JpegCodec",
                      "codec_bench_plugin_0123456789abcdef.MeanAbsoluteError"):  # fmt: skip
        assert current_class_path(unchanged) == unchanged
    registry = discover_metrics(use_entry_points=False)
    for name in registry.names():  # every built-in metric class is where the table says
        cls = registry.get(name)
        old = next((o for o, n in MOVED.items() if n == cls.__module__), None)
        if old is not None:
            assert current_class_path(f"{old}.{cls.__qualname__}") == f"{cls.__module__}.{cls.__qualname__}"
