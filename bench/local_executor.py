"""The ``local`` executor: tasks measured in worker processes on this machine.

Workers start from a fork server that has already imported the measuring code (:mod:`bench.measure`,
the codecs and the metrics), never by forking the runner's process, so each starts in milliseconds
and inherits no thread-pool state. Each worker runs one task at a time with single-threaded
libraries (:func:`bench.measure.init_worker`).

A worker that dies (a crash in a codec's native code, an abort, the out-of-memory killer) breaks the
pool: the tasks it held cannot be told apart from the others in flight, so all of those are run
again one by one, each in a fresh process of its own, and the one that kills its process again
becomes a :class:`~bench.results.Failure` of stage ``worker``. Then a new pool takes the remaining
tasks. Results already handed back are never lost.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from bench.executor import Executor
from bench.results import Failure, Record
from bench.task import MeasureOptions, Task

__all__ = ["LocalExecutor", "worker_context"]

#: What the fork server imports once for all workers.
PRELOAD = ["bench.measure"]


def worker_context():
    """The multiprocessing context of the measuring workers; starts their fork server at once.

    The fork server imports the measuring code in the background, so call this as early as
    possible (``bench run`` does before loading the rest). Without fork servers (Windows), workers
    are spawned.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()
    return ctx


def _init_worker(options: MeasureOptions) -> None:
    from bench import measure  # imported in the workers only (the fork server has it already)

    measure.init_worker(options)


def _measure(task: Task) -> Record | Failure:
    from bench import measure

    return measure.measure_in_worker(task)


class LocalExecutor(Executor):
    """``jobs`` worker processes on this machine (see the module docstring)."""

    name = "local"

    def __init__(self, options: MeasureOptions, jobs: int) -> None:
        super().__init__(options, jobs)
        self._ctx = worker_context()
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[Future, Task] = {}
        self._held: list[Task] = []  # submitted while a broken pool is being replaced
        self._isolating = False

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=self._ctx, initializer=_init_worker, initargs=(self.options,)
        )

    @property
    def pending(self) -> int:
        return len(self._running) + len(self._held)

    def submit(self, task: Task) -> None:
        if self._isolating:
            self._held.append(task)
            return
        if self._pool is None:
            self._pool = self._new_pool(self.jobs)
        try:
            self._running[self._pool.submit(_measure, task)] = task
        except BrokenProcessPool:  # a worker died since the last result: run it after the culprit is found
            self._held.append(task)

    def results(self) -> Iterator[Record | Failure]:
        while self.pending:
            if not self._running:
                held, self._held = self._held, []
                for task in held:
                    self.submit(task)
                continue
            done, _ = wait(self._running, return_when=FIRST_COMPLETED)
            finished, suspects = [], []
            for future in done:
                task = self._running.pop(future)
                try:
                    finished.append(future.result())
                except BrokenProcessPool:
                    suspects.append(task)
            if suspects:  # the pool is broken: every task it held is a suspect
                suspects += self._running.values()
                self._running.clear()
                self._close_pool(wait=False)
                self._isolating = True
            try:
                yield from finished
                for task in suspects:  # one at a time, each in its own process, to find the culprit
                    yield self._isolated(task)
            finally:
                self._isolating = False

    def _isolated(self, task: Task) -> Record | Failure:
        with self._new_pool(1) as pool:
            try:
                return pool.submit(_measure, task).result()
            except BrokenProcessPool:
                return Failure(
                    task.codec, task.quality, task.image, "worker",
                    "the worker process died while measuring this image (crash in native code, abort or out of memory)",
                )  # fmt: skip

    def cancel(self) -> None:
        for future in list(self._running):
            if future.cancel():
                del self._running[future]
        self._held.clear()

    def _close_pool(self, wait: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def shutdown(self, wait: bool = True) -> None:
        self._close_pool(wait=wait)
        self._running.clear()
        self._held.clear()
