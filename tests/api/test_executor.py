"""The executor seam (bench/api/executor.py): the runner needs nothing but the interface, any executor gives
the same records, unknown executors and misplaced options are setup errors."""

from __future__ import annotations

from collections import deque
from typing import Iterator

import pytest

from bench.api.executor import Executor, ExecutorError, create_executor, executor_names, run_tasks
from bench.api.records import Failure, Record
from bench.api.task import MeasureOptions, Task
from bench.run.runner import RunConfig, run
from conftest import doc_example


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


def test_a_cluster_address_is_refused_by_the_local_executor():
    from bench.api.executor import ExecutorError, create_executor
    from bench.api.task import MeasureOptions

    with pytest.raises(ExecutorError, match="takes no cluster address .--ray-address is for --executor ray"):
        create_executor("local", MeasureOptions(), 1, address="head:6379")


def test_the_guides_executor_runs_through_its_entry_point_with_the_same_records(tmp_path, small_dataset,
                                                                                monkeypatch):  # fmt: skip
    (tmp_path / "guide_executors.py").write_text(doc_example("guides/add-executor.md"))
    info = tmp_path / "guide_executors-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: guide-executors\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[codec_bench.executors]\ninline = guide_executors:InlineExecutor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "inline" in executor_names()
    common = dict(dataset=str(small_dataset), codecs=("jpeg",), qualities=(30, 70))
    guide = run(RunConfig(out=tmp_path / "guide", executor="inline", **common), progress=False, echo=lambda t: None)
    local = run(RunConfig(out=tmp_path / "local", jobs=1, **common), progress=False, echo=lambda t: None)
    assert guide.ok and local.ok and len(guide.records) == 2 * len(list(small_dataset.iterdir()))
    assert [(r.key, r.bytes, r.metrics) for r in guide.records] == [(r.key, r.bytes, r.metrics) for r in local.records]
