"""Rate matching's search (``bench run --target-bpp``): per codec and image, the knob value that lands at a target rate.

The knob value whose bitstream lands at a target rate is found by a search whose every probe is an
ordinary measurement.

Units: rates are bits per pixel of the whole file the decoder reads, ``bpp = 8 * bytes / (width *
height)``. A target is *reached* on an image when the chosen probe's bpp is within the relative
``tolerance`` of it, ``|bpp / target - 1| <= tolerance`` (default 0.15, the +-15% of JPEG AI's call for
evidence).

Pure functions, no I/O: :func:`search` is given a codec's knob (:class:`KnobSpec`), the targets and the
probes already measured on one image (knob value -> bpp) and returns the knob values to measure next
(several targets' at once, without duplicates, never one already measured) and, per target, where its
search stands (:class:`TargetOutcome`). The runner measures what it asks for, stores the records and
asks again, until nothing is left to measure; after a crash the same function replays every search
from the stored probes alone (it keeps no state), so a resumed run measures only what is missing.

**The search of one target** (independent of the other targets, so a target's result does not depend
on which others were asked; probes that two searches share are measured once):

1. probe the two ends of the codec's default sweep (its typical rates, :attr:`KnobSpec.start`);
2. a target outside them: probe the end of the knob's valid range on that side; still outside: the
   target is *unreachable*, ``above`` the codec's highest rate or ``below`` its lowest;
3. otherwise narrow the bracket (a probe below and one above the target) by regula falsi on
   ``log(bpp / target)`` against the knob (against ``log(knob)`` for a fractional knob whose range is
   positive, such as a bpp knob), Illinois variant (the value kept twice in a row has its weight
   halved), with a bisection whenever two steps did not halve the bracket; integer knobs probe whole
   numbers, fractional knobs 3 significant digits (more when needed to split the bracket).

A search settles when a probe lands within +-2% of its target (:data:`SETTLE`), when no knob value is
left inside its bracket (two adjacent integers, or fractional values equal to 6 significant digits),
when the range's end does not reach the target, or after :data:`MAX_PROBES` probes. Its result is the
probe with the smallest ``|log(bpp / target)|``. A search stays unsettled (``done`` False) while a probe
it needs is not measured, e.g. because that probe failed.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Any, Generator, Iterable, Mapping

__all__ = [
    "KnobSpec",
    "RateMatching",
    "TargetOutcome",
    "Search",
    "search",
    "next_probes",
    "status_of",
    "target_list",
    "tolerance_value",
    "SETTLE",
    "MAX_PROBES",
    "DEFAULT_TOLERANCE",
    "STATUSES",
]

#: A probe within this relative distance of its target settles the search (+-2%).
SETTLE = 0.02
#: Most probes one target's search makes on one image (the two start probes included).
MAX_PROBES = 12
#: Relative tolerance of a reached target: +-15%, as JPEG AI's call for evidence.
DEFAULT_TOLERANCE = 0.15
#: What a target's result on an image is: reached (within the tolerance); above / below (the target is
#: beyond the codec's highest / lowest rate on that image); missed (no knob value within the tolerance,
#: e.g. between two models of a learned family, or a jump in the codec's rate); incomplete (the search
#: did not finish: a probe failed, or the run was interrupted).
STATUSES = ("reached", "above", "below", "missed", "incomplete")


@dataclass(frozen=True)
class KnobSpec:
    """What the search needs of a codec's :class:`bench.api.codec.Knob`: its valid range (inclusive), whether
    only whole numbers are valid, whether the rate grows with the value, and ``start``: the values
    probed first (the default sweep's lowest-rate and highest-rate values)."""

    low: float
    high: float
    integer: bool = True
    rate_grows: bool = True
    start: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"knob range [{self.low:g}, {self.high:g}] is empty")
        if self.start is None:
            object.__setattr__(self, "start", self.rate_ends)
        first, last = (self._clamped(v) for v in self.start)
        object.__setattr__(self, "start", (first, last))

    @classmethod
    def from_knob(cls, knob: Any) -> KnobSpec:
        """The spec of a :class:`bench.api.codec.Knob` (its sweep's ends start the search)."""
        ordered = knob.ordered(knob.sweep) if knob.sweep else []
        start = (ordered[0], ordered[-1]) if ordered else None
        return cls(float(knob.low), float(knob.high), bool(knob.integer), bool(knob.rate_grows), start)

    def as_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "integer": self.integer, "rate_grows": self.rate_grows,
                "start": list(self.start)}  # fmt: skip

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> KnobSpec:
        start = doc.get("start")
        return cls(float(doc["low"]), float(doc["high"]), bool(doc.get("integer", True)),
                   bool(doc.get("rate_grows", True)), tuple(start) if start else None)  # fmt: skip

    @property
    def rate_ends(self) -> tuple[float, float]:
        """The knob values of the range's lowest and highest rate."""
        return (self.low, self.high) if self.rate_grows else (self.high, self.low)

    @property
    def log_scale(self) -> bool:
        """Interpolate against log(knob): fractional knobs whose range is positive (a bpp knob, ...)."""
        return not self.integer and self.low > 0

    def _clamped(self, value: float) -> float:
        """``value`` moved into the knob's range, and rounded to a whole number for an integer knob."""
        value = min(max(float(value), self.low), self.high)
        return float(round(value)) if self.integer else value


