"""``bench run``: sweep codecs x qualities x images, store every measurement, export the results.

The run folder (``results/<name>/`` or ``--out``) holds:

* ``store.sqlite``: the crash-safe store (:mod:`bench.store`), the source of truth;
* ``records.csv``, ``summary.csv``, ``failures.csv``: exports of the store, rewritten at the end;
* ``run.json``: how the results were made (commands, codec settings and versions, dataset hashes,
  environment, git commit), rewritten at the start and the end of every invocation.

The runner plans the tasks (codec x quality x image, less what the store already holds), decodes
each image once while the first tasks are already measured and stages it as a ``.npy`` file the
measuring processes map read-only, feeds the tasks to an executor (:mod:`bench.executor`; ``local``
worker processes by default, ``jobs`` at a time) and writes every result to the store as it comes
back. Where and how a task is measured is the executor's business (:mod:`bench.local_executor`,
:mod:`bench.measure`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from bench import __version__
from bench.codec import Codec
from bench.datasets import Dataset, DatasetImage, resolve_dataset
from bench.executor import ExecutorError, create_executor, run_tasks
from bench.files import atomic_write_text
from bench.images import ImageLoadError, SourceImage, load_rgb8
from bench.metric import DEFAULT_METRICS, Metric, MetricError, discover_metrics
from bench.neural import DEVICES
from bench.options import PLUGINS, comma_list, float_list, option, positive_int
from bench.provenance import available_cpus, environment, git_state
from bench.registry import Registry, discover
from bench.results import Failure, Record, format_quality
from bench.store import Store, summarise, write_csvs
from bench.task import MeasureOptions, Task

__all__ = ["RunConfig", "RunReport", "RunSetupError", "run", "default_jobs", "select_codecs", "format_summary"]

#: Worker processes by default: the CPUs this process may run on.
default_jobs = available_cpus


class RunSetupError(RuntimeError):
    """The run cannot start (unknown or unavailable codec, bad quality, missing dataset, ...)."""


@dataclass(frozen=True)
class RunConfig:
    """What to measure and where to put it. ``codecs=None`` means every codec of the default run."""

    dataset: str = field(default="kodak", metadata=option(
        "--dataset",
        help="dataset name (see `bench datasets`) or a folder of PNG/JPEG/TIFF images (default: kodak)"))  # fmt: skip
    codecs: tuple[str, ...] | None = field(default=None, metadata=option(
        "--codec", parse=comma_list, metavar="A,B",
        help="codecs to run (default: every available codec of the default run; see `bench codecs`)"))  # fmt: skip
    qualities: tuple[float, ...] | None = field(default=None, metadata=option(
        "--quality", parse=float_list, metavar="Q1,Q2",
        help="knob values instead of each codec's default sweep"))  # fmt: skip
    out: Path | None = field(default=None, metadata=option(
        "--out", parse=Path, help="run folder (default: results/<name>)"))  # fmt: skip
    name: str | None = field(default=None, metadata=option(
        "--name", help="run name for the default folder (default: the dataset's name)"))  # fmt: skip
    data_dir: Path | None = field(default=None, metadata=option(
        "--data-dir", parse=Path,
        help="where named datasets live (default: $BENCH_DATA, else ~/.cache/codec-bench/datasets)"))  # fmt: skip
    offline: bool = field(default=False, metadata=option(
        "--offline", help="never download: fail if the dataset is not already in the data root"))  # fmt: skip
    device: str = field(default="cpu", metadata=option(
        "--device", choices=DEVICES, help="where learned codecs run (default: cpu; auto = cuda "
        "when available); traditional codecs use the CPU"))  # fmt: skip
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
    executor: str = field(default="local", metadata=option(
        "--executor", help="where tasks run (default: local, worker processes on this machine; packages can add "
        "executors)"))  # fmt: skip
    command: str = ""

    def as_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "codecs": list(self.codecs) if self.codecs is not None else None,
            "qualities": list(self.qualities) if self.qualities is not None else None,
            "plugins": [str(Path(p).resolve()) for p in self.plugins],
            "repeat": self.repeat,
            "jobs": self.jobs,
            "max_images": self.max_images,
            "save_reconstructions": self.save_reconstructions,
            "save_bitstreams": self.save_bitstreams,
            "device": self.device,
            "metrics": list(self.metrics),
            "executor": self.executor,
            "codec_threads": 1,
        }


@dataclass
class RunReport:
    out: Path
    measured_now: int
    records: list[Record]
    failures: list[Failure]
    skipped_codecs: dict[str, str]
    interrupted: bool = False
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted


def select_codecs(
    registry: Registry, names: Iterable[str] | None, device: str = "cpu"
) -> tuple[list[Codec], dict[str, str]]:
    """Codec instances to run, and the default-run codecs skipped because they are unavailable here.

    Codecs asked for by name must exist and be available, else :class:`RunSetupError`.
    """
    chosen, skipped = [], dict(registry.broken)
    if names is None:
        for entry in registry.entries():
            if not entry.cls.in_default_run:
                continue
            reason = entry.unavailable_reason()
            if reason:
                skipped[entry.name] = reason
            else:
                chosen.append(_create(entry, device))
        return chosen, skipped
    for name in dict.fromkeys(names):
        if name in registry.broken:
            raise RunSetupError(f"codec '{name}' cannot be loaded: {registry.broken[name]}")
        if name not in registry:
            known = ", ".join(registry.names())
            raise RunSetupError(f"unknown codec '{name}'; known codecs: {known} (see `bench codecs`)")
        entry = registry.get(name)
        reason = entry.unavailable_reason()
        if reason:
            raise RunSetupError(f"codec '{name}' is not available here: {reason}")
        chosen.append(_create(entry, device))
    return chosen, skipped


def _create(entry, device: str) -> Codec:
    try:
        return entry.create(device)
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


def _staged_tasks(
    items: list[DatasetImage],
    pending: dict[str, list[Task]],
    folder: Path,
    threads: int,
    loaded: dict[str, dict],
    failures: dict[str, str],
) -> Iterator[Task]:
    """The tasks of each image, as soon as that image is decoded and staged for the workers.

    Only images with work left are decoded, in background threads (the decoders release the GIL),
    while the workers already measure the first ones. Each image is written once as a ``.npy`` file
    that the workers map read-only. Fills ``loaded`` (size and conversion of each decoded image) and
    ``failures`` (images that could not be read).
    """
    todo = [item for item in items if pending.get(item.name)]
    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for index, (item, image) in enumerate(
            zip(todo, pool.map(_try_load, [item.path for item in todo]), strict=True)
        ):
            if isinstance(image, ImageLoadError):
                failures[item.name] = str(image)
                continue
            loaded[item.name] = {"width": image.width, "height": image.height, "conversion": image.conversion}
            staged = folder / f"{index}.npy"
            np.save(staged, image.pixels)
            for task in pending[item.name]:
                yield replace(task, source=str(staged))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _write_run_json(path: Path, store: Store, config: RunConfig, dataset: Dataset, skipped: dict[str, str],
                    env: dict, status: str) -> None:  # fmt: skip
    records = store.records()
    measured: dict[str, set[float]] = {}
    for rec in records:
        measured.setdefault(rec.codec, set()).add(rec.quality)
    codecs = {}
    for name, desc in store.codec_descriptions().items():
        codecs[name] = {**desc, "qualities_measured": [format_quality(q) for q in sorted(measured.get(name, ()))]}
    ds = dataset.describe()
    decoded = store.get_meta("images") or {}
    for item in ds["images"]:
        item.update(decoded.get(item["name"], {}))
    metrics = store.metric_descriptions()
    doc = {
        "format": "codec-bench run",
        "format_version": 1,
        "codec_bench_version": __version__,
        "name": path.parent.name,
        "status": status,
        "updated": _now(),
        "command": config.command,
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
        metrics = discover_metrics(config.plugins).create(config.metrics)
    except MetricError as exc:
        raise RunSetupError(str(exc)) from None
    per_dataset = [m.name for m in metrics if not m.per_image]
    if per_dataset:
        raise RunSetupError(
            f"metrics computed over a whole dataset are not measured by bench run: {', '.join(per_dataset)}"
        )
    return metrics


def run(config: RunConfig, *, progress: bool = True, echo: Callable[[str], None] = print) -> RunReport:
    """Measure what ``config`` asks for and is not in the store yet; export CSVs and run.json."""
    clock = time.perf_counter()
    try:
        registry = discover(config.plugins)
    except Exception as exc:
        raise RunSetupError(str(exc)) from exc
    codecs, skipped = select_codecs(registry, config.codecs, config.device)
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

    out = Path(config.out) if config.out else Path("results") / (config.name or dataset.name)
    env = environment()
    with Store(out / "store.sqlite") as store:
        try:
            store.bind_dataset(dataset.name, {item.name: item.sha256 for item in items})
            for codec in codecs:
                store.bind_codec(codec.name, codec.describe())
            for metric in metrics:
                store.bind_metric(metric.name, metric.describe())
        except Exception as exc:
            raise RunSetupError(str(exc)) from exc
        invocations = store.get_meta("invocations") or []
        invocation = {"command": config.command, "started": _now(), "finished": None, "status": "running",
                      "measured": 0, "failed": 0, "environment": env}  # fmt: skip
        invocations.append(invocation)
        store.set_meta("invocations", invocations)
        run_json = out / "run.json"
        _write_run_json(run_json, store, config, dataset, skipped, env, "running")

        done = store.done()
        wanted = [Task(c.name, q, item.name) for item in items for c in codecs for q in qualities[c.name]]
        pending: dict[str, list[Task]] = {}
        for task in wanted:
            if task.key not in done:
                pending.setdefault(task.image, []).append(task)
        options = MeasureOptions(
            repeat=config.repeat,
            plugins=tuple(str(Path(p).resolve()) for p in config.plugins),
            device=config.device,
            metrics=tuple(m.name for m in metrics),
            reconstructions_dir=out / "reconstructions" if config.save_reconstructions else None,
            bitstreams_dir=out / "bitstreams" if config.save_bitstreams else None,
        )
        try:
            executor = create_executor(config.executor, options, config.jobs)
        except ExecutorError as exc:
            raise RunSetupError(str(exc)) from exc
        counts = Counter()
        todo = sum(map(len, pending.values()))
        bar = tqdm(total=len(wanted), initial=len(wanted) - todo, unit="img", disable=None if progress else True,
                   desc=f"bench {dataset.name}", dynamic_ncols=True)  # fmt: skip

        def on_result(result: Record | Failure) -> None:
            if isinstance(result, Record):
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

        loaded: dict[str, dict] = {}
        image_failures: dict[str, str] = {}
        staging = out / f".staging-{os.getpid()}"
        decoders = max(1, available_cpus() - config.jobs)  # the CPUs the workers leave free
        tasks = _staged_tasks(items, pending, staging, decoders, loaded, image_failures)
        setup_s = time.perf_counter() - clock
        interrupted = False
        try:
            with executor:
                for result in run_tasks(executor, tasks):
                    on_result(result)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            tasks.close()
            shutil.rmtree(staging, ignore_errors=True)
            bar.close()
            status = "interrupted" if interrupted else "complete"
            measure_s = time.perf_counter() - clock - setup_s
            invocation.update(finished=_now(), status=status, measured=counts["measured"], failed=counts["failed"],
                              setup_s=round(setup_s, 4), measure_s=round(measure_s, 4))  # fmt: skip
            store.set_meta("invocations", invocations)
            store.set_meta("images", {**(store.get_meta("images") or {}), **loaded})
            store.update_image_failures(attempted=set(loaded) | set(image_failures), failures=image_failures)
            files = write_csvs(store, out)
            _write_run_json(run_json, store, config, dataset, skipped, env, status)
        files["run"] = run_json
        # failures of this command: images that did not load, and measurements still failing
        wanted_keys, names = {t.key for t in wanted}, {item.name for item in items}
        failures = [f for f in store.failures() if f.key in wanted_keys or (f.stage == "load" and f.image in names)]
        report = RunReport(out, counts["measured"], store.records(), failures, skipped, interrupted, files)
    echo(format_summary(report, codecs=[c.name for c in codecs], metrics=metrics))
    return report


def format_summary(report: RunReport, codecs: list[str] | None = None, metrics: list[Metric] | None = None) -> str:
    """The compact table printed at the end of a run: one line per codec, ranges over its sweep of
    bpp and of each metric (``metrics``: the run's, by default the default ones)."""
    if metrics is None:
        metrics = discover_metrics(use_entry_points=False).create(DEFAULT_METRICS)
    rows = summarise(report.records)
    by_codec: dict[str, list[dict]] = {}
    for row in rows:
        if codecs is None or row["codec"] in codecs:
            by_codec.setdefault(row["codec"], []).append(row)
    width = max([12, *(len(c) for c in by_codec)])
    columns = [
        (m.name, f"{m.label} ({m.unit})" if m.unit else m.label, ".2f" if m.unit == "dB" else ".4f") for m in metrics
    ]
    widths = {name: max(len(title), 13 if fmt == ".2f" else 15) for name, title, fmt in columns}
    header = (
        f"{'codec':<{width}} {'points':>6} {'images':>6}  {'bpp':>13}  "
        + "  ".join(f"{title:>{widths[name]}}" for name, title, _ in columns)
        + f"  {'enc ms':>7} {'dec ms':>7}"
    )
    lines = [header, "-" * len(header)]

    def span(values: list[float], fmt: str) -> str:
        return f"{min(values):{fmt}}-{max(values):{fmt}}"

    for codec, crows in by_codec.items():
        n = len(crows)
        lines.append(
            f"{codec:<{width}} {n:>6} {min(r['images'] for r in crows):>6}  {span([r['bpp'] for r in crows], '.3f'):>13}  "
            + "  ".join(f"{span([r[name] for r in crows], fmt):>{widths[name]}}" for name, _, fmt in columns)
            + f"  {1e3 * sum(r['encode_s'] for r in crows) / n:>7.1f} {1e3 * sum(r['decode_s'] for r in crows) / n:>7.1f}"
        )
    lines.append(f"results: {report.out}/ (records.csv, summary.csv, failures.csv, run.json)")
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
