"""``bench score``: add metrics to a finished run without encoding anything again.

For each record of the run's store (codec, quality, image) that lacks a value of a metric asked for,
the decoded image is taken, in this order of preference, from

1. the run's saved reconstruction (``<run>/reconstructions/<codec folder>/<quality>/<stem>.png``,
   ``bench run --save-reconstructions``): the very pixels the run measured;
2. its saved bitstream (``<run>/bitstreams/<codec folder>/<quality>/<stem>.<ext>``, ``--save-bitstreams``),
   decoded by the codec as the run did (the run's ``--device`` and ``--half``, its ``--plugin`` files as
   ``run.json`` records them, or as given with ``--plugin``). The codec found here must describe itself
   (settings, library versions, class) exactly as the store recorded it, and each file must have the
   size the run measured; otherwise that codec is refused.

Before a saved file is used it is checked against what the run recorded: a bitstream's size and, as
``bench run`` records them, the sha256 of the bitstream and of the reconstruction; and where the run
measured ``psnr_rgb`` (else ``psnr_y``) with the code found here, that value is computed again from the
saved file and must be the stored one. A file that differs fails its record (a one-line reason naming
the file; nothing is scored from it, and the exit status says records failed).

A codec with neither is refused with a one-line message (re-run it with ``--save-bitstreams`` or
``--save-reconstructions``); the other codecs are scored. The reference image comes from the run's
dataset as ``run.json`` records it (a named dataset in the data root, or the folder as given, which
``--dataset`` overrides when it has moved); every image scored must still have the sha256 the store
recorded, else nothing is scored.

The values go into the store as each record is scored (one transaction per record, each metric bound
to the run as ``bench run --metrics`` binds it, so a metric already in the run must have been
computed by the same code and versions); ``records.csv``, ``summary.csv`` and ``run.json`` are then
rewritten. Scoring again computes only the values still missing (none: nothing is written): an
interrupted scoring loses nothing it stored, and a metric the run already has is not computed again
(the values in a run are never replaced; there is no ``--force``), except for records added later
without it.

Each record is a :class:`~bench.api.task.ScoreTask` run by an executor, as ``bench run``'s measurements
are (:mod:`bench.api.executor`; ``--executor``: ``local`` worker processes, ``jobs`` at a time, by
default; ``ray``: the nodes of a Ray cluster, which get the files they need from this process, so they
need not share its file system), with single-threaded libraries, so the values are those ``bench run
--metrics`` gives. A record whose scoring fails, crashes its worker or runs past ``--timeout`` is
reported, not stored: scoring again tries it again. ``run.json`` records each scoring (its command,
executor and, on a cluster, its nodes) among the run's invocations.

Dataset metrics (FID, KID: :class:`bench.api.metric.DatasetMetric`) are scored like the others: the
features of each decoded image and of its reference go into the store (a record that has the
features is not scored again), and ``summary.csv`` gets their values per codec and quality.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.api.executor import (
    Executor,
    ExecutorError,
    create_executor,
    executor_field,
    ray_address_field,
    run_tasks,
    timeout_field,
)
from bench.api.files import atomic_write_text, folder_name, portable_command, sha256_file
from bench.api.metric import DatasetMetric, Metric, MetricError
from bench.api.metric_registry import discover_metrics, metric_device, resolve_metric_device
from bench.api.options import PLUGINS, metric_list, option, positive_int
from bench.api.plugins import recorded_plugin_files
from bench.api.processes import catch_sigterm, restore_sigterm
from bench.api.records import Failure, Scores, format_quality
from bench.api.task import MeasureOptions, ScoreTask
from bench.run.saved import (
    RecordedCodecs,
    RunFolderError,
    canonical,
    check_metric,
    read_run_json,
    reference_files,
    saved_file,
    saved_file_problem,
    stem_candidates,
)
from bench.store.provenance import available_cpus, environment, timestamp
from bench.store.sqlite import describe_differences

__all__ = ["ScoreConfig", "ScoreReport", "ScoreSetupError", "score"]

Key = tuple[str, float, str]


class ScoreSetupError(RunFolderError):
    """Scoring cannot start: not a run folder, unknown or unavailable metric, changed or missing
    reference images, or no codec whose decoded images can be had."""


@dataclass(frozen=True)
class ScoreConfig:
    """Which run to add which metrics to; each field is an option of ``bench score``."""

    run: Path = field(metadata=option(parse=Path, metavar="RUN", help="run folder (results/<name>)"))
    metrics: tuple[str, ...] = field(metadata=option(
        "--metrics", parse=metric_list, metavar="M1,M2",
        help="metrics to add, in column order (see `bench metrics`), or a preset: jpeg-ai; values the run already "
        "has are kept"))  # fmt: skip
    dataset: str | None = field(default=None, metadata=option(
        "--dataset", help="where the run's dataset folder is now, when it has moved (default: as run.json "
        "records it)"))  # fmt: skip
    data_dir: Path | None = field(default=None, metadata=option(
        "--data-dir", parse=Path,
        help="where named datasets live (default: $BENCH_DATA, else ~/.cache/codec-bench/datasets)"))  # fmt: skip
    offline: bool = field(default=False, metadata=option(
        "--offline", help="never download: neither the dataset nor a codec's pretrained weights"))  # fmt: skip
    plugins: tuple[str, ...] = field(default=(), metadata=PLUGINS)
    jobs: int = field(default_factory=available_cpus, metadata=option(
        "-j", "--jobs", parse=positive_int,
        help="worker processes (default: CPUs available, here %(default)s)"))  # fmt: skip
    timeout: float = timeout_field()
    executor: str = executor_field()
    ray_address: str | None = ray_address_field()
    command: str = ""


@dataclass
class ScoreReport:
    """What a scoring did: ``scored`` records given values now (``from_reconstructions`` of them read
    from saved reconstructions, the others decoded from saved bitstreams), ``already`` records that
    had every value, ``refused`` codecs (codec -> why), ``failures`` (key, "stage: why"), the executor's
    ``warnings`` (a cluster node refused, ...), whether the run's files were rewritten (``changed``)."""

    out: Path
    metrics: list[str]
    scored: int = 0
    from_reconstructions: int = 0
    already: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[Key, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    broken: str = ""
    changed: bool = False

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failures and not self.interrupted and not self.broken


def _plugin_files(config: ScoreConfig, meta: dict[str, Any]) -> tuple[str, ...]:
    """The plugin files to load: those given, then those run.json records that are found here with the
    recorded content (an edited file is other code); one file per content."""
    files: dict[str, str] = {}
    for path in config.plugins:
        if Path(path).is_file():
            files.setdefault(sha256_file(path), str(Path(path).resolve()))
        else:
            raise ScoreSetupError(f"plugin file {path} does not exist")
    for path in recorded_plugin_files(meta):
        files.setdefault(sha256_file(path), path)
    return tuple(files.values())


def _metrics(config: ScoreConfig, plugins: tuple[str, ...], device: str) -> list[Metric]:
    try:
        registry = discover_metrics(plugins)
        metrics = registry.create(config.metrics, resolve_metric_device(registry, config.metrics, device))
        for metric in metrics:
            if reason := registry.ready(metric.name, config.offline):
                raise MetricError(f"metric '{metric.name}' is not available here: {reason}")
    except MetricError as exc:
        raise ScoreSetupError(str(exc)) from None
    return metrics


def _plan(store, metrics: list[Metric], out: Path, meta: dict[str, Any], plugins: tuple[str, ...],
          config: ScoreConfig, report: ScoreReport) -> tuple[list[tuple[Any, tuple[str, ...]]], dict[Key, tuple]]:  # fmt: skip
    """The records that lack values, and for each its saved reconstruction or bitstream (refusing
    codecs that have neither or cannot decode them)."""
    have = {
        m.name: store.feature_keys(m.features) if isinstance(m, DatasetMetric) else store.metric_keys(m.name)
        for m in metrics
    }
    pending = []
    for record in store.records():
        missing = tuple(m.name for m in metrics if record.key not in have[m.name])
        if missing:
            pending.append((record, missing))
        else:
            report.already += 1
    run_config = meta.get("config") or {}
    codecs = RecordedCodecs(plugins, store.codec_descriptions(), run_config.get("device", "cpu"),
                     bool(run_config.get("half", False)), config.offline)  # fmt: skip
    stems_taken: dict[str, int] = {}
    for name in {record.image for record, _ in pending} | set((store.get_meta("dataset") or {}).get("images", {})):
        stems_taken[Path(name).stem] = stems_taken.get(Path(name).stem, 0) + 1
    sources: dict[Key, tuple] = {}
    by_codec: dict[str, list] = {}
    for record, missing in pending:
        by_codec.setdefault(record.codec, []).append((record, missing))
    for codec, items in by_codec.items():
        where = folder_name(codec)
        found = {}
        for record, _ in items:
            sub = Path(where, format_quality(record.quality))
            stems = stem_candidates(record.image, stems_taken.get(Path(record.image).stem, 0) > 1)
            reconstruction = saved_file(out / "reconstructions" / sub, stems, "png")
            bitstream = None if reconstruction else saved_file(out / "bitstreams" / sub, stems, None)
            found[record.key] = (reconstruction, bitstream)
        if not any(r or b for r, b in found.values()):
            report.refused[codec] = (f"{out} holds neither reconstructions nor bitstreams of it: re-run it with "
                                     "--save-bitstreams or --save-reconstructions (into a new --out folder: a run "
                                     "folder does not measure again what it holds)")  # fmt: skip
            continue
        if any(b for _, b in found.values()) and (problem := codecs.problem(codec)):
            report.refused[codec] = problem
            found = {key: (r, None) for key, (r, b) in found.items()}
            if not any(r for r, _ in found.values()):
                continue
        for key, (reconstruction, bitstream) in found.items():
            if reconstruction is None and bitstream is None:
                if codec not in report.refused:
                    report.failures.append((key, "no saved reconstruction or bitstream of it in the run folder"))
                continue
            sources[key] = (reconstruction, bitstream)
    return [(r, m) for r, m in pending if r.key in sources], sources


def _unchanged(pending: list[tuple[Any, tuple[str, ...]]], sources: dict[Key, tuple], report: ScoreReport,
               echo: Callable[[str], None]) -> list[tuple[Any, tuple[str, ...]]]:  # fmt: skip
    """The ``pending`` records whose saved files are those the run saved; each other one a failure."""
    kept = []
    for record, missing in pending:
        problem = saved_file_problem(record, *sources[record.key])
        if problem is None:
            kept.append((record, missing))
        else:
            report.failures.append((record.key, problem))
            echo(f"FAILED {record.codec} {format_quality(record.quality)} {record.image}: {problem}")
    return kept


def score(config: ScoreConfig, *, progress: bool = True, echo: Callable[[str], None] = print) -> ScoreReport:
    """Add ``config.metrics`` to the run ``config.run`` (see the module docstring).

    Raises :class:`ScoreSetupError` when nothing can be scored; returns what was done otherwise.
    """
    from bench.run.config import RunSetupError
    from bench.run.folder import RunLock
    from bench.store.sqlite import Store, StoreConflict, StoreError

    out = Path(config.run)
    try:
        meta = read_run_json(out)
    except RunFolderError as exc:
        raise ScoreSetupError(str(exc)) from None
    plugins = _plugin_files(config, meta)
    metrics = _metrics(config, plugins, str((meta.get("config") or {}).get("device", "cpu")))  # as the run
    if config.jobs < 1:
        raise ScoreSetupError("--jobs must be at least 1")
    report = ScoreReport(out, [m.name for m in metrics])
    try:
        lock = RunLock(out)
        lock.__enter__()
    except RunSetupError as exc:
        raise ScoreSetupError(str(exc)) from None
    except OSError as exc:
        raise ScoreSetupError(f"the run folder {out} is not writable ({exc.strerror or exc})") from None
    try:
        try:
            store = Store(out / "store.sqlite")
        except (StoreError, StoreConflict) as exc:
            raise ScoreSetupError(str(exc)) from None
        with store:
            return _score(config, out, meta, plugins, metrics, store, report, progress, echo)
    finally:
        lock.__exit__(None, None, None)


def _check_stored_metrics(out: Path, store, metrics: list[Metric]) -> None:
    """:class:`ScoreSetupError` when the run holds values of one of ``metrics`` computed by other code."""
    stored = store.metric_descriptions()
    for metric in metrics:
        if stored.get(metric.name) and canonical(stored[metric.name]) != canonical(metric.describe()):
            diffs = describe_differences(stored[metric.name], metric.describe())
            raise ScoreSetupError(f"{out} holds '{metric.name}' values computed by other code or versions "
                                  f"({'; '.join(diffs[:4])}); they are never mixed: score a copy of the run made "
                                  "with the recorded versions, or re-run into a new folder")  # fmt: skip


def _nothing_to_score(out: Path, store, plugins: tuple[str, ...], report: ScoreReport,
                      echo: Callable[[str], None]) -> ScoreReport:  # fmt: skip
    """No record to score: :class:`ScoreSetupError` when codecs or records were refused, else the
    exports brought up to date if a killed scoring left them stale."""
    if report.refused or report.failures:
        why = [f"codec '{codec}': {reason}" for codec, reason in report.refused.items()]
        why += [f"{c} {format_quality(q)} {i}: {error}" for (c, q, i), error in report.failures[:5]]
        raise ScoreSetupError(f"{out} cannot be scored with {', '.join(report.metrics)}:\n" + "\n".join(why))
    report.changed = report.changed or _exports_stale(out, store)
    if report.changed:
        _export(out, store, None, plugins)
    echo(f"{out} already has {', '.join(report.metrics)} for all {report.already} records: nothing to score")
    return report


def _tasks(pending: list[tuple[Any, tuple[str, ...]]], sources: dict[Key, tuple], references: dict[str, str],
           checked: dict[Key, tuple[float, bool]], check: Metric | None) -> list[ScoreTask]:  # fmt: skip
    """One task per record to score, image by image (each worker keeps the reference it reads), with
    the ``check`` metric too for the records whose stored value of it is ``checked``."""
    tasks = [
        ScoreTask(record.codec, record.quality, record.image,
                  (*missing, check.name) if record.key in checked else missing, references[record.image],
                  record.width, record.height, record.bytes, *(str(p) if p else "" for p in sources[record.key]))
        for record, missing in pending
    ]  # fmt: skip
    return sorted(tasks, key=lambda task: (task.image, task.codec, task.quality))


def _executor(config: ScoreConfig, run_config: dict[str, Any], plugins: tuple[str, ...],
              metrics: list[Metric]) -> Executor:  # fmt: skip
    """The executor that scores: ``config.executor``, its workers decoding as the run did (its ``--device``
    and ``--half``) and computing ``metrics`` where the run would."""
    options = MeasureOptions(plugins=plugins, device=run_config.get("device", "cpu"),
                             half=bool(run_config.get("half", False)), metrics=tuple(m.name for m in metrics),
                             metric_device=metric_device(metrics))  # fmt: skip
    try:
        return create_executor(config.executor, options, config.jobs, config.timeout, config.ray_address)
    except ExecutorError as exc:
        raise ScoreSetupError(str(exc)) from None


class _ScoreWriter:
    """Stores each result as it comes (one transaction per record; each metric bound to the run before
    its first value) and counts it in the report; a failure is reported, not stored."""

    def __init__(self, store, metrics: list[Metric], sources: dict[Key, tuple], report: ScoreReport,
                 echo: Callable[[str], None], checked: dict[Key, tuple[float, bool]], check: Metric | None) -> None:  # fmt: skip
        self.store, self.sources, self.report, self.echo = store, sources, report, echo
        self.checked, self.check = (
            checked,
            check,
        )  # key -> (the stored value the check metric must give again, bitstream unchanged by sha256)
        self.metrics = {metric.name: metric for metric in metrics}
        self.by_features: dict[str, list[str]] = {}  # feature name -> the dataset metrics computed from them
        for metric in metrics:
            if isinstance(metric, DatasetMetric):
                self.by_features.setdefault(metric.features, []).append(metric.name)
        self.bound: set[str] = set()

    def __call__(self, result: Scores | Failure) -> None:
        report, store = self.report, self.store
        if not isinstance(result, Failure) and result.key in self.checked:
            result = self._checked(result)
        if isinstance(result, Failure):
            error = f"{result.stage}: {result.error}"
            report.failures.append((result.key, error))
            self.echo(f"FAILED {result.codec} {format_quality(result.quality)} {result.image}: {error}")
            return
        values, features = result.metrics, result.features
        for name in [*values, *(n for space in features for n in self.by_features.get(space, ()))]:
            if name not in self.bound:
                store.bind_metric(name, self.metrics[name].describe())
                self.bound.add(name)
                report.changed = True
        added = store.add_metric_values(result.key, values) if values else 0
        added += store.add_features(result.key, features, result.reference_features) if features else 0
        if added:
            report.scored += 1
            report.from_reconstructions += self.sources[result.key][0] is not None
            report.changed = True

    def _checked(self, result: Scores) -> Scores | Failure:
        """``result`` without the check metric's value, or a failure naming the saved file when that value
        is not the one the run stored (the file gives other pixels than the run measured)."""
        name, (then, same_bitstream) = self.check.name, self.checked[result.key]
        now = result.metrics.pop(name, math.nan)
        if now == then or math.isclose(now, then, rel_tol=1e-9, abs_tol=1e-9):
            return result
        reconstruction, bitstream = self.sources[result.key]
        if same_bitstream:  # the file is the one the run saved (sha256): its decoding is what differs
            return Failure(result.codec, result.quality, result.image, "decode",
                           f"decoding {bitstream} (the bitstream the run saved: same sha256) gives other pixels than "
                           f"the run measured ({name} {now:.6g} now, {then:.6g} then): the codec does not decode "
                           "identically here (another device, precision or library version?)")  # fmt: skip
        stage, what = ("reconstruction", "reconstruction") if reconstruction is not None else ("decode", "bitstream")
        return Failure(result.codec, result.quality, result.image, stage,
                       f"{reconstruction or bitstream} gives other pixels than the run measured ({name} {now:.6g} now, "
                       f"{then:.6g} then): not the {what} the run saved")  # fmt: skip


def _score(config: ScoreConfig, out: Path, meta: dict[str, Any], plugins: tuple[str, ...], metrics: list[Metric],
           store, report: ScoreReport, progress: bool, echo: Callable[[str], None]) -> ScoreReport:  # fmt: skip
    from bench.run.folder import close_unfinished_invocations

    if not store.done():
        raise ScoreSetupError(f"{out} holds no measurements to score")
    _check_stored_metrics(out, store, metrics)
    for note in close_unfinished_invocations(store):  # a killed bench run's: run.json is rewritten with its counts
        echo(note)
        report.changed = True
    pending, sources = _plan(store, metrics, out, meta, plugins, config, report)
    pending = _unchanged(pending, sources, report, echo)
    if not pending:
        return _nothing_to_score(out, store, plugins, report, echo)
    recorded = (store.get_meta("dataset") or {}).get("images") or {
        item["name"]: item["sha256"] for item in (meta.get("dataset") or {}).get("images", [])
    }
    try:
        references = reference_files(meta, recorded, {record.image for record, _ in pending},
                                     dataset=config.dataset, data_dir=config.data_dir, offline=config.offline)  # fmt: skip
    except RunFolderError as exc:
        raise ScoreSetupError(str(exc)) from None
    check = check_metric(store, plugins, str((meta.get("config") or {}).get("device", "cpu")))
    checked = {} if check is None else {
        record.key: (record.metrics[check.name], sources[record.key][0] is None and "bitstream_sha256" in record.extra)
        for record, _ in pending if not math.isnan(record.metrics.get(check.name, math.nan))
    }  # fmt: skip
    tasks = _tasks(pending, sources, references, checked, check)
    invocation = {"command": portable_command(config.command, (str(config.run), *config.plugins)), "kind": "score",
                  "metrics": report.metrics, "executor": config.executor,
                  **({"ray_address": config.ray_address} if config.ray_address is not None else {}),
                  "timeout_s": config.timeout, "started": timestamp(), "finished": None, "status": "running", "scored": 0,
                  "failed": 0, "environment": environment()}  # fmt: skip
    computed = metrics + [check] if check is not None and check.name not in report.metrics else metrics
    executor = _executor(config, meta.get("config") or {}, plugins, computed)  # shut down by _run
    previous = catch_sigterm()
    try:
        _run(executor, tasks, _ScoreWriter(store, metrics, sources, report, echo, checked, check), progress)
    except KeyboardInterrupt:
        report.interrupted = True
    except Exception as exc:  # the scoring itself broke (disk full, a cluster gone, ...): what is stored stays
        report.broken = f"{type(exc).__name__}: {exc}"
    finally:
        restore_sigterm(previous)
        report.warnings += executor.warnings
        nodes = executor.nodes()
        status = "interrupted" if report.interrupted else "broken" if report.broken else "complete"
        invocation.update(finished=timestamp(), status=status, scored=report.scored, failed=len(report.failures),
                          **({"nodes": nodes} if nodes else {}),
                          **({"warnings": report.warnings} if report.warnings else {}))  # fmt: skip
        if report.changed:
            try:
                _export(out, store, invocation, plugins)
            except Exception as exc:
                report.broken = report.broken or f"{type(exc).__name__}: {exc}"
    echo(format_report(report))
    return report


def _run(executor: Executor, tasks: list[ScoreTask], on_result: Callable[[Scores | Failure], None],
         progress: bool) -> None:  # fmt: skip
    """Score ``tasks`` on ``executor`` (a few ahead of its free workers), handing each result to
    ``on_result`` as it comes; the executor is shut down at the end (at once when interrupted)."""
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), unit="img", disable=None if progress else True, desc="bench score", dynamic_ncols=True)
    try:
        with executor:
            for result in run_tasks(executor, tasks):
                on_result(result)
                bar.update(1)
    finally:
        bar.close()


