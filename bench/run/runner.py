"""``bench run``: sweep codecs x qualities x images, store every measurement, export the results.

The run folder (``results/<name>/`` or ``--out``, :mod:`bench.run.folder`) holds:

* ``store.sqlite``: the crash-safe store (:mod:`bench.store.sqlite`), the source of truth;
* ``records.csv``, ``summary.csv``, ``failures.csv``: exports of the store (:mod:`bench.store.export`),
  rewritten at the end;
* ``run.json``: how the results were made (commands, codec settings and versions, dataset hashes,
  environment, git commit), rewritten at the start and the end of every invocation;
* with ``--target-bpp`` (rate matching), ``target_rates.csv`` and ``target_rates_per_image.csv``
  (:mod:`bench.analysis.target_rates`), rewritten at the end.

Words: a *task* is one codec at one knob value on one image (:class:`~bench.api.task.Task`); an executor
*measures* it (encode, decode from the bytes, metrics, timings: :mod:`bench.executors.measure`) and hands
back a *record* (:class:`~bench.api.records.Record`) or a *failure*; the store keeps every record.

:func:`run` chooses what to measure (:mod:`bench.run.selection`), takes the run folder's lock and its
store, and hands the rest to a :class:`RunSession`: it plans the tasks (less what the store already
holds), stages each image once for the workers (:mod:`bench.run.staging`) while the first tasks are
measured, feeds the tasks to an executor (``local`` worker processes by default, ``jobs`` at a time),
writes every result to the store as it comes back, checks in a fresh process that each codec decodes
from the bytes alone (:mod:`bench.run.decode_check`) and exports the results. With ``--target-bpp`` the
tasks are not a sweep but rounds of probes (:mod:`bench.run.rounds`), each round's decoding checked
before the next. Rates are ``bpp = 8 * bytes / (width * height)``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from bench.analysis.dataset_values import dataset_metric_instances, dataset_values
from bench.analysis.rate_match import KnobSpec, RateMatching
from bench.api.codec import Codec
from bench.api.codec_registry import discover
from bench.api.executor import Executor, ExecutorError, create_executor, run_tasks
from bench.api.metric import Metric
from bench.api.metric_registry import metric_device
from bench.api.processes import catch_sigterm, restore_sigterm
from bench.api.records import Failure, Record, format_quality
from bench.api.task import MeasureOptions, Task
from bench.data.datasets import Dataset, DatasetImage, resolve_dataset
from bench.run.config import DEFAULT_TIMEOUT_S, RunConfig, RunSetupError, default_jobs, is_given
from bench.run.decode_check import DecodeCheck, apply_checks
from bench.run.folder import (
    PROGRESS_KEY,
    RunLock,
    close_unfinished_invocations,
    disk_note,
    make_run_folder,
    open_store,
    progress_of,
    remove_stale_staging,
    write_run_json,
)
from bench.run.printout import format_summary, format_targets, repeat_warnings
from bench.run.rounds import TargetRounds
from bench.run.selection import check_rate_targets, knob_values, select_codecs, select_metrics
from bench.run.staging import decode_check_of, mark_for_decode_check, output_stems, staged_tasks
from bench.store.export import write_csvs
from bench.store.provenance import available_cpus, environment, timestamp
from bench.store.sqlite import Store

__all__ = [
    "RunConfig",
    "RunReport",
    "RunSession",
    "RunSetupError",
    "run",
    "select_codecs",
    "format_summary",
    "default_jobs",
    "DEFAULT_TIMEOUT_S",
]


@dataclass
class RunReport:
    """What one invocation of ``bench run`` did: the records and failures it concerns (the run
    folder's, for what this command asked), how many it measured now, the codecs skipped, the files
    written, warnings, and whether it was interrupted or broke (disk full, store unwritable, ...)."""

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
    #: the codecs this command asked for (``records`` may hold others measured into the folder before)
    codecs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted and not self.broken


@dataclass
class RunPlan:
    """What a run measures, chosen and checked before its folder is touched."""

    codecs: list[Codec]
    skipped: dict[str, str]
    qualities: dict[str, list[float]]
    metrics: list[Metric]
    dataset: Dataset
    items: list[DatasetImage]


def plan_run(config: RunConfig, echo: Callable[[str], None]) -> RunPlan:
    """The codecs, knob values, metrics and images ``config`` asks for; :class:`RunSetupError` with a
    one-line reason when the run cannot start."""
    if config.target_bpp is None and is_given(config.target_tolerance):
        raise RunSetupError("--target-tolerance is the tolerance of rate matching: give it with --target-bpp, or "
                            "leave it out (a sweep of --quality values has no target to reach)")  # fmt: skip
    check_rate_targets(config)
    try:
        registry = discover(config.plugins)
    except Exception as exc:
        raise RunSetupError(str(exc)) from exc
    codecs, skipped = select_codecs(registry, config.codecs, config.device, offline=config.offline, half=config.half)
    if not codecs:
        raise RunSetupError("no codec to run" + (f" (unavailable: {', '.join(skipped)})" if skipped else ""))
    qualities = {codec.name: knob_values(codec, config.qualities) for codec in codecs}
    metrics = select_metrics(config)
    if config.repeat < 1 or config.jobs < 1:
        raise RunSetupError("--repeat and --jobs must be at least 1")
    try:
        dataset = resolve_dataset(config.dataset, config.data_dir, download=not config.offline)
    except Exception as exc:
        raise RunSetupError(str(exc)) from exc
    for name, reason in skipped.items():
        echo(f"skipping {name}: {reason}")
    if dataset.skipped:
        names = ", ".join(name for name, _ in dataset.skipped[:3]) + (" ..." if len(dataset.skipped) > 3 else "")
        echo(f"{len(dataset.skipped)} entries of {dataset.given or dataset.name} are not images it uses ({names}); "
             "run.json lists each with the reason (dataset.skipped)")  # fmt: skip
    return RunPlan(codecs, skipped, qualities, metrics, dataset, list(dataset.images[: config.max_images]))


def run(config: RunConfig, *, progress: bool = True, echo: Callable[[str], None] = print) -> RunReport:
    """Measure what ``config`` asks for and is not in the store yet; export CSVs and run.json.

    Raises :class:`RunSetupError` when the run cannot start; a run that breaks while measuring (disk
    full, ...) returns a report whose ``broken`` says why, after saving what it can.
    """
    clock = time.perf_counter()
    plan = plan_run(config, echo)
    out = make_run_folder(config, plan.dataset.name)
    with RunLock(out), open_store(out / "store.sqlite") as store:
        remove_stale_staging(out)
        return RunSession(config, plan, out, store, echo, progress, clock).run()


class RunSession:
    """One invocation of ``bench run`` writing into one run folder (whose lock it holds): :meth:`run`."""

    def __init__(self, config: RunConfig, plan: RunPlan, out: Path, store: Store, echo: Callable[[str], None],
                 progress: bool, clock: float) -> None:  # fmt: skip
        self.config, self.plan, self.out, self.store, self.echo = config, plan, out, store, echo
        self.progress, self.clock = progress, clock
        self.env = environment()
        self.run_json = out / "run.json"
        self.staging = out / f".staging-{os.getpid()}"
        self.stems = output_stems(plan.items)
        self.checked: set[tuple[str, float]] = set()  # (codec, quality) chosen for a decoding check
        self.pending: dict[str, list[Task]] = {}  # image -> tasks planned (the sweep, or the current round)
        self.wanted: list[Task] = []  # every task of the sweep, measured before or not
        self.checks: list[DecodeCheck] = []
        self.warnings: list[str] = []
        self.counts: Counter = Counter()
        self.invocations: list[dict] = []
        self.invocation: dict = {}
        self.nodes: dict[str, dict] = {}
        self.rounds: TargetRounds | None = None
        self.options: MeasureOptions | None = None
        self.executor: Executor | None = None
        self.bar: tqdm | None = None

    def run(self) -> RunReport:
        """Set up (:class:`RunSetupError` when the store refuses), measure, export, report."""
        self._begin()
        return self._measure_and_export()

    # -- before measuring --------------------------------------------------------------------------
    def _begin(self) -> None:
        """Bind the dataset, codecs and metrics to the store (refusing to mix other versions), record
        this invocation, write run.json, plan the tasks and create the executor."""
        self._bind()
        for note in close_unfinished_invocations(self.store):
            self.echo(note)
        self.invocations = self.store.get_meta("invocations") or []
        self.invocation = {"command": self.config.recorded_command(), "started": timestamp(), "finished": None,
                           "status": "running", "measured": 0, "failed": 0, "environment": self.env}  # fmt: skip
        self.invocations.append(self.invocation)
        self.store.set_meta("invocations", self.invocations)
        write_run_json(self.run_json, self.store, self.config, self.plan.dataset, self.plan.skipped, self.env,
                       "running")  # fmt: skip
        todo = self._plan_sweep() if not self.config.target_bpp else 0  # rate matching plans round by round
        self.options = self._measure_options()
        try:
            self.executor = create_executor(self.config.executor, self.options, self.config.jobs,
                                            self.config.timeout, self.config.ray_address)  # fmt: skip
        except ExecutorError as exc:
            raise RunSetupError(str(exc)) from exc
        (self.staging / "check").mkdir(parents=True, exist_ok=True)
        self.bar = tqdm(total=len(self.wanted), initial=len(self.wanted) - todo, unit="img",
                        disable=None if self.progress else True, desc=f"bench {self.plan.dataset.name}",
                        dynamic_ncols=True)  # fmt: skip
        self.nodes = self.store.get_meta("nodes") or {}

    def _bind(self) -> None:
        plan, store = self.plan, self.store
        try:
            store.bind_dataset(plan.dataset.name, {item.name: item.sha256 for item in plan.items})
            for codec in plan.codecs:
                store.bind_codec(codec.name, codec.describe())
            for metric in plan.metrics:
                store.bind_metric(metric.name, metric.describe())
        except Exception as exc:
            raise RunSetupError(str(exc)) from exc
        if self.config.target_bpp:  # what reports need to replay the searches; earlier invocations' knobs kept
            earlier = store.get_meta("rate_matching") or {}
            knobs = {**earlier.get("knobs", {}), **{c.name: KnobSpec.from_knob(c.knob).as_json() for c in plan.codecs}}
            matching = RateMatching(self.config.target_bpp, float(self.config.target_tolerance)).as_json()
            store.set_meta("rate_matching", {**matching, "knobs": dict(sorted(knobs.items()))})

    def _plan_sweep(self) -> int:
        """``wanted`` and ``pending`` of a sweep (codec x knob value x image); how many tasks are left."""
        done = self.store.done()
        if not self.config.retry_timeouts:
            done |= self.store.failure_keys("timeout")
        for item in self.plan.items:
            for codec in self.plan.codecs:
                for quality in self.plan.qualities[codec.name]:
                    task = Task(codec.name, quality, item.name, stem=self.stems[item.name])
                    self.wanted.append(task)
                    if task.key not in done:
                        marked = mark_for_decode_check(task, self.checked, self.staging)
                        self.pending.setdefault(item.name, []).append(marked)
        return sum(map(len, self.pending.values()))

    def _measure_options(self) -> MeasureOptions:
        config, out = self.config, self.out
        return MeasureOptions(
            repeat=config.repeat,
            plugins=tuple(str(Path(p).resolve()) for p in config.plugins),
            device=config.device,
            half=config.half,
            metrics=tuple(m.name for m in self.plan.metrics),
            metric_device=metric_device(self.plan.metrics),
            reconstructions_dir=out / "reconstructions" if config.save_reconstructions else None,
            bitstreams_dir=out / "bitstreams" if config.save_bitstreams else None,
        )

    # -- measuring ---------------------------------------------------------------------------------
    def _store_result(self, result: Record | Failure) -> None:
        """Store one result as it comes back (the machine that measured it first, for a cluster's)."""
        if isinstance(result, Record):
            node = result.extra.get("node")
            if node is not None and node not in self.nodes:  # stored before its first record: a killed run keeps it
                self.nodes.update(self.executor.nodes())
                self.store.set_meta("nodes", self.nodes)
            self.store.add_record(result, self._progress("measured"))
            self.counts["measured"] += 1
        else:
            self.store.add_failure(result, self._progress("failed"))
            self.counts["failed"] += 1
            self.bar.write(
                f"FAILED {result.codec} {format_quality(result.quality)} {result.image} ({result.stage}): {result.error}"
            )
        self.bar.set_postfix_str(f"{result.codec} {format_quality(result.quality)}", refresh=False)
        self.bar.update(1)

    def _progress(self, stored: str) -> dict:
        """The store's meta keys that keep this invocation's counts true with one more result ``stored``
        (``measured`` or ``failed``): a killed run's counts are those it committed."""
        counts = {"measured": self.counts["measured"], "failed": self.counts["failed"]}
        counts[stored] += 1
        invocation = {**self.invocation, **counts}
        return {PROGRESS_KEY: progress_of(invocation, len(self.invocations) - 1)}

    def _store_image(self, name: str, info: dict | str) -> None:
        """What reading image ``name`` gave (or why it failed), stored at once: a killed run keeps it."""
        if isinstance(info, str):
            self.store.update_image_failures(attempted={name}, failures={name: info})
        else:
            self.store.set_image(name, info)
            self.store.update_image_failures(attempted={name}, failures={})

    def _feed(self, tasks: Iterable[Task]) -> None:
        """Measure ``tasks`` on the executor, storing each result and noting the decoding checks."""
        for result in run_tasks(self.executor, tasks):
            self._store_result(result)
            if isinstance(result, Record) and (check := decode_check_of(result, self.pending)) is not None:
                self.checks.append(check)

    def _check_decoding(self) -> None:
        """The fresh-process decoding checks of what was measured since the last ones (warnings kept)."""
        self.warnings += apply_checks(self.checks, self.options, self.config.timeout, self.store, self.echo)
        self.checks.clear()
        shutil.rmtree(self.staging / "check", ignore_errors=True)
        (self.staging / "check").mkdir(parents=True, exist_ok=True)

    def _tasks(self, decode_threads: int) -> Iterator[Task] | Iterator[Iterator[Task]]:
        """The staged tasks of the sweep, or (rate matching) an iterator of each round's staged tasks."""
        if not self.config.target_bpp:
            return staged_tasks(self.plan.items, self.pending, self.staging, decode_threads, self._store_image)
        self.rounds = TargetRounds(
            self.store, self.plan.items, self.plan.codecs, self.config.target_bpp, self.config.retry_timeouts,
            self.stems, self.staging, decode_threads, self._store_image, self.pending, self.checked,
        )  # fmt: skip
        return iter(self.rounds)

    def _measure(self, tasks: Iterator[Task] | Iterator[Iterator[Task]]) -> None:
        """Measure the sweep, or each round of rate matching followed by its decoding checks; then the
        decoding checks of what is left, in fresh processes, after the executor has stopped."""
        with self.executor:
            if self.rounds is None:
                self._feed(tasks)
            for round_tasks in tasks if self.rounds is not None else ():
                if not self.bar.disable:
                    self.bar.total += sum(map(len, self.pending.values()))
                    self.bar.refresh()
                self._feed(round_tasks)
                self._check_decoding()  # before the next round
        self._check_decoding()

    def _measure_and_export(self) -> RunReport:
        """Measure what is pending, then export the results, even after Ctrl-C, SIGTERM or a broken run."""
        decode_threads = max(1, available_cpus() - self.config.jobs)  # the CPUs the workers leave free
        tasks = self._tasks(decode_threads)
        setup_s = time.perf_counter() - self.clock
        interrupted, broken = False, ""
        previous_sigterm = catch_sigterm()
        try:
            self._measure(tasks)
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:  # the run itself broke (disk full, store unwritable, ...): say so, keep what is saved
            broken = f"{type(exc).__name__}: {exc}" + disk_note(self.out)
        finally:
            restore_sigterm(previous_sigterm)
            tasks.close()
            shutil.rmtree(self.staging, ignore_errors=True)
            self.bar.close()
            status = "interrupted" if interrupted else "broken" if broken else "complete"
            self._finish_invocation(status, setup_s, broken)
            self.warnings += self.executor.warnings + repeat_warnings(self.store)
            files, per_dataset, broken = self._export(status, self.warnings, broken)
        return self._report(files, per_dataset, self.warnings, interrupted, broken)

    # -- after measuring ---------------------------------------------------------------------------
    def _finish_invocation(self, status: str, setup_s: float, broken: str) -> None:
        measure_s = time.perf_counter() - self.clock - setup_s
        self.invocation.update(finished=timestamp(), status=status, measured=self.counts["measured"],
                               failed=self.counts["failed"], setup_s=round(setup_s, 4), measure_s=round(measure_s, 4),
                               **({"error": broken} if broken else {}))  # fmt: skip

    def _export(self, status: str, warnings: list[str], broken: str) -> tuple[dict[str, Path], dict, str]:
        """Write the CSV files, the rate-matching tables and run.json; the files, the dataset metrics'
        values, and why the run broke (a failed export breaks it: the store still holds every record)."""
        store, files, per_dataset = self.store, {}, {}
        try:
            store.set_meta("invocations", self.invocations)
            instances = dataset_metric_instances(store.dataset_metrics(), self.config.plugins)
            per_dataset = dataset_values(store, store.records(), instances)
            files = write_csvs(store, self.out, per_dataset)
            if matching := store.get_meta("rate_matching"):
                from bench.analysis.target_rates import records_frame, write_target_csvs

                frame = records_frame(store.records())
                files.update(write_target_csvs(frame, RateMatching.from_json(matching), store.metrics(), self.out))
            write_run_json(self.run_json, store, self.config, self.plan.dataset, self.plan.skipped, self.env, status,
                           warnings, broken)  # fmt: skip
        except Exception as exc:  # e.g. the disk is full: the store still holds every measurement
            broken = broken or f"{type(exc).__name__}: {exc}"
        files["run"] = self.run_json
        return files, per_dataset, broken

    def _report(self, files: dict[str, Path], per_dataset: dict, warnings: list[str], interrupted: bool,
                broken: str) -> RunReport:  # fmt: skip
        """The report of this command (its failures: images that did not load, measurements still
        failing), printed as the summary."""
        asked = self.rounds.asked if self.rounds is not None else set()
        wanted_keys, names = {t.key for t in self.wanted} | asked, {item.name for item in self.plan.items}
        failures = [
            f for f in self.store.failures() if f.key in wanted_keys or (f.stage == "load" and f.image in names)
        ]
        codecs = [c.name for c in self.plan.codecs]
        report = RunReport(self.out, self.counts["measured"], self.store.records(), failures, self.plan.skipped,
                           interrupted, files, warnings, broken, per_dataset, codecs)  # fmt: skip
        self.echo(format_summary(report, codecs=codecs, metrics=self.plan.metrics))
        if self.config.target_bpp and "target_rates" in files:
            self.echo(format_targets(files["target_rates"], codecs, self.rounds.stopped if self.rounds else {}))
        return report
