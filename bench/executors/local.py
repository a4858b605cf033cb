"""The ``local`` executor: tasks run in worker processes on this machine.

Workers start from a fork server that has already imported the measuring code (:mod:`bench.executors.measure`,
the codecs and the metrics), never by forking the runner's process, so each starts in milliseconds
and inherits no thread-pool state. Each worker runs one task at a time (a measurement or a scoring:
:func:`bench.executors.measure.run_in_worker` takes either) with single-threaded libraries
(:func:`bench.executors.measure.init_worker`), so the executor always knows which task a worker holds:

* a worker that dies (a crash in a codec's native code, an abort, ``os._exit``, the out-of-memory
  killer) becomes a :class:`~bench.api.records.Failure` of stage ``worker`` for exactly its task, and a
  fresh worker takes its place;
* a task that runs longer than ``timeout`` seconds (a codec hanging in Python or in native code) has
  its worker killed, with every process the worker started, and becomes a failure of stage
  ``timeout``;
* on an interruption (Ctrl-C, SIGTERM) the workers are killed at once, not waited for.

Workers run in process groups of their own (the terminal's Ctrl-C reaches the runner only, which
ends them) and die with the fork server, which dies with the runner's process, even after a ``kill -9``
and whatever a worker is doing (Linux: ``PR_SET_PDEATHSIG``, :mod:`bench.executors.fork_server`). A
worker starts only for a task that waits: never more workers than tasks. Results already handed back
are never lost.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Iterator

from bench.api.executor import Executor
from bench.api.records import Failure, Record, Scores
from bench.api.task import MeasureOptions, ScoreTask, Task
from bench.executors.fork_server import PARENT_ENV, die_with_server

__all__ = ["LocalExecutor", "worker_context"]

#: What the fork server imports once for all workers (first: what makes it die with its parent).
PRELOAD = ["bench.executors.fork_server", "bench.executors.measure"]


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
    if threading.current_thread() is threading.main_thread():  # (see bench.executors.fork_server)
        os.environ[PARENT_ENV] = str(os.getpid())
    try:
        forkserver.ensure_running()
    finally:
        os.environ.pop(PARENT_ENV, None)
    return ctx


def _worker_main(conn, options: MeasureOptions) -> None:
    """A worker: run each task received on ``conn`` and send back its result, until told to stop."""
    die_with_server()
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # its own process group: the terminal's Ctrl-C goes to the runner, which ends the workers
    from bench.executors import measure  # the fork server has it already

    measure.init_worker(options)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the runner is gone
            return
        if task is None:
            return
        conn.send(measure.run_in_worker(task))


class _Worker:
    """One worker process, the task it holds and since when."""

    def __init__(self, ctx, options: MeasureOptions) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, options), name="codec-bench worker", daemon=True)
        self.process.start()
        child.close()
        self.task: Task | ScoreTask | None = None
        self.started = 0.0

    def give(self, task: Task | ScoreTask) -> None:
        self.conn.send(task)
        self.task, self.started = task, time.monotonic()

    def kill(self) -> None:
        """SIGKILL the worker and every process in its group (programs a codec started)."""
        pid = self.process.pid
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, AttributeError):
                pass
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        """Let the worker finish and exit (it holds no task)."""
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


class LocalExecutor(Executor):
    """``jobs`` worker processes on this machine, ``timeout`` seconds per task at most (0: no limit)."""

    name = "local"

    def __init__(self, options: MeasureOptions, jobs: int, timeout: float = 0) -> None:
        super().__init__(options, jobs, timeout)
        self._ctx = worker_context()
        self._workers: list[_Worker] = []
        self._queue: deque[Task | ScoreTask] = deque()

    @property
    def pending(self) -> int:
        return len(self._queue) + sum(w.task is not None for w in self._workers)

    def submit(self, task: Task | ScoreTask) -> None:
        self._queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand queued tasks to idle workers, starting workers up to ``jobs``."""
        while self._queue:
            idle = next((w for w in self._workers if w.task is None), None)
            if idle is None:
                if len(self._workers) >= self.jobs:
                    return
                idle = _Worker(self._ctx, self.options)
                self._workers.append(idle)
            idle.give(self._queue.popleft())

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._workers.remove(worker)

    def results(self) -> Iterator[Record | Scores | Failure]:
        while self.pending:
            self._dispatch()
            busy = [w for w in self._workers if w.task is not None]
            wait_s = None
            if self.timeout:
                wait_s = max(0.0, min(w.started + self.timeout for w in busy) - time.monotonic())
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=wait_s))
            finished: list[Record | Scores | Failure] = []
            for worker in busy:
                task = worker.task
                if worker.conn in ready:
                    try:
                        finished.append(worker.conn.recv())
                        worker.task = None
                        continue
                    except (EOFError, OSError):
                        pass  # it died while sending: a crash
                if worker.conn in ready or worker.process.sentinel in ready:
                    worker.process.join(1)
                    code = worker.process.exitcode
                    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
                    finished.append(Failure(
                        task.codec, task.quality, task.image, "worker",
                        f"the worker process died while running this task ({how}: crash in native code, abort, "
                        "os._exit or out of memory)",
                    ))  # fmt: skip
                    self._replace(worker)
                elif self.timeout and time.monotonic() - worker.started >= self.timeout:
                    finished.append(Failure(
                        task.codec, task.quality, task.image, "timeout",
                        f"no result after {self.timeout:g} s (--timeout); the worker and its processes were killed",
                    ))  # fmt: skip
                    self._replace(worker)
            yield from finished

    def cancel(self) -> None:
        self._queue.clear()

    def shutdown(self, wait: bool = True) -> None:
        self._queue.clear()
        workers, self._workers = self._workers, []
        for worker in workers:
            if wait and worker.task is None:
                worker.stop()
            else:
                worker.kill()
