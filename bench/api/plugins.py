"""Plugin files: Python files given with ``--plugin`` that define codecs and metrics.

:func:`load_plugin_file` imports such a file as a module named after its content (the sha256 of its
bytes), not its path or name: every process, on every machine, gives the same file the same module
name wherever it lies and whatever it is called, so a plugin file moved, renamed or copied unchanged
keeps the identity its codecs record (``class`` in ``run.json`` and in the run's store: a run folder
goes on with it), while an edited file gets a new one (and a run folder refuses to mix the two); two
different files never clash, whatever their names. The registries of codecs (:mod:`bench.api.codec_registry`)
and metrics (:mod:`bench.api.metric`) then collect the classes it marks with ``@register_codec`` and
``@register_metric``; :data:`MARKS` are the attributes those decorators set.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable

__all__ = [
    "PluginError",
    "load_plugin_file",
    "plugin_module_name",
    "load_entry_point",
    "entry_points_of",
    "defines_plugins",
    "CODEC_MARK",
    "METRIC_MARK",
    "CODEC_SPEC_MARK",
]

#: Class attributes set by ``@register_codec`` and ``@register_metric`` (on the class itself).
CODEC_MARK = "__codec_bench_registered__"
METRIC_MARK = "__codec_bench_metric__"
MARKS = (CODEC_MARK, METRIC_MARK)
#: Function attribute set by ``@register_codec_spec`` (factories of codecs for parameterised names).
CODEC_SPEC_MARK = "__codec_bench_codec_spec__"


class PluginError(LookupError):
    """A plugin file that does not exist or cannot be imported; the message names it."""


def plugin_module_name(content: bytes) -> str:
    """The module name of a plugin file with these bytes: ``codec_bench_plugin_`` + 16 hex digits of
    their sha256 (64 bits: two different files do not meet by chance)."""
    return f"codec_bench_plugin_{hashlib.sha256(content).hexdigest()[:16]}"


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module named after its content (see the module docstring).

    Loading the same file again returns the module already imported. Another file with the same
    content (a copy) gets the same module name but is executed as itself, so code that uses
    ``__file__`` (a trained family's ``plugin.py`` finds its weights beside it) sees its own folder.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise PluginError(f"plugin file {path} cannot be read: {exc}") from exc
    module_name = plugin_module_name(content)
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        exec(compile(content, str(path), "exec"), module.__dict__)  # the very bytes the name was made from
    except Exception as exc:
        if loaded is not None:
            sys.modules[module_name] = loaded
        else:
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


def entry_points_of(group: str) -> tuple:
    """The installed packages' entry points of ``group`` (codecs, metrics, executors), read once per
    ``sys.path`` (each read scans every installed distribution, and a run asks several times)."""
    return _entry_points_on(group, tuple(sys.path))


@cache
def _entry_points_on(group: str, path: tuple[str, ...]) -> tuple:
    """:func:`entry_points_of` while ``sys.path`` is ``path`` (a folder added to it is read anew)."""
    return tuple(entry_points(group=group))


def populate(registry, *, builtins: Iterable[str], group: str, base: type, decorator: str,
             use_entry_points: bool) -> None:  # fmt: skip
    """Fill ``registry`` (with ``add_module``, ``add`` and a ``broken`` dict) from the ``builtins``
    modules and, if ``use_entry_points``, the installed packages' entry points of ``group``; an entry
    point that fails to load goes into ``registry.broken`` instead of taking the others down."""
    for module_name in builtins:
        registry.add_module(importlib.import_module(module_name), "builtin")
    if use_entry_points:
        for ep in entry_points_of(group):
            try:
                load_entry_point(ep, base, registry.add_module, registry.add, decorator)
            except Exception as exc:  # a broken third-party package must not take the others down
                registry.broken[ep.name] = str(exc)


def defines_plugins(module: ModuleType) -> bool:
    """True when ``module`` defines at least one class marked as a codec or a metric."""
    return any(
        isinstance(obj, type) and obj.__module__ == module.__name__ and any(obj.__dict__.get(m) is obj for m in MARKS)
        for obj in vars(module).values()
    )


def recorded_plugin_files(meta: dict) -> tuple[str, ...]:
    """The ``--plugin`` files a run recorded (``run.json``'s ``config.plugins``) that are still where
    they were with the same sha256, as absolute paths (the others are left out)."""
    out = []
    for recorded in (meta.get("config") or {}).get("plugins") or []:
        path, digest = Path(recorded.get("path", "")), recorded.get("sha256")
        if digest and path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            out.append(str(path.resolve()))
    return tuple(dict.fromkeys(out))
