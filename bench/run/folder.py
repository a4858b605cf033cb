"""The run folder: made writable, one writer at a time (its lock), its store, and its ``run.json``.

``run.json`` says how the results were made: the command, the configuration, every codec's settings
and versions and the knob values it measured, the dataset with each image's sha256 and how it was
read, the metrics' conventions and implementations, the environment, the git commit and every
invocation that wrote into the folder. It is rewritten atomically at the start and the end of each
invocation.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from bench import __version__
from bench.api.files import atomic_write_text
from bench.api.records import format_quality
from bench.data.datasets import Dataset
from bench.run.config import RunConfig, RunSetupError
from bench.store.provenance import git_state, timestamp
from bench.store.sqlite import Store, StoreConflict, StoreError

__all__ = [
    "RunLock",
    "make_run_folder",
    "open_store",
    "remove_stale_staging",
    "write_run_json",
    "disk_note",
    "PROGRESS_KEY",
    "progress_of",
    "close_unfinished_invocations",
]

#: The store's meta key with the counts of the invocation measuring now, set with each result it stores.
PROGRESS_KEY = "invocation_progress"


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
        self._fh.write(f"pid {os.getpid()} since {timestamp()}\n")
        self._fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # releases the lock


def make_run_folder(config: RunConfig, dataset_name: str) -> Path:
    """The run folder (``--out``, else ``results/<--name or the dataset's name>``), made if needed;
    :class:`RunSetupError` when it is a file, cannot be made or is not writable."""
    out = Path(config.out) if config.out else Path("results") / (config.name or dataset_name)
    if out.exists() and not out.is_dir():
        raise RunSetupError(f"--out {out} is a file, not a folder; give a folder for the run's results")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunSetupError(f"cannot create the run folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise RunSetupError(f"the run folder {out} is not writable; give another --out folder")
    return out


def open_store(path: Path) -> Store:
    """The run's store at ``path``, opened for writing; :class:`RunSetupError` if it cannot be used."""
    try:
        return Store(path)
    except (StoreError, StoreConflict) as exc:
        raise RunSetupError(str(exc)) from None


def remove_stale_staging(folder: Path) -> None:
    """Staging folders of earlier runs into ``folder`` (killed before they could remove them); only
    called while holding the folder's lock, so no other run is using them."""
    for stale in folder.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def progress_of(invocation: dict[str, Any], index: int) -> dict[str, Any]:
    """The :data:`PROGRESS_KEY` value of the invocation ``index`` (of the store's ``invocations``) now."""
    return {"invocation": index, "started": invocation.get("started"), "measured": invocation.get("measured", 0),
            "failed": invocation.get("failed", 0)}  # fmt: skip


def close_unfinished_invocations(store: Store) -> list[str]:
    """Mark the invocations the store still has as running (the folder's lock is held, so none is: it
    was killed or its machine stopped) ``unfinished``, with the counts of what they stored; a line on each."""
    invocations = store.get_meta("invocations") or []
    progress = store.get_meta(PROGRESS_KEY) or {}
    notes = []
    for index, invocation in enumerate(invocations):
        if invocation.get("status") != "running":
            continue
        counted = progress.get("invocation") == index and progress.get("started") == invocation.get("started")
        if counted:
            invocation.update(measured=progress.get("measured", 0), failed=progress.get("failed", 0))
        invocation["status"] = "unfinished"
        what = invocation.get("kind", "run")
        stored = (f"it stored {invocation.get('measured', 0)} measurements and {invocation.get('failed', 0)} failures, "
                  "which are kept" if counted else "what it stored is kept (an earlier codec-bench did not count it)")  # fmt: skip
        notes.append(f"the {what} started {invocation.get('started')} into {store.path.parent} ended without "
                     f"finishing (killed?): {stored}")  # fmt: skip
    if notes:
        store.set_meta("invocations", invocations)
    return notes


def disk_note(folder: Path) -> str:
    """A note on the free space of ``folder``'s disk when it is nearly full (the usual cause of a broken run)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f" (the disk of {folder} has {free / 2**20:.1f} MiB free: it is probably full)" if free < 64 * 2**20 else ""


def _measured_codecs(store: Store) -> dict[str, dict[str, Any]]:
    """Each codec's stored description with the knob values the store holds records of."""
    measured = store.measured_qualities()
    return {
        name: {**description, "qualities_measured": [format_quality(q) for q in measured.get(name, [])]}
        for name, description in store.codec_descriptions().items()
    }


def _dataset_as_read(dataset: Dataset, store: Store) -> dict[str, Any]:
    """The dataset's description, each image with what reading it gave (size, conversion)."""
    described = dataset.describe()
    decoded = store.images()
    for item in described["images"]:
        item.update(decoded.get(item["name"], {}))
    return described


def _metric_conventions(metrics: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        "bpp": "8 * bitstream bytes / (width * height); every byte the decoder reads",
        **{name: description.get("convention", "") for name, description in metrics.items()},
        "encode_s/decode_s": "wall-clock seconds of one encode/decode call, median over repeats, after one untimed warm-up",
        "summary": "arithmetic mean over images of the per-image values (CompressAI convention)",
    }


def write_run_json(path: Path, store: Store, config: RunConfig, dataset: Dataset, skipped: dict[str, str],
                   env: dict, status: str, warnings: list[str] = (), broken: str = "") -> None:  # fmt: skip
    """Write ``run.json`` (atomically) from the store and this invocation's configuration."""
    metrics = store.metric_descriptions()
    doc = {
        "format": "codec-bench run",
        "format_version": 1,
        "codec_bench_version": __version__,
        "name": path.parent.name,
        "status": status,
        **({"error": broken} if broken else {}),
        "warnings": list(warnings),
        "updated": timestamp(),
        "command": config.recorded_command(),
        "config": config.as_json(),
        "codecs": _measured_codecs(store),
        "skipped_codecs": skipped,
        "dataset": _dataset_as_read(dataset, store),
        "metrics": _metric_conventions(metrics),
        "metric_implementations": metrics,
        "environment": env,
        **({"nodes": nodes} if (nodes := store.get_meta("nodes")) else {}),
        **({"rate_matching": matching} if (matching := store.get_meta("rate_matching")) else {}),
        "git": git_state(),
        "invocations": store.get_meta("invocations") or [],
        "results": {
            "records": store.count_records(),
            "failures": len(store.failures()),
            "files": ["records.csv", "summary.csv", "failures.csv", "store.sqlite"],
        },
    }
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=True) + "\n")