def _exports_stale(out: Path, store) -> bool:
    """Whether run.json or records.csv do not show the store's metrics yet (a scoring killed before it
    could export them)."""
    try:
        meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
        with open(out / "records.csv", encoding="utf-8") as fh:
            header = fh.readline().strip().split(",")
        with open(out / "summary.csv", encoding="utf-8") as fh:
            summary_header = fh.readline().strip().split(",")
    except (OSError, json.JSONDecodeError):
        return True
    descriptions = store.metric_descriptions()
    return (
        canonical(meta.get("metric_implementations")) != canonical(descriptions)
        or any(name not in header for name in store.metrics())
        or any(name not in summary_header for name in store.dataset_metrics())
    )


def _export(out: Path, store, invocation: dict[str, Any] | None, plugins: tuple[str, ...] = ()) -> None:
    """Rewrite records.csv, summary.csv, failures.csv and run.json from the store (``invocation``: this
    scoring, added to the run's invocations)."""
    from bench.analysis.dataset_values import dataset_metric_instances, dataset_values
    from bench.store.export import write_csvs

    if invocation is not None:
        store.set_meta("invocations", [*(store.get_meta("invocations") or []), invocation])
    instances = dataset_metric_instances(store.dataset_metrics(), plugins)
    write_csvs(store, out, dataset_values(store, store.records(), instances))
    path = out / "run.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    descriptions = store.metric_descriptions()
    old = doc.get("metrics") or {}
    conventions = {"bpp": old["bpp"]} if "bpp" in old else {}
    conventions.update({name: desc.get("convention", "") for name, desc in descriptions.items()})
    conventions.update({key: value for key, value in old.items() if key not in conventions})
    doc.update(metrics=conventions, metric_implementations=descriptions, updated=timestamp(),
               invocations=store.get_meta("invocations") or [])  # fmt: skip
    if isinstance(doc.get("results"), dict):
        doc["results"].update(records=len(store.done()), failures=len(store.failures()))
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=True) + "\n")


def format_report(report: ScoreReport) -> str:
    """What ``bench score`` prints at the end."""
    names = ", ".join(report.metrics)
    decoded = report.scored - report.from_reconstructions
    lines = [f"scored {report.scored} records of {report.out} with {names} ({report.from_reconstructions} from saved "
             f"reconstructions, {decoded} by decoding saved bitstreams); {report.already} had them already"]  # fmt: skip
    for codec, why in report.refused.items():
        lines.append(f"not scored: {codec}: {why}")
    lines += [f"warning: {warning}" for warning in report.warnings]
    if report.failures:
        lines.append(f"{len(report.failures)} records could not be scored:")
        for (codec, quality, image), error in report.failures[:10]:
            lines.append(f"  {codec} {format_quality(quality)} {image}: {error}")
        if len(report.failures) > 10:
            lines.append(f"  ... {len(report.failures) - 10} more")
    if report.broken:
        lines.append(f"scoring broke: {report.broken}; what was scored before is in {report.out}/store.sqlite")
    if report.interrupted:
        lines.append("interrupted: run the same command again to score what is missing")
    if report.changed:
        lines.append(f"results: {report.out}/ (records.csv, summary.csv, run.json)")
    return "\n".join(lines)