@dataclass(frozen=True)
class TargetOutcome:
    """Where the search of one ``target`` (bpp) stands on one image.

    ``probes``: (knob, bpp) of the probes the search made, in order; ``done``: it settled; ``reason``:
    why (``within`` 2%, ``adjacent``: no knob value left between a probe below and one above,
    ``range``: the range's end does not reach it, ``limit``: :data:`MAX_PROBES` probes), empty while
    not done; ``end``: ``above`` / ``below`` when the target lies beyond the codec's highest / lowest
    rate. ``chosen``: the probe with the smallest ``|log(bpp / target)|`` (None before any probe)."""

    target: float
    probes: tuple[tuple[float, float], ...] = ()
    done: bool = False
    reason: str = ""
    end: str = ""

    @property
    def chosen(self) -> tuple[float, float] | None:
        if not self.probes:
            return None
        return min(self.probes, key=lambda p: (abs(_log_ratio(p[1], self.target)), p[0]))

    def error(self) -> float:
        """Relative rate error of the chosen probe, ``bpp / target - 1`` (NaN without a probe)."""
        chosen = self.chosen
        return math.nan if chosen is None else chosen[1] / self.target - 1

    def status(self, tolerance: float = DEFAULT_TOLERANCE) -> str:
        """One of :data:`STATUSES`."""
        return status_of(self, tolerance)


def status_of(outcome: TargetOutcome, tolerance: float = DEFAULT_TOLERANCE) -> str:
    """``reached`` when the chosen probe is within ``tolerance`` (relative) of the target; else
    ``incomplete`` for a search not done, ``above`` / ``below`` for a target beyond the codec's rates,
    ``missed`` otherwise."""
    if outcome.probes and abs(outcome.error()) <= tolerance * (1 + 1e-12):
        return "reached"
    if not outcome.done:
        return "incomplete"
    return outcome.end or "missed"


@dataclass(frozen=True)
class Search:
    """The knob values to measure next (sorted, each once; empty when every target is settled or waits
    for nothing), and each target's :class:`TargetOutcome`, in the order of the targets."""

    next: tuple[float, ...]
    outcomes: tuple[TargetOutcome, ...] = field(default=())

    @property
    def settled(self) -> bool:
        return all(o.done for o in self.outcomes)


