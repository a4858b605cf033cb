"""``bench run``: sweep codecs x qualities x images, store every measurement, export the results.

The run folder (``results/<name>/`` or ``--out``) holds:

* ``store.sqlite``: the crash-safe store (:mod:`bench.store.sqlite`), the source of truth;
* ``records.csv``, ``summary.csv``, ``failures.csv``: exports of the store, rewritten at the end;
* ``run.json``: how the results were made (commands, codec settings and versions, dataset hashes,
  environment, git commit), rewritten at the start and the end of every invocation.
* with ``--target-bpp`` (rate matching), ``target_rates.csv`` and ``target_rates_per_image.csv``
  (:mod:`bench.analysis.target_rates`), rewritten at the end.

The runner plans the tasks (codec x quality x image, less what the store already holds), decodes
each image once while the first tasks are already measured and stages it as a ``.npy`` file the
measuring processes map read-only, feeds the tasks to an executor (:mod:`bench.api.executor`; ``local``
worker processes by default, ``jobs`` at a time) and writes every result to the store as it comes
back. Where and how a task is measured is the executor's business (:mod:`bench.executors.local`,
:mod:`bench.executors.measure`).

With ``--target-bpp`` the tasks are not a sweep but rounds of probes (:mod:`bench.analysis.rate_match`): each
round asks the search of every (codec, image), replayed from the store, for its next knob values,
measures them all (every image and codec of the round in parallel) and checks their decoding before the
next round, until no search asks for more. Rates are ``bpp = 8 * bytes / (width * height)``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from bench import __version__
from bench.analysis.dataset_values import dataset_metric_instances, dataset_values
from bench.analysis.rate_match import DEFAULT_TOLERANCE, KnobSpec, RateMatching, search, target_list, tolerance_value
from bench.api.codec import Codec
from bench.api.codec_registry import Registry, discover
from bench.api.executor import ExecutorError, create_executor, run_tasks
from bench.api.files import atomic_write_text, portable_command, portable_path, sha256_file
from bench.api.metric import DEFAULT_METRICS, Metric, MetricError
from bench.api.metric_registry import discover_metrics, metric_device, resolve_metric_device
from bench.api.options import PLUGINS, comma_list, float_list, non_negative_float, option, positive_int
from bench.api.records import Failure, Record, format_quality
from bench.api.task import MeasureOptions, Task
from bench.data.datasets import Dataset, DatasetImage, resolve_dataset
from bench.data.images import ImageLoadError, SourceImage, load_rgb8
from bench.neural import DEVICES
from bench.run.decode_check import DecodeCheck, run_checks
from bench.store.provenance import available_cpus, environment, git_state
from bench.store.sqlite import Store, StoreConflict, StoreError, summarise, write_csvs

__all__ = ["RunConfig", "RunReport", "RunSetupError", "run", "default_jobs", "select_codecs", "format_summary"]

#: Worker processes by default: the CPUs this process may run on.
default_jobs = available_cpus
#: Longest one task may take by default (seconds): generous, VVC reference encoders take minutes per image.
DEFAULT_TIMEOUT_S = 3600.0


class RunBroken(RuntimeError):
    """The run itself broke (not a codec or an image): disk full, store unwritable, ... The measurements
    made before are in the store; run.json says what happened."""


class RunSetupError(RuntimeError):
    """The run cannot start (unknown or unavailable codec, bad quality, missing dataset, ...)."""


@dataclass(frozen=True)
class RunConfig:
    """What to measure and where to put it. ``codecs=None`` means every codec of the default run."""

    dataset: str = field(default="kodak", metadata=option(
        "--dataset",
        help="dataset name (see `bench datasets`) or a folder of images (PNG, BMP, PPM/PGM, TIFF, lossless WebP, "
        "JPEG) (default: kodak)"))  # fmt: skip
    codecs: tuple[str, ...] | None = field(default=None, metadata=option(
        "--codec", parse=comma_list, metavar="A,B",
        help="codecs to run (default: every available codec of the default run; see `bench codecs`)"))  # fmt: skip
    qualities: tuple[float, ...] | None = field(default=None, metadata=option(
        "--quality", parse=float_list, metavar="Q1,Q2",
        help="knob values instead of each codec's default sweep"))  # fmt: skip
    target_bpp: tuple[float, ...] | None = field(default=None, metadata=option(
        "--target-bpp", parse=target_list, metavar="T1,T2",
        help="rate matching: per image, search each codec's knob for these rates (bpp) instead of sweeping it "
        "(e.g. JPEG AI's 0.06,0.12,0.25,0.5,0.75); results in <run>/target_rates.csv (README 'Rate matching')"))  # fmt: skip
    target_tolerance: float = field(default=DEFAULT_TOLERANCE, metadata=option(
        "--target-tolerance", parse=tolerance_value, metavar="F",
        help="a target is reached on an image when |bpp / target - 1| <= F (default: %(default)s, i.e. +-15%%)"))  # fmt: skip
    out: Path | None = field(default=None, metadata=option(
        "--out", parse=Path, help="run folder (default: results/<name>)"))  # fmt: skip
    name: str | None = field(default=None, metadata=option(
        "--name", help="run name for the default folder (default: the dataset's name)"))  # fmt: skip
    data_dir: Path | None = field(default=None, metadata=option(
        "--data-dir", parse=Path,
        help="where named datasets live (default: $BENCH_DATA, else ~/.cache/codec-bench/datasets)"))  # fmt: skip
    offline: bool = field(default=False, metadata=option(
        "--offline", help="never download: fail if the dataset is not already in the data root, or a codec's "
        "pretrained weights not already in their cache"))  # fmt: skip
    device: str = field(default="cpu", metadata=option(
        "--device", choices=DEVICES, help="where learned codecs run (default: cpu; auto = cuda "
        "when available); traditional codecs use the CPU"))  # fmt: skip
    half: bool = field(default=False, metadata=option(
        "--half", help="learned codecs in half precision (float16 weights and activations, as CompressAI's "
        "eval_model --half; meant for the GPU; not for portable models)"))  # fmt: skip
    plugins: tuple[str, ...] = field(default=(), metadata=PLUGINS)
    repeat: int = field(default=1, metadata=option(
        "--repeat", parse=positive_int,
        help="time encode/decode N times and keep the median (default: 1)"))  # fmt: skip
    jobs: int = field(default_factory=default_jobs, metadata=option(
        "-j", "--jobs", parse=positive_int,
        help="worker processes (default: CPUs available, here %(default)s)"))  # fmt: skip
    max_images: int | None = field(default=None, metadata=option(
        "--max-images", parse=positive_int, help="use only the first N images of the dataset"))  # fmt: skip
    save_reconstructions: bool = field(default=False, metadata=option(
        "--save-reconstructions", help="keep decoded images as PNG under <run>/reconstructions/"))  # fmt: skip
    save_bitstreams: bool = field(default=False, metadata=option(
        "--save-bitstreams", help="keep the coded files under <run>/bitstreams/"))  # fmt: skip
    metrics: tuple[str, ...] = field(default=DEFAULT_METRICS, metadata=option(
        "--metrics", parse=comma_list, metavar="M1,M2",
        help=f"metrics to compute, in column order (default: {','.join(DEFAULT_METRICS)}); plugin files "
        "may add metrics (README 'Adding a metric')"))  # fmt: skip
    timeout: float = field(default=DEFAULT_TIMEOUT_S, metadata=option(
        "--timeout", parse=non_negative_float, metavar="SECONDS",
        help=f"longest a task (one encode, decode and scoring) may take before it is stopped and recorded as a "
        f"timeout failure; 0 for no limit (default: {DEFAULT_TIMEOUT_S:g})"))  # fmt: skip
    retry_timeouts: bool = field(default=False, metadata=option(
        "--retry-timeouts", help="measure again the tasks that timed out in earlier runs into this folder (by "
        "default they are left as failures, so that a re-run does not hang on them again)"))  # fmt: skip
    executor: str = field(default="local", metadata=option(
        "--executor", help="where tasks run (default: local, worker processes on this machine; ray: the workers of "
        "a Ray cluster, needs pip install 'codec-bench[ray]'; packages can add executors)"))  # fmt: skip
    ray_address: str | None = field(default=None, metadata=option(
        "--ray-address", metavar="ADDRESS",
        help="the Ray cluster of --executor ray (host:port of its head, or 'auto'; default: $RAY_ADDRESS, else a "
        "Ray started on this machine for the run, with -j CPUs)"))  # fmt: skip
    command: str = ""

    def as_json(self) -> dict:
        return {
            "dataset": portable_path(self.dataset),
            "codecs": list(self.codecs) if self.codecs is not None else None,
            "qualities": list(self.qualities) if self.qualities is not None else None,
            **(
                {"target_bpp": list(self.target_bpp), "target_tolerance": self.target_tolerance}
                if self.target_bpp
                else {}
            ),
            "plugins": [  # as given (no path of this machine), identified by content
                {"path": portable_path(p), "sha256": sha256_file(p) if Path(p).is_file() else None}
                for p in self.plugins
            ],
            "repeat": self.repeat,
            "jobs": self.jobs,
            "max_images": self.max_images,
            "save_reconstructions": self.save_reconstructions,
            "save_bitstreams": self.save_bitstreams,
            "device": self.device,
            "half": self.half,
            "metrics": list(self.metrics),
            "executor": self.executor,
            **({"ray_address": self.ray_address} if self.ray_address is not None else {}),
            "timeout_s": self.timeout,
            "retry_timeouts": self.retry_timeouts,
            "codec_threads": 1,
        }

    def recorded_command(self) -> str:
        """The command as run.json records it: paths relative to where it ran, never absolute."""
        paths = tuple(str(p) for p in (self.dataset, self.out, self.data_dir, *self.plugins) if p)
        return portable_command(self.command, paths)


@dataclass
class RunReport:
    out: Path
    measured_now: int
    records: list[Record]
    failures: list[Failure]
    skipped_codecs: dict[str, str]
    interrupted: bool = False
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    broken: str = ""
    #: the dataset metrics' values (FID, ...) per (codec, quality): metric -> value
    dataset_values: dict[tuple[str, float], dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted and not self.broken


def select_codecs(
    registry: Registry, names: Iterable[str] | None, device: str = "cpu", *, offline: bool = True, half: bool = False
) -> tuple[list[Codec], dict[str, str]]:
    """Codec instances to run, and the default-run codecs skipped because they are unavailable here.

    Codecs asked for by name must exist and be available, else :class:`RunSetupError`. Each codec
    selected first fetches what it needs (:meth:`Codec.fetch`; nothing is downloaded when ``offline``).
    """
    chosen, skipped = [], dict(registry.broken)
    if names is None:
        for entry in registry.entries():
            if not entry.cls.in_default_run:
                continue
            reason = _fetch_problem(entry, offline) or entry.unavailable_reason()
            if reason:
                skipped[entry.name] = reason
            else:
                chosen.append(_create(entry, device, half))
        return chosen, skipped
    for name in dict.fromkeys(names):
        if name in registry.broken:
            raise RunSetupError(f"codec '{name}' cannot be loaded: {registry.broken[name]}")
        if name not in registry:
            known = ", ".join(registry.names())
            raise RunSetupError(f"unknown codec '{name}'; known codecs: {known} (see `bench codecs`)")
        entry = registry.get(name)
        reason = _fetch_problem(entry, offline) or entry.unavailable_reason()
        if reason:
            raise RunSetupError(f"codec '{name}' is not available here: {reason}")
        chosen.append(_create(entry, device, half))
    return chosen, skipped


def _fetch_problem(entry, offline: bool) -> str | None:
    """Why fetching what the codec needs failed (:meth:`Codec.fetch`), or None."""
    try:
        entry.cls.fetch(offline)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None


def _create(entry, device: str, half: bool = False) -> Codec:
    try:
        return entry.create(device, half)
    except Exception as exc:
        raise RunSetupError(f"codec '{entry.name}' cannot start on {device}: {type(exc).__name__}: {exc}") from exc


def _qualities(codec: Codec, asked: tuple[float, ...] | None) -> list[float]:
    values = asked if asked is not None else codec.knob.sweep
    try:
        return codec.knob.ordered(values)
    except ValueError as exc:
        raise RunSetupError(f"codec '{codec.name}': {exc}") from None


def _try_load(path: Path) -> SourceImage | ImageLoadError:
    try:
        return load_rgb8(path)
    except ImageLoadError as exc:
        return exc
    except Exception as exc:  # whatever a decoder raises, it is this image's failure, not the run's
        return ImageLoadError(f"{path}: cannot be read ({type(exc).__name__}: {exc})")


def _staged_tasks(
    items: list[DatasetImage],
    pending: dict[str, list[Task]],
    folder: Path,
    threads: int,
    on_image: Callable[[str, dict | str], None],
) -> Iterator[Task]:
    """The tasks of each image, as soon as that image is decoded and staged for the workers.

    Only images with work left are decoded, in background threads (the decoders release the GIL),
    while the workers already measure the first ones. Each image is written once as a ``.npy`` file
    that the workers map read-only. ``on_image(name, info)`` is called as each image is read, with
    its size and conversion, or with the error text of an image that could not be read.
    """
    todo = [item for item in items if pending.get(item.name)]
    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for index, (item, image) in enumerate(
            zip(todo, pool.map(_try_load, [item.path for item in todo]), strict=True)
        ):
            if isinstance(image, ImageLoadError):
                on_image(item.name, str(image))
                continue
            on_image(item.name, {"width": image.width, "height": image.height, "conversion": image.conversion})
            staged = folder / f"{index}.npy"
            np.save(staged, image.pixels)
            for task in pending[item.name]:
                yield replace(task, source=str(staged))


def _output_stems(items: list[DatasetImage]) -> dict[str, str]:
    """File stems for saved bitstreams and reconstructions: the image's stem, or its whole name with
    the dot replaced (``a_png``, ``a_jpg``) when several images of the dataset share a stem."""
    stems = Counter(Path(item.name).stem for item in items)
    return {
        item.name: Path(item.name).stem if stems[Path(item.name).stem] == 1 else item.name.replace(".", "_")
        for item in items
    }


class RunLock:
    """One writer per run folder: an exclusive lock on ``<out>/.lock`` for the whole run (POSIX)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self._fh = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): one writer is the user's business
            return self
        self._fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            raise RunSetupError(
                f"{self.path.parent} is being written by another bench run ({holder}); wait for it to finish, "
                "or give this run another --out folder"
            ) from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"pid {os.getpid()} since {_now()}\n")
        self._fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # releases the lock


