"""What the ``ray`` executor runs on each node of a Ray cluster: the actor that runs tasks
(:class:`NodeWorker`), the description of its node, and the ``--plugin`` files it unpacks there.

The driver (:mod:`bench.executors.ray_driver`) makes one :class:`NodeWorker` actor per CPU (or GPU) of each
node. An actor measures and scores like a local worker: single-threaded libraries
(:func:`bench.executors.measure.pin_threads`) and one :class:`~bench.executors.measure.Measurer` that keeps its codec
instances between tasks. What differs:

* the pixels of each image come from Ray's object store (fetched once per node, read in place by
  every actor of that node), not from a file of the driver's machine;
* so do the files a score task names (reference image, saved reconstruction or bitstream), as their
  bytes: the actor writes them to its scratch folder, scores from there, removes them, and names the
  driver's files, not its copies, in a failure's message;
* what a measurement saves (bitstreams, reconstructions, the decoding check's files) is written to
  a scratch folder of the node and handed back with the result as bytes: the driver writes them
  where the run keeps them, so nodes need no shared file system;
* plugin files arrive as their bytes (:class:`PluginFiles`) and are loaded from a copy in a node
  folder named after their content, so a plugin keeps its module name (its identity, see
  :mod:`bench.api.plugins`) on every node.

Nothing here imports Ray at module level except through the actor's methods, so the node
description and plugin packing can be tested (and used by the driver) like any module.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from bench.api.records import Failure, Record, Scores
from bench.api.task import MeasureOptions, ScoreTask, Task

__all__ = [
    "NodeWorker",
    "Outcome",
    "PluginFiles",
    "pack_plugin",
    "unpack_plugins",
    "describe_node",
    "version_differences",
    "codec_bench_digest",
    "VERSION_KEYS",
]

#: Seconds of measuring after which an actor hands back the results it holds (slower tasks: each at once).
FLUSH_S = 0.05
#: The parts of a node's description that must equal the driver's (else the node is refused).
VERSION_KEYS = ("python", "packages", "libraries", "codec_bench_files")
#: Folders of codec-bench whose Python and JSON files (family descriptions, dataset lists) make its digest.
_OWN_PACKAGES = ("bench", "bench_codecs", "bench_datasets")


def codec_bench_digest() -> str:
    """sha256 of codec-bench's own code: its ``.py`` files and the ``family.json`` and dataset JSON files
    of its packages, by path relative to the installation (two checkouts that differ, differ here)."""
    import bench

    root = Path(bench.__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in _OWN_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            relative = path.relative_to(root)
            wanted = path.suffix == ".py" or (path.suffix == ".json" and "checkpoints" not in relative.parts)
            if wanted and "__pycache__" not in relative.parts and path.is_file():
                digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def describe_node(gpu: bool = False) -> dict[str, Any]:
    """This machine as a node of a run: host, CPU, GPUs (names, when ``gpu``: they are looked up through
    torch), and the versions :data:`VERSION_KEYS` names (Python, packages, native libraries, codec-bench's
    own files)."""
    from bench.store.provenance import environment

    env = environment()
    gpus: list[str] = []
    if gpu:
        import torch

        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    try:
        import ray

        ray_version = ray.__version__
    except ImportError:
        ray_version = None
    return {
        "host": platform.node(),
        "platform": env["platform"],
        "cpu": env["cpu"],
        "cpu_count": env["cpu_count"],
        "gpus": gpus,
        "python": env["python"],
        "packages": {**env["packages"], "ray": ray_version},
        "libraries": env["libraries"],
        "codec_bench_files": codec_bench_digest(),
    }


def version_differences(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """How the versions of a node (``found``) differ from the driver's (``expected``): one short text
    per difference (``numpy 1.26.3 (driver: 1.26.4)``), empty when they are the same."""
    out = []
    for key in VERSION_KEYS:
        want, got = expected.get(key), found.get(key)
        if isinstance(want, dict) and isinstance(got, dict):
            for name in sorted(set(want) | set(got)):
                if want.get(name) != got.get(name):
                    out.append(f"{name} {got.get(name, 'missing')} (driver: {want.get(name, 'missing')})")
        elif want != got:
            if key == "codec_bench_files":  # digests: their first 12 hex digits say enough
                want, got = str(want)[:12], str(got)[:12]
            out.append(f"{key} {got} (driver: {want})")
    return out


@dataclass(frozen=True)
class PluginFiles:
    """A ``--plugin`` file as it travels to the nodes: ``name`` is the plugin file's name, ``files``
    (name, bytes) holds it and, when its folder is a trained family (it holds ``family.json``), the
    other files of that folder (the family's description and weights, not its subfolders)."""

    name: str
    files: tuple[tuple[str, bytes], ...]

    @property
    def digest(self) -> str:
        """16 hex digits of the sha256 of every file's name and bytes: the name of its copy on a node."""
        digest = hashlib.sha256()
        for name, data in self.files:
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return digest.hexdigest()[:16]


def pack_plugin(path: str | Path) -> PluginFiles:
    """The files that ship the plugin file ``path`` to the nodes (see :class:`PluginFiles`)."""
    path = Path(path).resolve()
    folder = path.parent
    names = [path.name]
    if (folder / "family.json").is_file():
        names += sorted(p.name for p in folder.iterdir() if p.is_file() and p != path and not p.name.startswith("."))
    return PluginFiles(path.name, tuple((name, (folder / name).read_bytes()) for name in names))


def unpack_plugins(plugins: list[PluginFiles] | tuple[PluginFiles, ...], root: Path) -> tuple[str, ...]:
    """Write each plugin's files to ``root/<digest>/`` (once per node: an existing copy is the same
    bytes) and return the paths of the plugin files there, in order."""
    paths = []
    for plugin in plugins:
        target = root / plugin.digest
        if not target.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f".{plugin.digest}-", dir=root))
            for name, data in plugin.files:
                (building / name).write_bytes(data)
            try:
                building.rename(target)
            except OSError:  # another actor of this node was first: its copy holds the same bytes
                shutil.rmtree(building, ignore_errors=True)
        paths.append(str(target / plugin.name))
    return tuple(paths)