def search(
    knob: KnobSpec, targets: Iterable[float], probes: Mapping[float, float], max_probes: int = MAX_PROBES
) -> Search:
    """Replay each target's search (module docstring) over ``probes`` (knob value -> bpp measured on
    one image) and return what to measure next and where each search stands."""
    known = {float(k): float(v) for k, v in probes.items()}
    wanted: set[float] = set()
    outcomes = []
    for target in targets:
        outcome, missing = _replay(knob, float(target), known, max_probes)
        outcomes.append(outcome)
        wanted.update(missing)
    return Search(tuple(sorted(wanted)), tuple(outcomes))


def next_probes(
    knob: KnobSpec, targets: Iterable[float], probes: Mapping[float, float], max_probes: int = MAX_PROBES
) -> tuple[float, ...]:
    """The knob values to measure next on one image (:func:`search`); empty when every target is settled."""
    return search(knob, targets, probes, max_probes).next


@dataclass(frozen=True)
class RateMatching:
    """A run's rate matching as run.json's ``rate_matching`` section records it: the targets (bpp), the
    relative tolerance, and the knob of each rate-matched codec."""

    targets: tuple[float, ...]
    tolerance: float = DEFAULT_TOLERANCE
    knobs: dict[str, KnobSpec] = field(default_factory=dict)
    max_probes: int = MAX_PROBES

    def as_json(self) -> dict[str, Any]:
        return {
            "targets_bpp": list(self.targets),
            "tolerance": self.tolerance,
            "settle": SETTLE,
            "max_probes": self.max_probes,
            "knobs": {name: spec.as_json() for name, spec in sorted(self.knobs.items())},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RateMatching:
        return cls(
            tuple(float(t) for t in doc["targets_bpp"]),
            float(doc.get("tolerance", DEFAULT_TOLERANCE)),
            {name: KnobSpec.from_json(spec) for name, spec in doc.get("knobs", {}).items()},
            int(doc.get("max_probes", MAX_PROBES)),
        )


# --- one target's search ------------------------------------------------------------------------


@dataclass
class _SearchEnd:
    """Why one target's search stopped (:attr:`TargetOutcome.reason`) and beyond which end of the rates
    its target lies, if it does (:attr:`TargetOutcome.end`)."""

    reason: str
    end: str = ""


def _log_ratio(bpp: float, target: float) -> float:
    """``log(bpp / target)``: negative below the target, positive above it."""
    return math.log(max(bpp, 1e-300) / target)


def _replay(
    knob: KnobSpec, target: float, known: Mapping[float, float], max_probes: int
) -> tuple[TargetOutcome, list[float]]:
    """Drive the search of ``target`` with the ``known`` probes until it settles (nothing missing) or
    asks for values not measured yet (those values)."""
    steps = _search_steps(knob, target, max_probes)
    made: dict[float, float] = {}
    request = next(steps)
    while True:
        missing = [v for v in request if v not in known]
        if missing:
            steps.close()
            return TargetOutcome(target, tuple(made.items())), missing
        got = {v: known[v] for v in request}
        made.update(got)
        try:
            request = steps.send(got)
        except StopIteration as stop:
            result: _SearchEnd = stop.value
            return TargetOutcome(target, tuple(made.items()), True, result.reason, result.end), []


def _search_steps(knob: KnobSpec, target: float, max_probes: int) -> Generator[tuple[float, ...], dict, _SearchEnd]:
    """The search of one target as a generator: yields the values it needs measured (a tuple), is sent
    their bpp (value -> bpp), returns why it stopped (:class:`_SearchEnd`)."""
    seen: dict[float, float] = {}

    def log_ratio(value: float) -> float:
        return _log_ratio(seen[value], target)

    def settles(value: float) -> bool:
        return abs(seen[value] / target - 1) <= SETTLE

    first, last = knob.start
    request = tuple(dict.fromkeys((first, last)))
    seen.update((yield request))
    for value in request:
        if settles(value):
            return _SearchEnd("within")
    lowest, highest = knob.rate_ends
    lowest, highest = knob._clamped(lowest), knob._clamped(highest)
    if log_ratio(first) > 0:  # even the lowest start rate is above the target: go to the range's low-rate end
        if first == lowest:
            return _SearchEnd("range", "below")
        seen.update((yield (lowest,)))
        if settles(lowest):
            return _SearchEnd("within")
        if log_ratio(lowest) > 0:
            return _SearchEnd("range", "below")
        a, b = lowest, first
    elif log_ratio(last) < 0:  # even the highest start rate is below it: go to the range's high-rate end
        if last == highest:
            return _SearchEnd("range", "above")
        seen.update((yield (highest,)))
        if settles(highest):
            return _SearchEnd("within")
        if log_ratio(highest) < 0:
            return _SearchEnd("range", "above")
        a, b = last, highest
    else:
        a, b = first, last
    # a: a value below the target (log_ratio < 0), b: one above (> 0); Illinois regula falsi between them
    fa, fb = log_ratio(a), log_ratio(b)
    side = 0
    widths = [_bracket_width(knob, a, b)]
    while True:
        if len(seen) >= max_probes:
            return _SearchEnd("limit")
        bisect = len(widths) >= 3 and widths[-1] > 0.5 * widths[-3]
        c = _next_knob_value(knob, a, b, fa, fb, bisect)
        if c is None:
            return _SearchEnd("adjacent")
        seen.update((yield (c,)))
        if settles(c):
            return _SearchEnd("within")
        fc = log_ratio(c)
        if fc < 0:
            a, fa = c, fc
            if side == -1:
                fb /= 2
            side = -1
        else:
            b, fb = c, fc
            if side == 1:
                fa /= 2
            side = 1
        widths.append(_bracket_width(knob, a, b))


def _knob_coordinate(knob: KnobSpec, value: float) -> float:
    """Where the search interpolates a knob value: its log for a :attr:`KnobSpec.log_scale` knob, else itself."""
    return math.log(value) if knob.log_scale else value


def _bracket_width(knob: KnobSpec, a: float, b: float) -> float:
    """The distance between two knob values in :func:`_knob_coordinate`'s terms."""
    return abs(_knob_coordinate(knob, a) - _knob_coordinate(knob, b))


def _next_knob_value(knob: KnobSpec, a: float, b: float, fa: float, fb: float, bisect: bool) -> float | None:
    """A valid knob value strictly between ``a`` and ``b``: where the line through (a, fa) and (b, fb)
    crosses zero (the middle when ``bisect``), rounded to a valid value; None when none is left."""
    ua, ub = _knob_coordinate(knob, a), _knob_coordinate(knob, b)
    u = (ua + ub) / 2 if bisect or not fb > fa else ua - fa * (ub - ua) / (fb - fa)
    value = math.exp(u) if knob.log_scale else u
    lo, hi = min(a, b), max(a, b)
    if knob.integer:
        if hi - lo <= 1:
            return None
        return float(min(max(round(value), lo + 1), hi - 1))
    for digits in (3, 4, 5, 6):
        rounded = float(f"{value:.{digits}g}")
        if lo < rounded < hi:
            return rounded
    return None


# --- option values ----------------------------------------------------------------------------------


def target_list(text: str) -> tuple[float, ...]:
    """``--target-bpp 0.06,0.12`` -> ``(0.06, 0.12)``: positive finite rates, each once, in the order given."""
    try:
        values = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated rates in bpp, got {text!r}") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive rates in bpp, got {text!r}")
    return tuple(dict.fromkeys(values))


def tolerance_value(text: str) -> float:
    """``--target-tolerance 0.15`` (or ``15%``): a relative tolerance above 0 and below 1."""
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a relative tolerance such as 0.15 or 15%, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the tolerance must be above 0 and below 1 (0.15 = +-15%), got {text!r}")
    return value
