"""Plugin files: Python files given with ``--plugin`` that define codecs and metrics.

:func:`load_plugin_file` imports such a file as a module named after its path (so two plugins never
clash and every process gives it the same name). The registries of codecs (:mod:`bench.registry`)
and metrics (:mod:`bench.metric`) then collect the classes it marks with ``@register_codec`` and
``@register_metric``; :data:`MARKS` are the attributes those decorators set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

__all__ = ["PluginError", "load_plugin_file", "load_entry_point", "defines_plugins", "CODEC_MARK", "METRIC_MARK"]

#: Class attributes set by ``@register_codec`` and ``@register_metric`` (on the class itself).
CODEC_MARK = "__codec_bench_registered__"
METRIC_MARK = "__codec_bench_metric__"
MARKS = (CODEC_MARK, METRIC_MARK)


class PluginError(LookupError):
    """A plugin file that does not exist or cannot be imported; the message names it."""


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module (named after its path, so two plugins never clash)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]  # stable across processes, unlike hash()
    module_name = f"codec_bench_plugin_{digest}_{path.stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(f"plugin file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def load_entry_point(ep, base: type, add_module: Callable[[ModuleType, str], int],
                     add_class: Callable[[type, str], None], decorator: str) -> None:  # fmt: skip
    """Load the installed package's entry point ``ep``, which names a module (its classes marked by
    ``decorator`` are added with ``add_module(module, origin)``) or one subclass of ``base`` (added
    with ``add_class(cls, origin)``); :class:`PluginError` naming the entry point if it cannot."""
    origin = f"entry point '{ep.name}' ({ep.value}, {ep.dist.name if ep.dist else 'unknown package'})"
    try:
        obj = ep.load()
    except Exception as exc:
        raise PluginError(f"{origin} failed to load: {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, ModuleType):
        if add_module(obj, origin) == 0:
            raise PluginError(f"{origin} names a module without {decorator} classes")
    elif isinstance(obj, type) and issubclass(obj, base):
        add_class(obj, origin)
    else:
        raise PluginError(f"{origin} must name a module or a {base.__name__} subclass, got {obj!r}")


def defines_plugins(module: ModuleType) -> bool:
    """True when ``module`` defines at least one class marked as a codec or a metric."""
    return any(
        isinstance(obj, type) and obj.__module__ == module.__name__ and any(obj.__dict__.get(m) is obj for m in MARKS)
        for obj in vars(module).values()
    )
