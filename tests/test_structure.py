"""The project's structure: no import cycles, one seam each for executors and metrics."""

from __future__ import annotations

import ast
import csv
import math
import re
import sqlite3
from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from bench.api.executor import Executor, ExecutorError, create_executor, executor_names, run_tasks
from bench.api.metric import DEFAULT_METRICS, Metric, MetricError, register_metric
from bench.api.metric_registry import ENTRY_POINT_GROUP as METRIC_ENTRY_POINTS
from bench.api.metric_registry import discover_metrics
from bench.api.records import Failure, Record
from bench.api.task import MeasureOptions, Task
from bench.run.runner import RunConfig, run
from bench.store.export import RECORD_COLUMNS
from bench.store.sqlite import Store
from conftest import REPO

PACKAGES = ("bench", "bench_codecs", "bench_datasets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """First-party modules a module imports anywhere (functions included), except under TYPE_CHECKING."""
    found: set[str] = set()

    def resolve(name: str) -> str | None:  # the longest known module that ``name`` names or lies in
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if target := resolve(alias.name):
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                prefix = f"{base}.{node.module}" if node.module else base
            else:
                prefix = node.module or ""
            for alias in node.names:
                if target := resolve(f"{prefix}.{alias.name}") or resolve(prefix):
                    found.add(target)
        todo.extend(ast.iter_child_nodes(node))
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {(_module_name(p), p) for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    known = {name for name, _ in files}
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
        for name, path in files
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert "bench.run.runner" in graph and "bench_codecs.jpeg" in graph  # the scan sees the project
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_cycles_through_function_level_imports():
    tree = ast.parse("def f():\n    from pkg import b\n")
    graph = {"pkg.a": _imports(tree, "pkg.a", False, {"pkg.a", "pkg.b"}), "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n")
    assert _imports(typed, "pkg.a", False, {"pkg.a", "pkg.b"}) == set()


# -- the metric seam ----------------------------------------------------------------------------


def test_default_metrics_are_registered_with_what_reports_need():
    registry = discover_metrics(use_entry_points=False)
    assert registry.names()[:3] == list(DEFAULT_METRICS)
    psnr, psnr_y, ms_ssim = registry.create(DEFAULT_METRICS)
    assert (psnr.label, psnr.unit, psnr.compressai_key) == ("PSNR-RGB", "dB", "psnr-rgb")
    assert psnr_y.db is None and psnr_y.compared_column().name == "psnr_y"
    assert ms_ssim.compared_column().name == "ms_ssim_db" and ms_ssim.to_db(0.99) == pytest.approx(20.0)
    assert ms_ssim.db.invert(ms_ssim.to_db(0.97)) == pytest.approx(0.97)
    assert all(m.higher_is_better and m.per_image and m.describe()["versions"] for m in (psnr, psnr_y, ms_ssim))


def test_registered_metrics_compute_what_the_functions_compute(kodak_crop):
    from bench import metrics

    noisy = np.clip(kodak_crop.astype(int) + np.random.default_rng(1).integers(-9, 10, kodak_crop.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    psnr, psnr_y, ms_ssim = discover_metrics(use_entry_points=False).create(DEFAULT_METRICS)
    assert psnr.compute(kodak_crop, noisy) == metrics.psnr(kodak_crop, noisy)
    assert psnr_y.compute(kodak_crop, noisy) == metrics.psnr_y(kodak_crop, noisy)
    assert ms_ssim.compute(kodak_crop, noisy) == metrics.ms_ssim(kodak_crop, noisy)


def test_metric_names_must_be_column_names_and_unknown_metrics_are_named():
    class Bad(Metric):
        name = "Bad Name"
        label = axis_label = "bad"

        def compute(self, ref, dist):
            return 0.0

    with pytest.raises(TypeError, match="lower-case identifier"):
        register_metric(Bad)
    with pytest.raises(MetricError, match="unknown metric 'nope'; known metrics: psnr_rgb"):
        discover_metrics(use_entry_points=False).get("nope")


def readme_metric_plugin() -> str:
    """The plugin example of the README's 'Adding a metric' section."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Adding a metric", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_a_plugin_metric_becomes_a_column_of_the_run(tmp_path, small_dataset):
    plugin = tmp_path / "mae.py"
    plugin.write_text(readme_metric_plugin())
    report = run(
        RunConfig(dataset=str(small_dataset), codecs=("jpeg",), qualities=(30, 90), out=tmp_path / "r", jobs=1,
                  max_images=2, plugins=(str(plugin),), metrics=("psnr_rgb", "mae")),
        progress=False, echo=lambda text: None,
    )  # fmt: skip
    assert report.ok
    with open(tmp_path / "r" / "records.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == ("codec", "quality", "image", "width", "height", "bytes", "bpp", "psnr_rgb", "mae",
                              "encode_s", "decode_s")  # fmt: skip
    low, high = (float(r["mae"]) for r in rows if r["image"] == rows[0]["image"])
    assert low > high > 0  # quality 30 errs more than quality 90


def test_a_package_registers_metrics_through_its_entry_point(tmp_path, monkeypatch):
    module = "mae_metric_" + re.sub(r"\W", "_", tmp_path.name)
    (tmp_path / f"{module}.py").write_text(readme_metric_plugin())
    info = tmp_path / "mae_metric-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mae-metric\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{METRIC_ENTRY_POINTS}]\nmae = {module}:MeanAbsoluteError\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover_metrics()
    assert "mae" in registry and "mae" not in discover_metrics(use_entry_points=False)
    assert registry.get("mae")().higher_is_better is False


def test_a_schema_1_store_is_migrated_without_losing_a_value(tmp_path):
    path = tmp_path / "store.sqlite"
    with sqlite3.connect(path) as db:  # the layout codec-bench 0.1 wrote
        db.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE codecs (name TEXT PRIMARY KEY, description TEXT NOT NULL);
            CREATE TABLE records (
                codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL,
                width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, bpp REAL NOT NULL,
                psnr_rgb REAL, psnr_y REAL, ms_ssim_rgb REAL, encode_s REAL NOT NULL, decode_s REAL NOT NULL,
                extra TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (codec, quality, image));
            CREATE TABLE failures (codec TEXT NOT NULL, quality REAL NOT NULL, image TEXT NOT NULL,
                stage TEXT NOT NULL, error TEXT NOT NULL, PRIMARY KEY (codec, quality, image));
            CREATE TABLE image_failures (image TEXT PRIMARY KEY, error TEXT NOT NULL);
            INSERT INTO records VALUES ('jpeg', 50, 'a.png', 4, 2, 10, 10.0, 31.5, 33.25, NULL, 0.1, 0.2, '{"k": 1}');
            INSERT INTO records VALUES ('jpeg', 60, 'a.png', 4, 2, 12, 12.0, 1e999, 35.0, 0.95, 0.1, 0.2, '{}');
        """)
    with Store(path) as store:
        records = store.records()
        assert store.metrics() == list(DEFAULT_METRICS)
    assert [r.metrics["psnr_rgb"] for r in records] == [31.5, math.inf]
    assert records[0].psnr_y == 33.25 and math.isnan(records[0].ms_ssim_rgb) and records[1].ms_ssim_rgb == 0.95
    assert records[0].extra == {"k": 1} and records[1].bytes == 12
    with Store(path) as store:  # opening again changes nothing
        assert store.records() == records


def test_records_columns_follow_the_default_metrics():
    assert RECORD_COLUMNS[7:10] == DEFAULT_METRICS


# -- the executor seam --------------------------------------------------------------------------


class InlineExecutor(Executor):
    """Measures each task in this process when its result is asked for: a second executor, to show
    that the runner needs nothing but the interface."""

    name = "inline"

    def __init__(self, options: MeasureOptions, jobs: int, timeout: float = 0) -> None:
        super().__init__(options, jobs, timeout)
        self.queue: deque[Task] = deque()
        self.measurer = None
        self.max_pending = 0

    @property
    def pending(self) -> int:
        return len(self.queue)

    def submit(self, task: Task) -> None:
        self.queue.append(task)
        self.max_pending = max(self.max_pending, len(self.queue))

    def results(self) -> Iterator[Record | Failure]:
        from bench.executors.measure import Measurer

        self.measurer = self.measurer or Measurer(self.options)
        while self.queue:
            yield self.measurer.run(self.queue.popleft())

    def cancel(self) -> None:
        self.queue.clear()

    def shutdown(self, wait: bool = True) -> None:
        self.queue.clear()


def test_run_tasks_keeps_twice_the_slots_in_flight_and_hands_back_every_result():
    class Echo(InlineExecutor):
        def results(self):
            while self.queue:
                task = self.queue.popleft()
                yield Failure(task.codec, task.quality, task.image, "echo", "")

    executor = Echo(MeasureOptions(), jobs=3)
    tasks = [Task("c", q, "i") for q in range(20)]
    results = list(run_tasks(executor, tasks))
    assert [r.quality for r in results] == list(range(20)) and executor.max_pending == 6


def test_the_runner_runs_on_any_executor_with_the_same_records(tmp_path, small_dataset, monkeypatch):
    import bench.api.executor

    monkeypatch.setitem(bench.api.executor.BUILTIN, "inline", f"{__name__}:InlineExecutor")
    assert "inline" in executor_names()
    common = dict(dataset=str(small_dataset), codecs=("jpeg", "webp"), qualities=(20, 80), jobs=2)
    local = run(RunConfig(out=tmp_path / "local", **common), progress=False, echo=lambda text: None)
    inline = run(RunConfig(out=tmp_path / "inline", executor="inline", **common), progress=False, echo=lambda t: None)
    assert local.ok and inline.ok and len(local.records) == 16

    def rows(report):
        return [(r.key, r.bytes, r.metrics) for r in report.records]

    assert rows(inline) == rows(local)


def test_an_unknown_executor_is_a_setup_error():
    with pytest.raises(ExecutorError, match="unknown executor 'nope'; known executors: local"):
        create_executor("nope", MeasureOptions(), 1)
