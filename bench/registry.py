"""Finds codecs: the built-in ones, third-party packages and local plugin files.

Three sources, in this order:

1. built-in modules listed in :data:`bench_codecs.BUILTIN_MODULES`;
2. installed packages that declare an entry point in the group ``codec_bench.codecs``; the entry point
   may name a module (all its ``@register_codec`` classes are taken) or one codec class, e.g. in the
   plugin's ``pyproject.toml``::

       [project.entry-points."codec_bench.codecs"]
       mycodec = "my_package.my_codec"

3. plugin files given with ``bench --plugin path/to/file.py``.

An entry point that fails to load is kept in :attr:`Registry.broken` (listed by ``bench codecs``)
instead of breaking discovery; a clash of names or a broken plugin file is an error.

:func:`discover` builds a fresh :class:`Registry` each time; nothing is kept between calls.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Iterable, Sequence

from bench.codec import Codec, is_registered_codec

__all__ = ["ENTRY_POINT_GROUP", "CodecEntry", "Registry", "RegistryError", "discover", "load_plugin_file"]

ENTRY_POINT_GROUP = "codec_bench.codecs"


class RegistryError(LookupError):
    """Unknown or clashing codec names, broken plugins."""


@dataclass(frozen=True)
class CodecEntry:
    """A discovered codec class and where it came from (``builtin``, ``entry-point ...``, ``plugin ...``)."""

    name: str
    cls: type[Codec]
    origin: str

    def unavailable_reason(self) -> str | None:
        try:
            return self.cls.unavailable_reason()
        except Exception as exc:  # a broken availability check must not break the listing
            return f"availability check failed: {type(exc).__name__}: {exc}"

    def create(self, device: str | None = None) -> Codec:
        """An instance; codecs that run on a device (``uses_device``) get ``device``."""
        if device is not None and self.cls.uses_device:
            return self.cls(device=device)
        return self.cls()


class Registry:
    """Codec classes by name."""

    def __init__(self) -> None:
        self._entries: dict[str, CodecEntry] = {}
        #: entry points that failed to load: entry point name -> what went wrong
        self.broken: dict[str, str] = {}

    def add(self, cls: type[Codec], origin: str) -> None:
        name = cls.name
        existing = self._entries.get(name)
        if existing is not None and existing.cls is not cls:
            raise RegistryError(f"codec name '{name}' from {origin} is already taken by {existing.origin}")
        self._entries[name] = CodecEntry(name, cls, origin)

    def add_module(self, module: ModuleType, origin: str) -> int:
        """Add every ``@register_codec`` class defined in ``module``; return how many."""
        found = [obj for _, obj in inspect.getmembers(module, is_registered_codec) if obj.__module__ == module.__name__]
        for cls in found:
            self.add(cls, origin)
        return len(found)

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[CodecEntry]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> CodecEntry:
        try:
            return self._entries[name]
        except KeyError:
            if name in self.broken:
                raise RegistryError(self.broken[name]) from None
            known = ", ".join(sorted(self._entries)) or "none"
            raise RegistryError(f"unknown codec '{name}'; known codecs: {known}") from None


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module (named after its path, so two plugins never clash)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise RegistryError(f"plugin file {path} does not exist")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]  # stable across processes, unlike hash()
    module_name = f"codec_bench_plugin_{digest}_{path.stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"plugin file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise RegistryError(f"plugin file {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def _builtin_modules() -> Iterable[str]:
    import bench_codecs

    return bench_codecs.BUILTIN_MODULES


def _add_entry_point(registry: Registry, ep) -> None:
    origin = f"entry point '{ep.name}' ({ep.value}, {ep.dist.name if ep.dist else 'unknown package'})"
    try:
        obj = ep.load()
    except Exception as exc:
        raise RegistryError(f"{origin} failed to load: {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, ModuleType):
        if registry.add_module(obj, origin) == 0:
            raise RegistryError(f"{origin} names a module without @register_codec classes")
    elif isinstance(obj, type) and issubclass(obj, Codec):
        registry.add(obj, origin)
    else:
        raise RegistryError(f"{origin} must name a module or a Codec subclass, got {obj!r}")


def discover(plugins: Sequence[str | Path] = (), *, use_entry_points: bool = True) -> Registry:
    """Build a registry from the built-in codecs, entry points (optional) and plugin files."""
    registry = Registry()
    for module_name in _builtin_modules():
        registry.add_module(importlib.import_module(module_name), "builtin")
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                _add_entry_point(registry, ep)
            except Exception as exc:  # a broken third-party package must not take the others down
                registry.broken[ep.name] = str(exc)
    for path in plugins:
        module = load_plugin_file(path)
        if registry.add_module(module, f"plugin {Path(path)}") == 0:
            raise RegistryError(f"plugin file {path} defines no @register_codec class")
    return registry
