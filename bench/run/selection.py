"""Which codecs, knob values and metrics a run measures: chosen from the registries, or refused with why.

Everything here runs before anything is measured and raises :class:`~bench.run.config.RunSetupError`
with a one-line message for a request that cannot run (an unknown or unavailable codec or metric, a
knob value out of range, rate targets that make no sense).
"""

from __future__ import annotations

import math
from typing import Iterable

from bench.api.codec import Codec
from bench.api.codec_registry import CodecEntry, Registry
from bench.api.metric import Metric, MetricError
from bench.api.metric_registry import discover_metrics, resolve_metric_device
from bench.run.config import RunConfig, RunSetupError

__all__ = ["select_codecs", "knob_values", "select_metrics", "check_rate_targets"]


def select_codecs(
    registry: Registry, names: Iterable[str] | None, device: str = "cpu", *, offline: bool = True, half: bool = False
) -> tuple[list[Codec], dict[str, str]]:
    """Codec instances to run, and the default-run codecs skipped because they are unavailable here.

    Codecs asked for by name must exist and be available, else :class:`RunSetupError`. Each codec
    selected first fetches what it needs (:meth:`Codec.fetch`; nothing is downloaded when ``offline``).
    """
    if names is None:
        return _default_codecs(registry, device, offline, half)
    chosen = []
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
    return chosen, dict(registry.broken)


def _default_codecs(registry: Registry, device: str, offline: bool, half: bool) -> tuple[list[Codec], dict[str, str]]:
    """The codecs of the default run that are available here, and why the others are skipped."""
    chosen, skipped = [], dict(registry.broken)
    for entry in registry.entries():
        if not entry.cls.in_default_run:
            continue
        reason = _fetch_problem(entry, offline) or entry.unavailable_reason()
        if reason:
            skipped[entry.name] = reason
        else:
            chosen.append(_create(entry, device, half))
    return chosen, skipped


def _fetch_problem(entry: CodecEntry, offline: bool) -> str | None:
    """Why fetching what the codec needs failed (:meth:`Codec.fetch`), or None."""
    try:
        entry.cls.fetch(offline)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None


def _create(entry: CodecEntry, device: str, half: bool = False) -> Codec:
    try:
        return entry.create(device, half)
    except Exception as exc:
        raise RunSetupError(f"codec '{entry.name}' cannot start on {device}: {type(exc).__name__}: {exc}") from exc


def knob_values(codec: Codec, asked: tuple[float, ...] | None) -> list[float]:
    """The knob values a run sweeps for ``codec`` (``asked``, else its default sweep), from the lowest
    rate to the highest; :class:`RunSetupError` for a value outside the knob's range."""
    values = asked if asked is not None else codec.knob.sweep
    try:
        return codec.knob.ordered(values)
    except ValueError as exc:
        raise RunSetupError(f"codec '{codec.name}': {exc}") from None


def select_metrics(config: RunConfig) -> list[Metric]:
    """Instances of the metrics ``config`` asks for, on their device, after fetching what they need;
    :class:`RunSetupError` for an unknown or unavailable one."""
    try:
        registry = discover_metrics(config.plugins)
        metrics = registry.create(config.metrics, resolve_metric_device(registry, config.metrics, config.device))
    except MetricError as exc:
        raise RunSetupError(str(exc)) from None
    for metric in metrics:
        if reason := registry.ready(metric.name, config.offline):
            raise RunSetupError(f"metric '{metric.name}' is not available here: {reason}")
    return metrics


def check_rate_targets(config: RunConfig) -> None:
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