def node_folder() -> Path:
    """This node's folder for codec-bench's Ray actors: unpacked plugins and scratch folders."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"codec-bench-ray-{uid}"


def _remove_stale_scratch(root: Path) -> None:
    """Scratch folders of actors that are gone (killed actors cannot remove their own)."""
    for folder in root.glob("scratch-*"):
        try:
            pid = int(folder.name.split("-")[1])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


@dataclass(frozen=True)
class Outcome:
    """What an actor hands back for one task: its ``result`` (a scoring's: :class:`Scores` or a failure);
    the ``files`` its measurement saved as
    (kind, path relative to that kind's folder, bytes), kind ``reconstructions``, ``bitstreams`` or
    ``check`` (the decoding check's ``.bits`` and ``.npy``); the codec's library ``versions`` with its
    first result on this actor (else None); ``seconds`` of wall-clock time the task took there."""

    result: Record | Scores | Failure
    files: tuple[tuple[str, str, bytes], ...] = ()
    versions: dict[str, Any] | None = None
    seconds: float = 0.0


class NodeWorker:
    """The actor that measures and scores: ``options`` as the driver has them (its folders are replaced by this
    node's scratch folder), the ``plugins`` to load, and whether it holds a ``gpu``."""

    def __init__(self, options: MeasureOptions, plugins: list[PluginFiles], gpu: bool) -> None:
        from bench.executors.measure import Measurer, pin_threads

        root = node_folder()
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_scratch(root)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"scratch-{os.getpid()}-", dir=root))
        self.gpu = gpu
        self.options = replace(
            options,
            plugins=unpack_plugins(plugins, root / "plugins"),
            reconstructions_dir=self.scratch / "reconstructions" if options.reconstructions_dir else None,
            bitstreams_dir=self.scratch / "bitstreams" if options.bitstreams_dir else None,
        )
        pin_threads()
        self.measurer = Measurer(self.options)
        self._versions_sent: set[str] = set()
        self._saves = options.reconstructions_dir is not None or options.bitstreams_dir is not None

    def describe(self) -> dict[str, Any]:
        """This node (:func:`describe_node`), with its Ray node id and this actor's process id."""
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), **describe_node(self.gpu)}

    def run_batch(self, tasks: list[Task | ScoreTask], inputs: dict[str, Any]) -> Iterator[list[Outcome]]:
        """Run ``tasks`` in order (measure a :class:`Task`, score a :class:`ScoreTask`), yielding their
        :class:`Outcome` objects in order, in groups: a group goes as soon as ``FLUSH_S`` seconds have
        passed since the last one (so a task that takes that long is handed back on its own, at once),
        and at the end; ``inputs`` maps each file of the driver's machine the tasks need (a task's
        staged ``source``; a score task's reference, reconstruction or bitstream) to the object-store
        reference of its content (pixels; a score task's files: their bytes)."""
        import ray

        fetched = dict(zip(inputs, ray.get(list(inputs.values())), strict=True))
        group: list[Outcome] = []
        flushed = time.perf_counter()
        for task in tasks:
            if isinstance(task, ScoreTask):
                group.append(self._score(task, fetched))
            else:
                group.append(self._measure(task, fetched[task.source]))
            if time.perf_counter() - flushed >= FLUSH_S:
                yield group
                group, flushed = [], time.perf_counter()
        if group:
            yield group

    def _measure(self, task: Task, pixels: Any) -> Outcome:
        """Measure one task; its saved files read back, its codec's versions the first time."""
        start = time.perf_counter()
        check = str(self.scratch / "check" / "task") if task.check_path else ""
        result = self.measurer.measure(replace(task, check_path=check), pixels)
        files = self._collect() if self._saves or task.check_path else ()
        versions = self._first_versions(task.codec)
        return Outcome(result, files if isinstance(result, Record) else (), versions, time.perf_counter() - start)

    def _score(self, task: ScoreTask, fetched: dict[str, Any]) -> Outcome:
        """Score one task from copies of its files in the scratch folder (removed after); its codec's
        versions the first time it decoded a bitstream here."""
        start = time.perf_counter()
        copies = {}
        for role in ("reference", "reconstruction", "bitstream"):
            if path := getattr(task, role):
                copies[role] = self.scratch / "inputs" / role / Path(path).name
                copies[role].parent.mkdir(parents=True, exist_ok=True)
                copies[role].write_bytes(fetched[path])
        try:
            result = self.measurer.score(replace(task, **{role: str(copy) for role, copy in copies.items()}))
        finally:
            shutil.rmtree(self.scratch / "inputs", ignore_errors=True)
        if isinstance(result, Failure):
            error = result.error
            for role, copy in copies.items():
                error = error.replace(str(copy), getattr(task, role))
            result = replace(result, error=error)
        return Outcome(result, (), self._first_versions(task.codec), time.perf_counter() - start)

    def _first_versions(self, codec: str) -> dict[str, Any] | None:
        """The library versions of ``codec`` the first time this actor has made it (else None)."""
        if codec in self._versions_sent:
            return None
        try:
            versions = self.measurer.codec_versions(codec)
        except Exception as exc:  # a codec whose versions() fails: the driver sees that it differs
            versions = {"versions() failed": f"{type(exc).__name__}: {exc}"}
        if versions is not None:
            self._versions_sent.add(codec)
        return versions

    def _collect(self) -> tuple[tuple[str, str, bytes], ...]:
        """The files the last measurement left in the scratch folder, read and removed."""
        out = []
        for path in sorted(self.scratch.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):  # a .tmp: a write cut short
                kind, *rest = path.relative_to(self.scratch).parts
                out.append((kind, "/".join(rest), path.read_bytes()))
                path.unlink()
        return tuple(out)
