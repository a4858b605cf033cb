"""The ``ray`` executor: tasks run on the workers of a Ray cluster (``bench run``/``bench score --executor ray``).

Where: the cluster at ``--ray-address`` (the executor's ``address``), else at ``$RAY_ADDRESS``, else a
Ray started on this machine for the run with ``-j`` CPUs and stopped at its end. A cluster's head that
accepts no connection within ``CONNECT_S`` seconds is an :class:`~bench.api.executor.ExecutorError`
naming the address (Ray itself would retry for minutes). Ray is an optional extra (``pip install
'codec-bench[ray]'``): :mod:`bench.api.executor` imports this module only when this executor is asked
for, so runs on the ``local`` executor never import Ray.

How (the actors are :class:`bench.executors.ray_node.NodeWorker`):

* **Workers.** One actor per CPU of each node, pinned to that node and asking Ray for one CPU, but no
  more actors than tasks waiting or running (one at least: it checks its node's versions before any
  task comes); tasks whose codec runs on ``--device cuda`` (or whose metrics do) go to actors asking
  for one GPU each instead (on a node with G GPUs: G GPU actors, the other CPUs get CPU actors). An
  actor measures with single-threaded libraries and keeps its codec instances, as a local worker does.
* **Inputs** are put into Ray's object store by the driver: a measurement's image once per image (a
  node fetches it once and all its actors read it in place, shared memory, whatever the number of
  tasks); a score task's files (``bench score``: the reference image, once per image, and the saved
  reconstruction or bitstream) as their bytes. Nodes read no file of the driver's machine.
* **Results stream back.** An actor is handed a batch of tasks (about ``BATCH_S`` seconds of work,
  from the task durations seen so far: 1 to ``MAX_BATCH`` tasks) and yields its results in order as
  they are made (a Ray streaming generator), grouped over at most ``bench.executors.ray_node.FLUSH_S`` seconds of
  work (a slower task's result comes at once; fast tasks share Ray's cost per object); the driver hands
  each result to the runner, which stays the only writer of the run's store. Files a measurement saves
  (bitstreams, reconstructions, the decoding check's) travel with the result and the driver writes
  them, so nodes need no shared file system.
* **Timeouts and crashes.** Results come in the batch's order, so the driver knows which tasks of a
  batch are not back yet and since when the actor has been silent. An actor silent for ``timeout``
  seconds is killed (the programs a codec started die with it); one whose process dies on a live node
  crashed. When it held one task, that task is the culprit: a ``timeout`` or ``worker`` failure, as
  locally. When it held several (the culprit is one of them; the others may have been done and not yet
  handed back), they are measured again one at a time, each alone on an actor, so the failure lands on
  the task that causes it (a task that hangs in a batch thus waits ``timeout`` twice).
* **Lost nodes.** An actor lost with its node (the node is dead, or the connection to it broke) costs
  nothing: its tasks are queued again and measured on other nodes (a task lost that way ``MAX_LOST``
  times is a ``worker`` failure), and no new actor goes to a node whose connection broke for
  ``SUSPECT_S`` seconds. A result is never handed back twice.
* **Versions.** Each actor describes its node before it gets a task (host, CPU, GPUs, Python, package
  and native library versions, a digest of codec-bench's own files: :func:`bench.executors.ray_node.describe_node`),
  and sends each codec's library versions with that codec's first result; a node whose versions differ
  from the driver's is refused (its actors are stopped, its tasks measured elsewhere, a warning of the
  run names it): results of different versions are never mixed. With no node left, the run cannot go on.
* **Plugins** (``--plugin``) travel as their bytes, with the files of their folder when it is a trained
  family (:func:`bench.executors.ray_node.pack_plugin`); nothing needs copying by hand.

Nodes joining the cluster during a run get actors within ``REFRESH_S`` seconds. Records name their node
in ``extra["node"]`` (the first 12 hex digits of its Ray node id); :meth:`RayExecutor.nodes` describes them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import numpy as np

from bench.api.executor import RAY_CONNECT_S as CONNECT_S
from bench.api.executor import Executor, ExecutorError
from bench.api.files import atomic_write_bytes
from bench.api.processes import one_line
from bench.api.records import Failure, Record, Scores
from bench.api.task import MeasureOptions, ScoreTask, Task

__all__ = ["RayExecutor", "node_key", "BATCH_S", "MAX_BATCH", "MAX_LOST", "CONNECT_S"]

#: Seconds of work handed to an actor at once (from the mean task duration seen so far).
BATCH_S = 0.25
#: Most tasks handed to an actor at once.
MAX_BATCH = 256
#: Seconds between two looks at the cluster's nodes (nodes joining or gone).
REFRESH_S = 1.0
#: Seconds a node whose connection broke gets no new actor (Ray declares a dead node dead within them).
SUSPECT_S = 30.0
#: Times a task may be lost with its node or connection before it is a ``worker`` failure.
MAX_LOST = 3
#: Seconds to wait for a first worker (at start) or for any worker (while tasks wait) before giving up.
START_S = 180.0
INSTALL_HINT = "pip install 'codec-bench[ray]'"


def node_key(node_id: str) -> str:
    """The name of a Ray node in records (``extra["node"]``) and ``run.json``: 12 hex digits of its id."""
    return node_id[:12]


def _head(address: str) -> tuple[str, int] | None:
    """The host and port of a cluster's ``address`` (``host:port``, ``[v6]:port``, ``ray://host:port``);
    None for those without (``auto``: Ray looks for a cluster on this machine)."""
    host, colon, port = address.split("://", 1)[-1].rpartition(":")
    return (host.strip("[]"), int(port)) if colon and host and port.isdigit() else None


def _await_head(address: str, source: str) -> None:
    """Return once the head at ``address`` accepts a connection; :class:`ExecutorError` (one line naming
    the address, given by ``source``, and what to check) when none does within ``CONNECT_S`` seconds."""
    head = _head(address)
    if head is None:
        return
    deadline, waited = time.monotonic() + CONNECT_S, f" within {CONNECT_S:g} s"
    while True:
        try:
            with socket.create_connection(head, timeout=max(0.1, deadline - time.monotonic())):
                return
        except socket.gaierror as exc:  # no such host: waiting will not make one
            reason, waited = str(exc), ""
            break
        except OSError as exc:  # refused (the head may be starting) or no answer: try again until the deadline
            reason = str(exc) or type(exc).__name__
        if time.monotonic() + 0.5 >= deadline:
            break
        time.sleep(0.5)
    host, port = head
    raise ExecutorError(
        f"no Ray cluster answers at {address} ({source}){waited} ({reason}): check the address, that the "
        f"cluster's head runs (`ray status --address {address}` on a machine of the cluster) and that this "
        f"machine can reach {host} on port {port}"
    )


def _input_files(task: Task | ScoreTask) -> dict[str, str]:
    """The files of the driver's machine ``task`` needs on its node, each with the stage a task fails
    at when it cannot be read (as a local worker would)."""
    if isinstance(task, ScoreTask):
        roles = ((task.reference, "reference"), (task.reconstruction, "reconstruction"), (task.bitstream, "decode"))
        return {path: stage for path, stage in roles if path}
    return {task.source: "setup"}


def _read_input(task: Task | ScoreTask, path: str) -> Any:
    """What goes into the object store for ``path``: a measurement's pixels, a score task's file bytes."""
    with open(path, "rb") as fh:
        return fh.read() if isinstance(task, ScoreTask) else np.load(fh)


@dataclass(eq=False)
class _Actor:
    """One measuring actor: its node, whether it holds a GPU, the reference of its description until it
    answers (None once accepted), the tasks it holds (in order, those not handed back yet), the stream of
    their results and ``since`` when it has been silent (its batch began or its last results came; the
    driver's clock)."""

    handle: Any
    node: str
    gpu: bool
    ready: Any
    batch: list[Task | ScoreTask] = field(default_factory=list)
    stream: Any = None
    since: float = 0.0
    retire: bool = False


class RayExecutor(Executor):
    """Tasks measured by actors on the nodes of a Ray cluster (see the module docstring)."""

    name = "ray"
    uses_address = True

    def __init__(self, options: MeasureOptions, jobs: int, timeout: float = 0, address: str | None = None) -> None:
        super().__init__(options, jobs, timeout, address)
        try:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        except ImportError:
            raise ExecutorError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
        from bench.executors.ray_node import NodeWorker, describe_node, pack_plugin

        self._ray = ray
        self._affinity = NodeAffinitySchedulingStrategy
        self._owns_connection = False
        self._actors: list[_Actor] = []
        self._queues: dict[bool, deque[Task | ScoreTask]] = {False: deque(), True: deque()}  # by "needs a GPU"
        self._alone: dict[bool, deque[Task | ScoreTask]] = {False: deque(), True: deque()}  # suspects: one per actor
        self._pools = {False: False, True: False}  # which kinds of actors the run uses
        self._finished: list[Record | Scores | Failure] = []  # results made while not yielding (lost tasks' failures)
        self._inputs: dict[str, list] = {}  # file of the driver's -> [object ref, tasks holding it]
        self._latest_inputs: set[str] = set()
        self._returned: set[tuple[str, float, str]] = set()
        self._lost = Counter()
        self._alive: dict[str, dict] = {}
        self._refused: dict[str, str] = {}
        self._suspect: dict[str, float] = {}
        self._described: dict[str, dict] = {}
        self._mean_s: float | None = None
        self._next_refresh = 0.0
        self._room = {False: 0, True: 0}  # actors of each kind (by "holds a GPU") the usable nodes take
        self._waiting_since: dict[bool, float | None] = {False: None, True: None}
        self._registry = None
        self._codec_versions: dict[str, dict | None] = {}
        self._uses_device: dict[str, bool] = {}
        self._connect()
        try:
            self._expected = describe_node()
            self._plugins = ray.put([pack_plugin(path) for path in options.plugins])
            self._actor_class = ray.remote(NodeWorker)
            if options.metric_device != "cpu":
                self._activate(True)
            elif options.device == "cpu":
                self._activate(False)
            if any(self._pools.values()):
                self._await_worker()
        except BaseException:
            self.shutdown(wait=False)
            raise

    # -- connection -------------------------------------------------------------------------------
    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():  # this process is a Ray driver already (a notebook, a script): use it as it is
            return
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if address:
            _await_head(address, "--ray-address" if self.address else "$RAY_ADDRESS")
        try:
            if address:
                ray.init(address=address, logging_level=logging.ERROR)
            else:
                ray.init(address="local", num_cpus=self.jobs, include_dashboard=False, logging_level=logging.ERROR)
        except Exception as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise ExecutorError(f"cannot start or reach {where}: {one_line(str(exc) or type(exc).__name__)}") from None
        self._owns_connection = True

    # -- the interface ----------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        """Tasks the cluster holds at once: one batch per actor it has room for."""
        return max(1, sum(self._room.values()) * self._batch_size(MAX_BATCH, 1))

    @property
    def pending(self) -> int:
        queued = sum(map(len, self._queues.values())) + sum(map(len, self._alone.values()))
        return queued + sum(len(actor.batch) for actor in self._actors) + len(self._finished)

    def submit(self, task: Task | ScoreTask) -> None:
        files = _input_files(task)
        for path, stage in files.items():
            if path not in self._inputs:
                try:
                    self._inputs[path] = [self._ray.put(_read_input(task, path)), 0]
                except (OSError, ValueError) as exc:  # gone or damaged since it was planned: this task fails
                    detail = f"{path} cannot be read: {one_line(str(exc) or type(exc).__name__)}"
                    self._finished.append(Failure(task.codec, task.quality, task.image, stage, detail))
                    return
        for path in files:
            self._inputs[path][1] += 1
        self._latest_inputs = set(files)
        gpu = self._needs_gpu(task)
        self._activate(gpu)
        self._queues[gpu].append(task)
        if self._next_refresh and len(self._actors) < sum(self._room.values()):  # room for more actors:
            if self._workers(gpu) < min(self._wanted(gpu), self._room[gpu]):  # start those the tasks need soon
                self._next_refresh = 0.0

    def results(self) -> Iterator[Record | Scores | Failure]:
        while self.pending:
            if self._finished:
                finished, self._finished = self._finished, []
                yield from finished
                continue
            now = time.monotonic()
            if now >= self._next_refresh:
                self._refresh()
            self._dispatch()
            self._check_workers(now)
            deadline = self._next_refresh
            if self.timeout:
                deadline = min([deadline, *(a.since + self.timeout for a in self._actors if a.batch)])
            self._poll(max(0.0, deadline - time.monotonic()))
            self._expire()

    def cancel(self) -> None:
        for queue in (*self._queues.values(), *self._alone.values()):
            for task in queue:
                self._release(task)
            queue.clear()
        for actor in self._actors:  # the task each actor is on still comes back; the rest of its batch does not
            for task in actor.batch[1:]:
                self._release(task)
            del actor.batch[1:]
            actor.retire = True

    def shutdown(self, wait: bool = True) -> None:
        actors, self._actors = self._actors, []
        for actor in actors:
            self._kill(actor)
        for queue in (*self._queues.values(), *self._alone.values()):
            queue.clear()
        self._inputs.clear()
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_connection = False

    def nodes(self) -> dict[str, dict]:
        return {key: dict(info) for key, info in self._described.items()}

    # -- actors -----------------------------------------------------------------------------------
    def _activate(self, gpu: bool) -> None:
        """Use actors of that kind from now on (GPU actors: tasks that need a GPU)."""
        if self._pools[gpu]:
            return
        if gpu:
            self._list_live_nodes()
            if not any(info.get("Resources", {}).get("GPU", 0) >= 1 for info in self._alive.values()):
                raise ExecutorError("tasks of this run need a GPU (--device), but no node of the Ray cluster has one")
        self._pools[gpu] = True
        self._next_refresh = 0.0

    def _start(self, node: str, gpu: bool) -> None:
        handle = self._actor_class.options(
            num_cpus=1,
            num_gpus=1 if gpu else 0,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy=self._affinity(node_id=node, soft=False),
        ).remote(self.options, self._plugins, gpu)
        self._actors.append(_Actor(handle, node, gpu, ready=handle.describe.remote()))

    def _kill(self, actor: _Actor) -> None:
        try:
            self._ray.kill(actor.handle, no_restart=True)
        except Exception:  # gone already
            pass

    def _drop(self, actor: _Actor) -> None:
        """Stop ``actor`` and forget it (its tasks are the caller's business); a replacement may start."""
        if actor in self._actors:
            self._actors.remove(actor)
        self._kill(actor)
        self._next_refresh = 0.0

    def _refresh(self) -> None:
        """Look at the cluster: actors of dead nodes are lost, live nodes get the actors they lack (as many
        as the tasks need: :meth:`_wanted`)."""
        now = time.monotonic()
        self._next_refresh = now + REFRESH_S
        self._list_live_nodes()
        for actor in list(self._actors):
            if actor.node not in self._alive:
                self._finished += self._handle_lost_actor(actor, None, node_dead=True)
        missing = {gpu: self._wanted(gpu) - self._workers(gpu) for gpu in (True, False)}
        self._room = {False: 0, True: 0}
        for node, info in self._usable_nodes(now).items():
            for gpu, places in self._places(info).items():
                self._room[gpu] += places
                mine = [a for a in self._actors if a.node == node and a.gpu == gpu and not a.retire]
                for _ in range(min(places - len(mine), missing[gpu])):
                    self._start(node, gpu)
                    missing[gpu] -= 1
                for extra in sorted(mine, key=lambda a: bool(a.batch))[: max(0, len(mine) - places)]:
                    extra.retire = True

    def _usable_nodes(self, now: float) -> dict[str, dict]:
        """The live nodes that may get actors (neither refused nor suspect), as Ray last listed them."""
        return {node: info for node, info in self._alive.items()
                if node not in self._refused and self._suspect.get(node, 0.0) <= now}  # fmt: skip

    def _places(self, info: dict) -> dict[bool, int]:
        """How many actors of each kind (by "holds a GPU") a node Ray lists with ``info`` takes, for the
        kinds the run uses: one per GPU, one per CPU left."""
        resources = info.get("Resources", {})
        gpus = int(resources.get("GPU", 0)) if self._pools[True] else 0
        cpus = max(0, int(resources.get("CPU", 0)) - gpus) if self._pools[False] else 0
        return {True: gpus, False: cpus}

    def _workers(self, gpu: bool) -> int:
        """Actors of that kind, starting or started, that do not retire."""
        return sum(actor.gpu == gpu and not actor.retire for actor in self._actors)

    def _wanted(self, gpu: bool) -> int:
        """Actors of that kind the tasks need: one per task waiting and per busy actor, one at least
        once the kind is used (it checks its node before any task comes)."""
        if not self._pools[gpu]:
            return 0
        waiting = len(self._queues[gpu]) + len(self._alone[gpu])
        return max(1, waiting + sum(actor.gpu == gpu and bool(actor.batch) for actor in self._actors))

    def _list_live_nodes(self) -> None:
        """The cluster's live nodes, as Ray lists them now."""
        self._alive = {info["NodeID"]: info for info in self._ray.nodes() if info.get("Alive")}

    def _node_alive(self, node: str) -> bool:
        return any(info["NodeID"] == node and info.get("Alive") for info in self._ray.nodes())

    def _await_worker(self) -> None:
        """Wait until an actor is accepted; :class:`ExecutorError` when every node is refused or none
        starts within ``START_S`` seconds."""
        start = time.monotonic()
        while not any(actor.ready is None for actor in self._actors):
            if self._alive and all(node in self._refused for node in self._alive):
                raise ExecutorError(self._refusals())
            if time.monotonic() - start > START_S:
                raise ExecutorError(f"no Ray worker started within {START_S:g} s ({self._capacity()})")
            if time.monotonic() >= self._next_refresh:
                self._refresh()
            self._poll(max(0.0, self._next_refresh - time.monotonic()))

    def _check_workers(self, now: float) -> None:
        """Give up (:class:`ExecutorError`, the run breaks) when tasks wait and no node can measure them."""
        for gpu, queue in self._queues.items():
            if not (queue or self._alone[gpu]) or any(actor.gpu == gpu and not actor.retire for actor in self._actors):
                self._waiting_since[gpu] = None
                continue
            if self._alive and all(node in self._refused for node in self._alive):
                raise ExecutorError(self._refusals())
            since = self._waiting_since[gpu] = self._waiting_since[gpu] or now
            if now - since > START_S:
                kind = "GPU" if gpu else "CPU"
                raise ExecutorError(f"no Ray worker for {kind} tasks for {START_S:g} s ({self._capacity()})")

    def _capacity(self) -> str:
        cpus = sum(info.get("Resources", {}).get("CPU", 0) for info in self._alive.values())
        gpus = sum(info.get("Resources", {}).get("GPU", 0) for info in self._alive.values())
        return f"the cluster has {len(self._alive)} live node(s), {cpus:g} CPU(s), {gpus:g} GPU(s)"

    def _refusals(self) -> str:
        reasons = "; ".join(f"node {node_key(node)}: {reason}" for node, reason in self._refused.items())
        return f"no node of the Ray cluster can measure for this run ({reasons})"

    def _refuse(self, node: str, reason: str) -> None:
        """Measure nothing more on ``node``: its actors stop, their tasks are queued again."""
        if node in self._refused:
            return
        self._refused[node] = reason
        key = node_key(node)
        if key in self._described:
            self._described[key]["refused"] = reason
        host = self._alive.get(node, {}).get("NodeManagerHostname", "?")
        self.warnings.append(f"Ray node {key} ({host}) was refused: {reason}; other nodes measured its tasks")
        for actor in [a for a in self._actors if a.node == node]:
            self._requeue(actor.batch)
            actor.batch = []
            self._drop(actor)

    # -- dispatching and results ------------------------------------------------------------------
    def _needs_gpu(self, task: Task | ScoreTask) -> bool:
        if self.options.metric_device != "cpu":
            return True
        if self.options.device == "cpu" or (isinstance(task, ScoreTask) and not task.bitstream):
            return False  # (a score task without a bitstream to decode needs no codec)
        uses = self._uses_device.get(task.codec)
        if uses is None:
            try:
                uses = bool(self._codecs().get(task.codec).cls.uses_device)
            except Exception:
                uses = False
            self._uses_device[task.codec] = uses
        if uses and self.options.device == "auto":
            if not self._alive:
                self._list_live_nodes()
            return any(info.get("Resources", {}).get("GPU", 0) >= 1 for info in self._alive.values())
        return uses

    def _codecs(self):
        if self._registry is None:
            from bench.api.codec_registry import discover

            self._registry = discover(self.options.plugins)
        return self._registry

    def _expected_versions(self, codec: str) -> dict | None:
        """The library versions of ``codec`` on the driver (None where it cannot be made here)."""
        if codec not in self._codec_versions:
            try:
                made = self._codecs().get(codec).create(self.options.device, self.options.half)
                self._codec_versions[codec] = dict(made.versions())
            except Exception:
                self._codec_versions[codec] = None
        return self._codec_versions[codec]

    def _batch_size(self, queued: int, workers: int) -> int:
        size = 1 if self._mean_s is None else int(BATCH_S / max(self._mean_s, 1e-6))
        return max(1, min(MAX_BATCH, size, -(-queued // max(1, workers))))

    def _dispatch(self) -> None:
        """Hand a batch to every accepted actor that holds none; stop idle actors that retire."""
        for actor in list(self._actors):
            if actor.ready is not None or actor.batch:
                continue
            if actor.retire:
                self._drop(actor)
                continue
            queue, alone = self._queues[actor.gpu], self._alone[actor.gpu]
            if alone:
                batch = [alone.popleft()]
            elif queue:
                workers = sum(a.gpu == actor.gpu and not a.retire for a in self._actors)  # starting ones too: spread
                batch = [queue.popleft() for _ in range(min(len(queue), self._batch_size(len(queue), workers)))]
            else:
                continue
            inputs = {path: self._inputs[path][0] for task in batch for path in _input_files(task)}
            actor.stream = actor.handle.run_batch.remote(batch, inputs)
            actor.batch, actor.since = batch, time.monotonic()

    def _poll(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for actors to answer; take in every answer there is."""
        waiting: dict[Any, _Actor] = {}
        for actor in self._actors:
            if actor.ready is not None:
                waiting[actor.ready] = actor
            elif actor.batch:
                waiting[actor.stream] = actor
        if not waiting:
            time.sleep(min(timeout, 0.2))
            return
        refs = list(waiting)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            actor = waiting[ref]
            if actor not in self._actors:  # stopped meanwhile (its node was refused)
                continue
            if actor.ready is not None:
                self._accept(actor)
            else:
                self._drain(actor)

    def _accept(self, actor: _Actor) -> None:
        """An actor described its node: take it, or refuse the node."""
        ray = self._ray
        try:
            info = ray.get(actor.ready)
        except ray.exceptions.RayError as exc:
            self._drop(actor)
            if self._node_alive(actor.node) and not isinstance(exc, ray.exceptions.ActorUnavailableError):
                self._refuse(actor.node, f"its worker could not start: {one_line(str(exc))}")
            return
        actor.ready = None
        from bench.executors.ray_node import version_differences

        differences = version_differences(self._expected, info)
        key = node_key(actor.node)
        if key not in self._described:
            resources = self._alive.get(actor.node, {}).get("Resources", {})
            address = self._alive.get(actor.node, {}).get("NodeManagerAddress")
            self._described[key] = {
                "node_id": actor.node,
                "address": address,
                "resources": {name: resources.get(name, 0) for name in ("CPU", "GPU")},
                **{k: v for k, v in info.items() if k not in ("node_id", "pid")},
            }
        if differences:
            more = f" and {len(differences) - 5} more" if len(differences) > 5 else ""
            self._refuse(actor.node, f"versions differ from the driver's: {', '.join(differences[:5])}{more}")

    def _drain(self, actor: _Actor) -> None:
        """Take every result ``actor``'s stream has ready."""
        ray, stream = self._ray, actor.stream
        while actor.batch and actor in self._actors:
            if not stream.next_ready() and not stream.is_finished():
                return
            try:
                group = ray.get(next(stream))
            except StopIteration:
                self._finished += self._handle_lost_actor(actor, None)
                return
            except ray.exceptions.RayActorError as exc:
                self._finished += self._handle_lost_actor(actor, exc)
                return
            except ray.exceptions.RayError as exc:  # run_batch() itself raised (a codec's errors are failures)
                tasks, actor.batch = actor.batch, []
                self._finished += self._fail_or_isolate(tasks, "worker", f"the Ray worker failed: {one_line(str(exc))}")
                return
            for outcome in group:
                if actor not in self._actors or not actor.batch:  # its node was refused, or the run cancelled
                    return
                self._finished += self._complete_task(actor, outcome)

    def _complete_task(self, actor: _Actor, outcome) -> list[Record | Scores | Failure]:
        """``actor``'s current task is done: its result checked (the codec's versions), a measurement's
        files written and its record named after its node; handed back unless it was already."""
        task = actor.batch[0]
        if outcome.versions is not None:
            expected = self._expected_versions(task.codec)
            if expected is not None and expected != outcome.versions:
                differ = ", ".join(
                    f"{name} {outcome.versions.get(name, 'missing')} (driver: {expected.get(name, 'missing')})"
                    for name in sorted(set(expected) | set(outcome.versions))
                    if expected.get(name) != outcome.versions.get(name)
                )
                self._refuse(actor.node, f"codec {task.codec}'s versions differ from the driver's: {differ}")
                return []
        actor.batch.pop(0)
        actor.since = time.monotonic()
        seconds = max(outcome.seconds, 1e-6)
        self._mean_s = seconds if self._mean_s is None else 0.8 * self._mean_s + 0.2 * seconds
        result = outcome.result
        if isinstance(result, Record):
            self._write_files(task, outcome.files)
            result = replace(result, extra={**result.extra, "node": node_key(actor.node)})
        return self._hand_back(task, result)

    def _write_files(self, task: Task, files) -> None:
        """Write the files a measurement saved on its node where the run keeps them."""
        folders = {"reconstructions": self.options.reconstructions_dir, "bitstreams": self.options.bitstreams_dir}
        for kind, relative, data in files:
            if kind == "check" and task.check_path:
                atomic_write_bytes(task.check_path + relative.removeprefix("task"), data)
            elif folders.get(kind) is not None:
                atomic_write_bytes(folders[kind] / relative, data)

    def _handle_lost_actor(self, actor: _Actor, exc: Exception | None, node_dead: bool | None = None) -> list[Failure]:
        """``actor`` is gone (``exc`` says how, if known): queue its tasks again, or fail the one it
        crashed on."""
        self._drop(actor)
        tasks, actor.batch = actor.batch, []
        if not tasks:
            return []
        ray = self._ray
        crashed = isinstance(exc, ray.exceptions.ActorDiedError) and not getattr(exc, "preempted", False)
        dead = node_dead if node_dead is not None else not self._node_alive(actor.node)
        if crashed and not dead:
            return self._fail_or_isolate(tasks, "worker", "the Ray worker process died while running this task "
                                         "(crash in native code, abort, os._exit or out of memory)")  # fmt: skip
        if not dead:  # the connection broke: no new actor there until Ray has made up its mind about the node
            self._suspect[actor.node] = time.monotonic() + SUSPECT_S
        failures, again = [], []
        for task in tasks:
            self._lost[task.key] += 1
            if self._lost[task.key] < MAX_LOST:
                again.append(task)
            else:
                failures += self._hand_back(task, Failure(
                    task.codec, task.quality, task.image, "worker",
                    f"the Ray worker running this task was lost {MAX_LOST} times (its node died or the connection "
                    "to it broke)",
                ))  # fmt: skip
        self._requeue(again)
        return failures

    def _fail_or_isolate(self, tasks: list[Task | ScoreTask], stage: str, error: str) -> list[Failure]:
        """An actor crashed or hung holding ``tasks`` (not handed back yet, in order): a failure of the
        task when it held one, else each of them measured again alone (see the module docstring)."""
        if len(tasks) == 1:
            (task,) = tasks
            return self._hand_back(task, Failure(task.codec, task.quality, task.image, stage, error))
        self._requeue(tasks, alone=True)
        return []

    def _expire(self) -> None:
        """Stop the actors whose current task has run past the timeout."""
        if not self.timeout:
            return
        now = time.monotonic()
        for actor in [a for a in self._actors if a.batch and now - a.since >= self.timeout]:
            tasks, actor.batch = actor.batch, []
            self._drop(actor)
            error = (f"no result after {self.timeout:g} s (--timeout); its Ray worker and the processes it started "
                     "were killed")  # fmt: skip
            self._finished += self._fail_or_isolate(tasks, "timeout", error)

    def _requeue(self, tasks: list[Task | ScoreTask], alone: bool = False) -> None:
        """Put ``tasks`` back at the front of their queues, in order (``alone``: the queue of tasks
        measured one per batch, served first)."""
        for task in reversed(tasks):
            (self._alone if alone else self._queues)[self._needs_gpu(task)].appendleft(task)

    def _release(self, task: Task | ScoreTask) -> None:
        """``task`` no longer needs its inputs: drop each from the object store when no task does
        (unless more tasks of it may still come: the inputs of the latest task submitted)."""
        for path in _input_files(task):
            entry = self._inputs.get(path)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0 and path not in self._latest_inputs:
                    del self._inputs[path]

    def _hand_back(self, task: Task | ScoreTask, result: Record | Scores | Failure) -> list[Record | Scores | Failure]:
        """``[result]`` the first time a result of ``task`` is handed back, else nothing."""
        self._release(task)
        if task.key in self._returned:
            return []
        self._returned.add(task.key)
        return [result]