def _remove_stale_staging(folder: Path) -> None:
    """Staging folders of earlier runs into ``folder`` (killed before they could remove them); only
    called while holding the folder's lock, so no other run is using them."""
    for stale in folder.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout``, Slurm and Docker send), handled like Ctrl-C."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _write_run_json(path: Path, store: Store, config: RunConfig, dataset: Dataset, skipped: dict[str, str],
                    env: dict, status: str, warnings: list[str] = (), broken: str = "") -> None:  # fmt: skip
    records = store.records()
    measured: dict[str, set[float]] = {}
    for rec in records:
        measured.setdefault(rec.codec, set()).add(rec.quality)
    codecs = {}
    for name, desc in store.codec_descriptions().items():
        codecs[name] = {**desc, "qualities_measured": [format_quality(q) for q in sorted(measured.get(name, ()))]}
    ds = dataset.describe()
    decoded = store.images()
    for item in ds["images"]:
        item.update(decoded.get(item["name"], {}))
    metrics = store.metric_descriptions()
    doc = {
        "format": "codec-bench run",
        "format_version": 1,
        "codec_bench_version": __version__,
        "name": path.parent.name,
        "status": status,
        **({"error": broken} if broken else {}),
        "warnings": list(warnings),
        "updated": _now(),
        "command": config.recorded_command(),
        "config": config.as_json(),
        "codecs": codecs,
        "skipped_codecs": skipped,
        "dataset": ds,
        "metrics": {
            "bpp": "8 * bitstream bytes / (width * height); every byte the decoder reads",
            **{name: desc.get("convention", "") for name, desc in metrics.items()},
            "encode_s/decode_s": "wall-clock seconds of one encode/decode call, median over repeats, after one untimed warm-up",
            "summary": "arithmetic mean over images of the per-image values (CompressAI convention)",
        },
        "metric_implementations": metrics,
        "environment": env,
        **({"nodes": nodes} if (nodes := store.get_meta("nodes")) else {}),
        **({"rate_matching": matching} if (matching := store.get_meta("rate_matching")) else {}),
        "git": git_state(),
        "invocations": store.get_meta("invocations") or [],
        "results": {
            "records": len(records),
            "failures": len(store.failures()),
            "files": ["records.csv", "summary.csv", "failures.csv", "store.sqlite"],
        },
    }
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=True) + "\n")


