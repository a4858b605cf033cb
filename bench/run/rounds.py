"""Rate matching's rounds of probes (``bench run --target-bpp``): the tasks of each round, until done.

Each round asks the search of every (codec, image) (:func:`bench.analysis.rate_match.search`),
replayed from the store, for its next knob values; the runner measures them all (every image and codec
of the round in parallel) and checks their decoding before the next round. A search that asks again
for a probe this command already tried (it failed, or its decoding check did), or for one that timed
out in an earlier run (without ``--retry-timeouts``), stops with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from bench.analysis.rate_match import KnobSpec, search
from bench.api.codec import Codec
from bench.api.records import format_quality
from bench.api.task import Task
from bench.data.datasets import DatasetImage
from bench.run.staging import OnImage, mark_for_decode_check, staged_tasks
from bench.store.sqlite import Store

__all__ = ["TargetRounds"]

Key = tuple[str, float, str]


@dataclass
class TargetRounds:
    """The rounds of one rate-matched invocation. ``pending`` (image -> tasks of the current round) is
    shared with the runner, which finds each record's decoding check there; ``asked`` gains every probe
    the searches asked for, ``stopped`` every (codec, image) search stopped by a failure, with why."""

    store: Store
    items: list[DatasetImage]
    codecs: list[Codec]
    targets: tuple[float, ...]
    retry_timeouts: bool
    stems: dict[str, str]
    staging: Path
    decode_threads: int
    on_image: OnImage
    pending: dict[str, list[Task]]
    checked: set[tuple[str, float]]
    asked: set[Key] = field(default_factory=set)
    stopped: dict[tuple[str, str], str] = field(default_factory=dict)
    _tried: set[Key] = field(default_factory=set)
    _staged: dict[str, str] = field(default_factory=dict)
    _unreadable: set[str] = field(default_factory=set)

    def __iter__(self) -> Iterator[Iterator[Task]]:
        """Each round's tasks (as staged tasks: images decoded once, on first use); done when no search
        asks for more."""
        number = 0
        while self._plan_round():
            number += 1
            fresh = {name: tasks for name, tasks in self.pending.items() if name not in self._staged}
            current = self._round_tasks(number, fresh)
            try:
                yield current
            finally:
                current.close()

    def _plan_round(self) -> int:
        """Fill ``pending`` with the next probes of every search still going; how many tasks."""
        probes: dict[tuple[str, str], dict[float, float]] = {}
        for record in self.store.records():
            probes.setdefault((record.codec, record.image), {})[float(record.quality)] = record.bpp
        timed_out = set() if self.retry_timeouts else self.store.failure_keys("timeout")
        specs = {codec.name: KnobSpec.from_knob(codec.knob) for codec in self.codecs}
        self.pending.clear()
        for item in self.items:
            for codec in self.codecs:
                if item.name in self._unreadable or (codec.name, item.name) in self.stopped:
                    continue
                found = probes.get((codec.name, item.name), {})
                keys = [(codec.name, v, item.name) for v in search(specs[codec.name], self.targets, found).next]
                self.asked.update(keys)
                if blocked := [key for key in keys if key in self._tried or key in timed_out]:
                    why = "timed out in an earlier run" if blocked[0] in timed_out else "failed"
                    self.stopped[codec.name, item.name] = f"the probe at {format_quality(blocked[0][1])} {why}"
                    continue
                for key in keys:
                    self._tried.add(key)
                    task = Task(codec.name, codec.knob.check(key[1]), item.name, stem=self.stems[item.name])
                    self.pending.setdefault(item.name, []).append(
                        mark_for_decode_check(task, self.checked, self.staging)
                    )
        return sum(map(len, self.pending.values()))

    def _on_round_image(self, name: str, info: dict | str) -> None:
        self.on_image(name, info)
        if isinstance(info, str):
            self._unreadable.add(name)

    def _round_tasks(self, number: int, fresh: dict[str, list[Task]]) -> Iterator[Task]:
        """Round ``number``'s tasks: those of images staged in an earlier round at once, then the others
        (``fresh``) as their images are staged."""
        for name, tasks in list(self.pending.items()):
            if name in self._staged:
                yield from (replace(task, source=self._staged[name]) for task in tasks)
        folder = self.staging / f"round{number}"
        for task in staged_tasks(self.items, fresh, folder, self.decode_threads, self._on_round_image):
            self._staged[task.image] = task.source
            yield task
