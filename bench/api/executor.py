"""The seam between the commands and wherever tasks run: the :class:`Executor` interface.

An executor takes tasks of two kinds and hands back, as each finishes, its result or a
:class:`~bench.api.records.Failure`; it never raises for a task that fails, whatever happened to the
process that ran it:

* a :class:`~bench.api.task.Task` (``bench run``: measure a codec at a quality on an image) gives a
  :class:`~bench.api.records.Record`;
* a :class:`~bench.api.task.ScoreTask` (``bench score``: add metrics to a record of a finished run)
  gives :class:`~bench.api.records.Scores`.

Executors need not tell them apart: the code that runs a task in a worker process,
:meth:`bench.executors.measure.Measurer.run` (or :func:`~bench.executors.measure.init_worker` and
:func:`~bench.executors.measure.run_in_worker` in a process pool), takes either; both kinds have
``codec``, ``quality``, ``image`` and ``key``, which is all an executor needs to fail one. Only an
executor whose workers do not share this machine's files ships what a task names (a task's staged
image ``source``; a score task's ``reference``, ``reconstruction`` or ``bitstream``). The commands
plan the tasks, feed them with :func:`run_tasks` and write what comes back to the store; they know
nothing else about executors. Their ``--executor``, ``--ray-address`` and ``--timeout`` options are
declared once here (:func:`executor_field`, :func:`ray_address_field`, :func:`timeout_field`).

Executors are registered by name, like codecs and metrics: the built-in ``local`` (worker
processes on this machine, :mod:`bench.executors.local`) and ``ray`` (a Ray cluster,
:mod:`bench.executors.ray_driver`; Ray is imported only when that executor is used), and classes that
installed packages declare in the entry-point group ``codec_bench.executors``.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import field
from typing import Any, ClassVar, Iterable, Iterator

from bench.api.options import non_negative_float, option
from bench.api.plugins import entry_points_of
from bench.api.records import Failure, Record, Scores
from bench.api.task import MeasureOptions, ScoreTask, Task

__all__ = [
    "Executor",
    "ExecutorError",
    "run_tasks",
    "executor_names",
    "create_executor",
    "ENTRY_POINT_GROUP",
    "DEFAULT_TIMEOUT_S",
    "RAY_CONNECT_S",
    "executor_field",
    "ray_address_field",
    "timeout_field",
]

ENTRY_POINT_GROUP = "codec_bench.executors"
#: Built-in executors: name -> "module:Class" (imported only when used).
BUILTIN = {"local": "bench.executors.local:LocalExecutor", "ray": "bench.executors.ray_driver:RayExecutor"}
#: Longest one task may take by default (seconds): generous, VVC reference encoders take minutes per image.
DEFAULT_TIMEOUT_S = 3600.0
#: Longest ``--executor ray`` waits for the head of the cluster at ``--ray-address`` to answer (seconds).
RAY_CONNECT_S = 30.0


def executor_field() -> Any:
    """The configuration field of ``--executor NAME`` (``bench run``, ``bench score``)."""
    return field(default="local", metadata=option(
        "--executor", help="where tasks run (default: local, worker processes on this machine; ray: the workers of "
        "a Ray cluster, needs pip install 'codec-bench[ray]'; packages can add executors)"))  # fmt: skip


def ray_address_field() -> Any:
    """The configuration field of ``--ray-address ADDRESS`` (``bench run``, ``bench score``)."""
    return field(default=None, metadata=option(
        "--ray-address", metavar="ADDRESS",
        help="the Ray cluster of --executor ray (host:port of its head, or 'auto'; default: $RAY_ADDRESS, else a "
        f"Ray started on this machine for the command, with -j CPUs); a head that does not answer within "
        f"{RAY_CONNECT_S:g} s is an error"))  # fmt: skip


def timeout_field() -> Any:
    """The configuration field of ``--timeout SECONDS`` (``bench run``, ``bench score``)."""
    return field(default=DEFAULT_TIMEOUT_S, metadata=option(
        "--timeout", parse=non_negative_float, metavar="SECONDS",
        help="longest a task (bench run: one encode, decode and scoring; bench score: one record's scoring) may "
        "take before it is stopped and counted as a timeout failure; 0 for no limit "
        f"(default: {DEFAULT_TIMEOUT_S:g})"))  # fmt: skip


class ExecutorError(RuntimeError):
    """An executor that does not exist or cannot start."""


class Executor(abc.ABC):
    """Runs tasks somewhere and hands back their results as they finish.

    Tasks are :class:`~bench.api.task.Task` objects (their results: :class:`~bench.api.records.Record`) or
    :class:`~bench.api.task.ScoreTask` objects (their results: :class:`~bench.api.records.Scores`); the
    worker-side code runs either (see the module docstring), an executor only carries them there.

    Lifecycle: construct with the command's :class:`~bench.api.task.MeasureOptions`, the number of tasks to
    run at once, the longest a task may take (seconds, 0: no limit) and, for executors that use a
    cluster (``uses_address``), its ``address`` (None: the executor's default), :meth:`submit` tasks,
    iterate over :meth:`results`, :meth:`shutdown` (or use it as a context manager). :meth:`cancel`
    drops the tasks that have not started. A task that outlives ``timeout`` is stopped and handed back
    as a :class:`~bench.api.records.Failure` of stage ``timeout``; one whose process dies, of stage ``worker``.

    Executors that measure on several machines name the machine of each record in its
    ``extra["node"]`` and describe those machines in :meth:`nodes`; ``warnings`` holds what the run
    should report (a machine refused, ...).
    """

    name: ClassVar[str]
    #: True for executors that connect to a cluster at an address (``bench run --ray-address``)
    uses_address: ClassVar[bool] = False

    def __init__(self, options: MeasureOptions, jobs: int, timeout: float = 0, address: str | None = None) -> None:
        self.options = options
        self.jobs = jobs
        self.timeout = timeout
        self.address = address
        self.warnings: list[str] = []

    def nodes(self) -> dict[str, dict]:
        """The machines that measured, by the name records carry in ``extra["node"]`` (host, CPU, GPU,
        library versions); empty for an executor that measures on this machine only."""
        return {}

    @property
    def slots(self) -> int:
        """How many tasks run at once."""
        return self.jobs

    @property
    @abc.abstractmethod
    def pending(self) -> int:
        """Tasks submitted whose result has not been handed back yet."""

    @abc.abstractmethod
    def submit(self, task: Task | ScoreTask) -> None:
        """Queue ``task``; its result comes out of :meth:`results`."""

    @abc.abstractmethod
    def results(self) -> Iterator[Record | Scores | Failure]:
        """Results of submitted tasks in the order they finish, until none is pending.

        Tasks may be submitted between two results; the iterator then waits for those too.
        """

    @abc.abstractmethod
    def cancel(self) -> None:
        """Drop the submitted tasks that have not started (their results never come)."""

    @abc.abstractmethod
    def shutdown(self, wait: bool = True) -> None:
        """Stop every process or connection this executor started (``wait``: let running tasks
        finish first); safe to call twice."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # interrupted or failed: drop what has not started, do not wait
            self.cancel()
        self.shutdown(wait=exc[0] is None)


def run_tasks(
    executor: Executor, tasks: Iterable[Task | ScoreTask], *, ahead: int = 2
) -> Iterator[Record | Scores | Failure]:
    """Feed ``tasks`` to ``executor``, keeping ``ahead`` times its slots in flight, and yield every
    result as it finishes (tasks are drawn from ``tasks`` only as room frees up)."""
    queue = iter(tasks)
    exhausted = False

    def top_up() -> None:
        nonlocal exhausted
        while not exhausted and executor.pending < ahead * executor.slots:
            task = next(queue, None)
            if task is None:
                exhausted = True
                return
            executor.submit(task)

    top_up()
    while executor.pending:
        for result in executor.results():
            yield result
            top_up()
        top_up()


def _entry_point_classes() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points_of(ENTRY_POINT_GROUP)}


def executor_names() -> list[str]:
    """Names of the built-in executors and of those installed packages declare."""
    return [*BUILTIN, *(name for name in _entry_point_classes() if name not in BUILTIN)]


def create_executor(
    name: str, options: MeasureOptions, jobs: int, timeout: float = 0, address: str | None = None
) -> Executor:
    """An executor of the registered ``name`` for a command's tasks run with ``options``, ``jobs`` at a time,
    ``timeout`` seconds per task at most (0: no limit), on the cluster at ``address`` (executors that
    use one; None: their default)."""
    target = BUILTIN.get(name) or _entry_point_classes().get(name)
    if target is None:
        raise ExecutorError(f"unknown executor '{name}'; known executors: {', '.join(executor_names())}")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ExecutorError(f"executor '{name}' ({target}) cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ExecutorError(f"executor '{name}' ({target}) is not an Executor subclass")
    if address is not None and not cls.uses_address:
        raise ExecutorError(
            f"executor '{name}' runs on this machine and takes no cluster address (--ray-address is for --executor ray)"
        )
    if cls.uses_address:
        return cls(options, jobs, timeout, address)
    return cls(options, jobs, timeout)