def _metrics(config: RunConfig) -> list[Metric]:
    try:
        registry = discover_metrics(config.plugins)
        metrics = registry.create(config.metrics, resolve_metric_device(registry, config.metrics, config.device))
    except MetricError as exc:
        raise RunSetupError(str(exc)) from None
    for metric in metrics:
        if reason := registry.ready(metric.name, config.offline):
            raise RunSetupError(f"metric '{metric.name}' is not available here: {reason}")
    return metrics


def _check_targets(config: RunConfig) -> None:
    """Refuse rate matching that cannot work: --quality with --target-bpp, rates or a tolerance out of range."""
    if config.target_bpp is None:
        return
    if config.qualities is not None:
        raise RunSetupError("--quality and --target-bpp cannot be used together: --target-bpp searches each codec's "
                            "knob for the target rates, --quality sweeps the values given")  # fmt: skip
    if not config.target_bpp or not all(math.isfinite(t) and t > 0 for t in config.target_bpp):
        raise RunSetupError(f"--target-bpp needs positive rates in bpp, got {list(config.target_bpp)}")
    if not 0 < config.target_tolerance < 1:
        raise RunSetupError(f"--target-tolerance must be above 0 and below 1, got {config.target_tolerance:g}")


def run(config: RunConfig, *, progress: bool = True, echo: Callable[[str], None] = print) -> RunReport:
    """Measure what ``config`` asks for and is not in the store yet; export CSVs and run.json.

    Raises :class:`RunSetupError` when the run cannot start; a run that breaks while measuring (disk
    full, ...) returns a report whose ``broken`` says why, after saving what it can.
    """
    clock = time.perf_counter()
    _check_targets(config)
    try:
        registry = discover(config.plugins)
    except Exception as exc:
        raise RunSetupError(str(exc)) from exc
    codecs, skipped = select_codecs(registry, config.codecs, config.device, offline=config.offline, half=config.half)
    if not codecs:
        raise RunSetupError("no codec to run" + (f" (unavailable: {', '.join(skipped)})" if skipped else ""))
    qualities = {codec.name: _qualities(codec, config.qualities) for codec in codecs}
    metrics = _metrics(config)
    if config.repeat < 1 or config.jobs < 1:
        raise RunSetupError("--repeat and --jobs must be at least 1")
    try:
        dataset = resolve_dataset(config.dataset, config.data_dir, download=not config.offline)
    except Exception as exc:
        raise RunSetupError(str(exc)) from exc
    items = list(dataset.images[: config.max_images])
    for name, reason in skipped.items():
        echo(f"skipping {name}: {reason}")
    if dataset.skipped:
        names = ", ".join(name for name, _ in dataset.skipped[:3]) + (" ..." if len(dataset.skipped) > 3 else "")
        echo(f"{len(dataset.skipped)} entries of {dataset.given or dataset.name} are not images it uses ({names}); "
             "run.json lists each with the reason (dataset.skipped)")  # fmt: skip

    out = Path(config.out) if config.out else Path("results") / (config.name or dataset.name)
    if out.exists() and not out.is_dir():
        raise RunSetupError(f"--out {out} is a file, not a folder; give a folder for the run's results")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunSetupError(f"cannot create the run folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise RunSetupError(f"the run folder {out} is not writable; give another --out folder")
    with RunLock(out), _open_store(out / "store.sqlite") as store:
        _remove_stale_staging(out)
        return _measure(config, codecs, skipped, qualities, metrics, dataset, items, out, store, clock, progress, echo)


def _open_store(path: Path) -> Store:
    try:
        return Store(path)
    except (StoreError, StoreConflict) as exc:
        raise RunSetupError(str(exc)) from None


def _measure(config: RunConfig, codecs: list[Codec], skipped: dict[str, str], qualities: dict[str, list[float]],
             metrics: list[Metric], dataset: Dataset, items: list[DatasetImage], out: Path, store: Store, clock: float,
             progress: bool, echo: Callable[[str], None]) -> RunReport:  # fmt: skip
    env = environment()
    try:
        store.bind_dataset(dataset.name, {item.name: item.sha256 for item in items})
        for codec in codecs:
            store.bind_codec(codec.name, codec.describe())
        for metric in metrics:
            store.bind_metric(metric.name, metric.describe())
    except Exception as exc:
        raise RunSetupError(str(exc)) from exc
    if config.target_bpp:  # what reports need to replay the searches; knobs of earlier invocations' codecs kept
        earlier = store.get_meta("rate_matching") or {}
        knobs = {**earlier.get("knobs", {}), **{c.name: KnobSpec.from_knob(c.knob).as_json() for c in codecs}}
        matching = RateMatching(config.target_bpp, config.target_tolerance).as_json()
        store.set_meta("rate_matching", {**matching, "knobs": dict(sorted(knobs.items()))})
    invocations = store.get_meta("invocations") or []
    invocation = {"command": config.recorded_command(), "started": _now(), "finished": None, "status": "running",
                  "measured": 0, "failed": 0, "environment": env}  # fmt: skip
    invocations.append(invocation)
    store.set_meta("invocations", invocations)
    run_json = out / "run.json"
    _write_run_json(run_json, store, config, dataset, skipped, env, "running")

    done = store.done()
    if not config.retry_timeouts:
        done |= store.failure_keys("timeout")
    staging = out / f".staging-{os.getpid()}"
    stems = _output_stems(items)
    checked: set[tuple[str, float]] = set()
    wanted, pending = [], {}
    for item in items if not config.target_bpp else ():  # rate matching plans its tasks round by round
        for codec in codecs:
            for quality in qualities[codec.name]:
                task = Task(codec.name, quality, item.name, stem=stems[item.name])
                wanted.append(task)
                if task.key in done:
                    continue
                pending.setdefault(item.name, []).append(_with_check(task, checked, staging))
    options = MeasureOptions(
        repeat=config.repeat,
        plugins=tuple(str(Path(p).resolve()) for p in config.plugins),
        device=config.device,
        half=config.half,
        metrics=tuple(m.name for m in metrics),
        metric_device=metric_device(metrics),
        reconstructions_dir=out / "reconstructions" if config.save_reconstructions else None,
        bitstreams_dir=out / "bitstreams" if config.save_bitstreams else None,
    )
    try:
        executor = create_executor(config.executor, options, config.jobs, config.timeout, config.ray_address)
    except ExecutorError as exc:
        raise RunSetupError(str(exc)) from exc
    (staging / "check").mkdir(parents=True, exist_ok=True)
    counts = Counter()
    todo = sum(map(len, pending.values()))
    bar = tqdm(total=len(wanted), initial=len(wanted) - todo, unit="img", disable=None if progress else True,
               desc=f"bench {dataset.name}", dynamic_ncols=True)  # fmt: skip
    checks: list[DecodeCheck] = []

    nodes = store.get_meta("nodes") or {}

    def on_result(result: Record | Failure) -> None:
        if isinstance(result, Record):
            node = result.extra.get("node")
            if node is not None and node not in nodes:  # stored before its first record: a killed run keeps it
                nodes.update(executor.nodes())
                store.set_meta("nodes", nodes)
            store.add_record(result)
            counts["measured"] += 1
        else:
            store.add_failure(result)
            counts["failed"] += 1
            bar.write(
                f"FAILED {result.codec} {format_quality(result.quality)} {result.image} ({result.stage}): {result.error}"
            )
        bar.set_postfix_str(f"{result.codec} {format_quality(result.quality)}", refresh=False)
        bar.update(1)

    def on_image(name: str, info: dict | str) -> None:  # stored at once: a killed run keeps it
        if isinstance(info, str):
            store.update_image_failures(attempted={name}, failures={name: info})
        else:
            store.set_image(name, info)
            store.update_image_failures(attempted={name}, failures={})

    decoders = max(1, available_cpus() - config.jobs)  # the CPUs the workers leave free
    asked: set[tuple[str, float, str]] = set()  # rate matching: every probe its searches asked for
    stopped: dict[tuple[str, str], str] = {}  # rate matching: (codec, image) searches stopped by a failure

    def target_rounds() -> Iterator[Iterator[Task]]:
        """Rate matching (:mod:`bench.analysis.rate_match`): each round, the next probes of every (codec, image)
        search, replayed from the store, as staged tasks; done when no search asks for more. A search
        that asks again for a probe this command already tried (it failed, or its decoding check did),
        or for one that timed out in an earlier run (without --retry-timeouts), stops."""
        specs = {codec.name: KnobSpec.from_knob(codec.knob) for codec in codecs}
        staged: dict[str, str] = {}
        unreadable: set[str] = set()
        tried: set[tuple[str, float, str]] = set()

        def on_round_image(name: str, info: dict | str) -> None:
            on_image(name, info)
            if isinstance(info, str):
                unreadable.add(name)

        number = 0
        while True:
            probes: dict[tuple[str, str], dict[float, float]] = {}
            for record in store.records():
                probes.setdefault((record.codec, record.image), {})[float(record.quality)] = record.bpp
            timed_out = set() if config.retry_timeouts else store.failure_keys("timeout")
            pending.clear()
            for item in items:
                for codec in codecs:
                    if item.name in unreadable or (codec.name, item.name) in stopped:
                        continue
                    found = probes.get((codec.name, item.name), {})
                    keys = [
                        (codec.name, v, item.name) for v in search(specs[codec.name], config.target_bpp, found).next
                    ]
                    asked.update(keys)
                    if blocked := [key for key in keys if key in tried or key in timed_out]:
                        why = "timed out in an earlier run" if blocked[0] in timed_out else "failed"
                        stopped[codec.name, item.name] = f"the probe at {format_quality(blocked[0][1])} {why}"
                        continue
                    for key in keys:
                        tried.add(key)
                        task = Task(codec.name, codec.knob.check(key[1]), item.name, stem=stems[item.name])
                        pending.setdefault(item.name, []).append(_with_check(task, checked, staging))
            if not pending:
                return
            number += 1
            if not bar.disable:
                bar.total += sum(map(len, pending.values()))
                bar.refresh()
            fresh = {name: tasks for name, tasks in pending.items() if name not in staged}

            def round_tasks(number: int = number, fresh: dict = fresh) -> Iterator[Task]:
                for name, tasks in list(pending.items()):
                    if name in staged:
                        yield from (replace(task, source=staged[name]) for task in tasks)
                for task in _staged_tasks(items, fresh, staging / f"round{number}", decoders, on_round_image):
                    staged[task.image] = task.source
                    yield task

            current = round_tasks()
            try:
                yield current
            finally:
                current.close()

    def measure(tasks: Iterable[Task]) -> None:
        for result in run_tasks(executor, tasks):
            on_result(result)
            if isinstance(result, Record) and (check := _check_of(result, pending)) is not None:
                checks.append(check)

    tasks = target_rounds() if config.target_bpp else _staged_tasks(items, pending, staging, decoders, on_image)
    setup_s = time.perf_counter() - clock
    interrupted, broken, warnings = False, "", []
    previous_sigterm = catch_sigterm()
    try:
        with executor:
            if not config.target_bpp:
                measure(tasks)
            for round_tasks in tasks if config.target_bpp else ():
                measure(round_tasks)
                warnings += _check_decoding(checks, options, config.timeout, store, echo)  # before the next round
                checks.clear()
                shutil.rmtree(staging / "check", ignore_errors=True)
                (staging / "check").mkdir(parents=True, exist_ok=True)
        warnings += _check_decoding(checks, options, config.timeout, store, echo)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # the run itself broke (disk full, store unwritable, ...): say so, keep what is saved
        broken = f"{type(exc).__name__}: {exc}" + _disk_note(out)
    finally:
        restore_sigterm(previous_sigterm)
        tasks.close()
        shutil.rmtree(staging, ignore_errors=True)
        bar.close()
        status = "interrupted" if interrupted else "broken" if broken else "complete"
        measure_s = time.perf_counter() - clock - setup_s
        invocation.update(finished=_now(), status=status, measured=counts["measured"], failed=counts["failed"],
                          setup_s=round(setup_s, 4), measure_s=round(measure_s, 4),
                          **({"error": broken} if broken else {}))  # fmt: skip
        warnings += executor.warnings + _repeat_warnings(store)
        files: dict[str, Path] = {}
        per_dataset: dict[tuple[str, float], dict[str, float]] = {}
        try:
            store.set_meta("invocations", invocations)
            instances = dataset_metric_instances(store.dataset_metrics(), options.plugins)
            per_dataset = dataset_values(store, store.records(), instances)
            files = write_csvs(store, out, per_dataset)
            if matching := store.get_meta("rate_matching"):
                from bench.analysis.target_rates import records_frame, write_target_csvs

                frame = records_frame(store.records())
                files.update(write_target_csvs(frame, RateMatching.from_json(matching), store.metrics(), out))
            _write_run_json(run_json, store, config, dataset, skipped, env, status, warnings, broken)
        except Exception as exc:  # e.g. the disk is full: the store still holds every measurement
            broken = broken or f"{type(exc).__name__}: {exc}"
    files["run"] = run_json
    # failures of this command: images that did not load, and measurements still failing
    wanted_keys, names = {t.key for t in wanted} | asked, {item.name for item in items}
    failures = [f for f in store.failures() if f.key in wanted_keys or (f.stage == "load" and f.image in names)]
    report = RunReport(
        out, counts["measured"], store.records(), failures, skipped, interrupted, files, warnings, broken, per_dataset
    )
    echo(format_summary(report, codecs=[c.name for c in codecs], metrics=metrics))
    if config.target_bpp and "target_rates" in files:
        echo(_format_targets(files["target_rates"], [c.name for c in codecs], stopped))
    return report


def _format_targets(path: Path, codecs: list[str], stopped: dict[tuple[str, str], str]) -> str:
    """Lines after the summary of a rate-matched run: per codec, the images that reached each target."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        rows = [row for row in csv.DictReader(fh) if row["codec"] in codecs]
    lines = ["target rates (images reached / images, mean bpp over them):"]
    for codec in codecs:
        cells = [f"{r['target_bpp']}: {r['images_reached']}/{r['images']}"
                 + (f" ({float(r['bpp']):.3f})" if r["bpp"] else "") for r in rows if r["codec"] == codec]  # fmt: skip
        lines.append(f"  {codec}: " + ", ".join(cells))
    for (codec, image), why in sorted(stopped.items()):
        lines.append(f"  search stopped: {codec} on {image}: {why}")
    lines.append(
        f"  details and why targets were not reached: {path} and {path.with_name('target_rates_per_image.csv')}"
    )
    return "\n".join(lines)


def _disk_note(folder: Path) -> str:
    """A note on the free space of ``folder``'s disk when it is nearly full (the usual cause of a broken run)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f" (the disk of {folder} has {free / 2**20:.1f} MiB free: it is probably full)" if free < 64 * 2**20 else ""


def catch_sigterm():
    """Handle SIGTERM like Ctrl-C while measuring (main thread only); returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


def restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _with_check(task: Task, checked: set[tuple[str, float]], staging: Path) -> Task:
    """``task``, chosen for the fresh-process decoding check if it is the first task of its codec and
    quality this command measures (``checked`` holds those already chosen, and gains this one)."""
    key = (task.codec, float(task.quality))
    if key in checked:
        return task
    checked.add(key)
    return replace(task, check_path=str(staging / "check" / f"{len(checked)}"))


def _check_of(record: Record, pending: dict[str, list[Task]]) -> DecodeCheck | None:
    """The fresh-process decoding check of ``record``'s task, if that task was chosen for one."""
    for task in pending.get(record.image, ()):
        if task.check_path and task.key == record.key:
            return DecodeCheck(record.codec, record.quality, record.image, task.check_path)
    return None


def _check_decoding(checks: list[DecodeCheck], options: MeasureOptions, timeout: float, store: Store,
                    echo: Callable[[str], None]) -> list[str]:  # fmt: skip
    """Decode one bitstream per codec and quality in a fresh process; fail the codec and quality
    whose decoder did not decode from the bytes alone (:mod:`bench.run.decode_check`); the warnings."""
    warnings = []
    for outcome in run_checks(checks, options, timeout):
        check = outcome.check
        where = f"{check.codec} {format_quality(check.quality)} ({check.image})"
        if outcome.status == "nondeterministic":
            warnings.append(f"{where}: decoding the same bitstream in a fresh process gave slightly different "
                            f"pixels: {outcome.detail}")  # fmt: skip
        elif outcome.failed:
            error = (f"decoded in a fresh process, the bitstream of {check.image} gave other pixels than in the "
                     f"measuring process ({outcome.detail}): the decoder does not decode from the bytes alone, so "
                     "this codec and quality are not measured")  # fmt: skip
            count = store.invalidate(check.codec, check.quality, "decode-check", error)
            echo(f"FAILED {where}: {error}; {count} measurement(s) discarded")
    return warnings


def _repeat_warnings(store: Store) -> list[str]:
    """Codecs whose repeated encodes (``--repeat``) gave different bitstreams."""
    differing: dict[tuple[str, float], int] = Counter()
    for record in store.records():
        if record.extra.get("repeat_identical") is False:
            differing[record.codec, record.quality] += 1
    return [
        f"{codec} {format_quality(quality)}: repeated encodes of the same image gave different bitstreams on "
        f"{count} image(s) (the encoder is not deterministic; the first bitstream was measured)"
        for (codec, quality), count in sorted(differing.items())
    ]


def format_summary(report: RunReport, codecs: list[str] | None = None, metrics: list[Metric] | None = None) -> str:
    """The compact table printed at the end of a run: one line per codec, ranges over its sweep of
    bpp and of each metric (``metrics``: the run's, by default the default ones)."""
    if metrics is None:
        metrics = discover_metrics(use_entry_points=False).create(DEFAULT_METRICS)
    rows = [
        {**row, **report.dataset_values.get((row["codec"], row["quality"]), {})} for row in summarise(report.records)
    ]
    by_codec: dict[str, list[dict]] = {}
    for row in rows:
        if codecs is None or row["codec"] in codecs:
            by_codec.setdefault(row["codec"], []).append(row)
    width = max([12, *(len(c) for c in by_codec)])
    columns = [
        (m.name, f"{m.label} ({m.unit})" if m.unit else m.label, ".2f" if m.unit == "dB" else ".4f")
        for m in metrics
        if m.per_image or any(m.name in row for row in rows)
    ]
    widths = {name: max(len(title), 13 if fmt == ".2f" else 15) for name, title, fmt in columns}
    estimates = any(row.get("estimated_bpp") is not None for crows in by_codec.values() for row in crows)
    header = (
        f"{'codec':<{width}} {'points':>6} {'images':>6}  {'bpp':>13}  "
        + (f"{'est. bpp':>13}  " if estimates else "")
        + "  ".join(f"{title:>{widths[name]}}" for name, title, _ in columns)
        + f"  {'enc ms':>7} {'dec ms':>7}"
    )
    lines = [header, "-" * len(header)]

    def span(values: list[float], fmt: str) -> str:
        return f"{min(values):{fmt}}-{max(values):{fmt}}"

    def estimate_span(crows: list[dict]) -> str:  # the learned codecs' own rate estimate, "-" for the others
        values = [r["estimated_bpp"] for r in crows if r.get("estimated_bpp") is not None]
        return span(values, ".3f") if values else "-"

    for codec, crows in by_codec.items():
        n = len(crows)
        lines.append(
            f"{codec:<{width}} {n:>6} {min(r['images'] for r in crows):>6}  {span([r['bpp'] for r in crows], '.3f'):>13}  "
            + (f"{estimate_span(crows):>13}  " if estimates else "")
            + "  ".join(
                f"{span([r.get(name, float('nan')) for r in crows], fmt):>{widths[name]}}" for name, _, fmt in columns
            )
            + f"  {1e3 * sum(r['encode_s'] for r in crows) / n:>7.1f} {1e3 * sum(r['decode_s'] for r in crows) / n:>7.1f}"
        )
    lines.append(f"results: {report.out}/ (records.csv, summary.csv, failures.csv, run.json)")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    if report.broken:
        lines.append(f"the run broke: {report.broken}; what was measured before is in {report.out}/store.sqlite, "
                     "run the same command again to go on")  # fmt: skip
    if report.interrupted:
        lines.append("interrupted: run the same command again to measure what is missing")
    if report.failures:
        by_kind = Counter((f.codec or "(image)", f.stage) for f in report.failures)
        lines.append(
            f"{len(report.failures)} failed: " + ", ".join(f"{c} {s} x{k}" for (c, s), k in sorted(by_kind.items()))
        )
        for failure in report.failures[:10]:
            where = f"{failure.codec} {format_quality(failure.quality)} " if failure.codec else ""
            lines.append(f"  {where}{failure.image} ({failure.stage}): {failure.error}")
        if len(report.failures) > 10:
            lines.append(f"  ... {len(report.failures) - 10} more in failures.csv")
    return "\n".join(lines)
