"""The runner's check that codecs decode from the bytes alone.

The measuring process decodes each bitstream with a second codec instance, but both instances live
in the process that encoded: a plugin whose ``decode`` reads what ``encode`` left in a module
global would pass. So after a run, one bitstream per codec and quality (the first image measured)
is decoded again in a fresh process that never encoded anything, and compared with what the
measuring process decoded:

* ``identical``: the codec passes;
* ``nondeterministic``: at most 1% of the samples differ, by one level at most (GPU convolutions,
  thread-count dependent float rounding): recorded as a warning, the measurements stand;
* ``different`` or ``error`` (the fresh decoder raised): the codec did not decode from the bytes
  alone; the runner turns every measurement of that codec and quality into a failure
  (:func:`apply_checks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bench.api.records import format_quality
from bench.api.task import MeasureOptions
from bench.store.sqlite import Store

__all__ = ["DecodeCheck", "CheckOutcome", "run_checks", "apply_checks", "compare"]

#: Differences tolerated as non-determinism: share of samples, and largest difference (levels).
TOLERATED_SHARE = 0.01
TOLERATED_LEVELS = 1


@dataclass(frozen=True)
class DecodeCheck:
    """Decode ``<path>.bits`` with ``codec`` afresh; compare with ``<path>.npy``."""

    codec: str
    quality: float
    image: str
    path: str


@dataclass(frozen=True)
class CheckOutcome:
    check: DecodeCheck
    status: str  # identical, nondeterministic, different, error
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("different", "error")


def compare(expected: np.ndarray, got: np.ndarray) -> tuple[str, str]:
    """(status, detail) of a fresh decode ``got`` against the measured decode ``expected``."""
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return (
            "different",
            f"the fresh decoder returned {got.dtype} {got.shape}, the measured one {expected.dtype} {expected.shape}",
        )
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    count, largest = int(np.count_nonzero(diff)), int(diff.max(initial=0))
    if count == 0:
        return "identical", ""
    detail = f"{count} of {diff.size} samples differ (largest difference {largest})"
    if largest <= TOLERATED_LEVELS and count <= TOLERATED_SHARE * diff.size:
        return "nondeterministic", detail
    return "different", detail


def _decode_in_fresh_process(conn, checks: list[DecodeCheck], options: MeasureOptions) -> None:
    import traceback

    from bench.api.codec_registry import discover
    from bench.executors.fork_server import die_with_server
    from bench.executors.measure import pin_threads

    die_with_server()
    pin_threads()
    registry = discover(options.plugins)
    codecs: dict = {}
    for check in checks:
        try:
            if check.codec not in codecs:
                codecs[check.codec] = registry.get(check.codec).create(options.device, options.half)
            decoded = codecs[check.codec].decode(Path(check.path + ".bits").read_bytes())
            expected = np.load(check.path + ".npy")
            if not isinstance(decoded, np.ndarray):
                conn.send(("different", f"the fresh decoder returned {type(decoded).__name__}"))
                continue
            conn.send(compare(expected, decoded))
        except BaseException as exc:  # noqa: B036 (whatever the fresh decoder does is the check's finding)
            conn.send(("error", "".join(traceback.format_exception_only(type(exc), exc)).strip()))
    conn.close()


def run_checks(checks: list[DecodeCheck], options: MeasureOptions, timeout: float = 0) -> list[CheckOutcome]:
    """Decode every check's bitstream in a fresh process (see the module docstring); a check whose
    decoder kills that process or outlives ``timeout`` seconds is an ``error``, and the checks after it
    go on in another fresh process."""
    from bench.executors.local import worker_context

    ctx = worker_context()
    outcomes: list[CheckOutcome] = []
    remaining = list(checks)
    while remaining:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_decode_in_fresh_process, args=(child, remaining, options), daemon=True)
        process.start()
        child.close()
        try:
            while remaining:
                check = remaining[0]
                if not parent.poll(timeout or None):
                    outcomes.append(
                        CheckOutcome(check, "error", f"the fresh decoder gave no result after {timeout:g} s")
                    )
                    remaining.pop(0)
                    break
                try:
                    status, detail = parent.recv()
                except EOFError:
                    process.join(5)
                    outcomes.append(
                        CheckOutcome(
                            check, "error", f"the fresh decoding process died (exit status {process.exitcode})"
                        )
                    )
                    remaining.pop(0)
                    break
                outcomes.append(CheckOutcome(check, status, detail))
                remaining.pop(0)
        finally:
            process.kill()
            process.join(5)
            parent.close()
    return outcomes


def apply_checks(checks: list[DecodeCheck], options: MeasureOptions, timeout: float, store: Store,
                 echo: Callable[[str], None]) -> list[str]:  # fmt: skip
    """Run ``checks`` (:func:`run_checks`) and fail, in ``store``, every measurement of the codecs and
    qualities whose decoder did not decode from the bytes alone; returns the warnings (non-determinism)."""
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
