"""Finds codecs: the built-in ones, third-party packages and local plugin files.

Three sources, in this order:

1. built-in modules listed in :data:`bench_codecs.BUILTIN_MODULES`;
2. installed packages that declare an entry point in the group ``codec_bench.codecs``; the entry point
   may name a module (all its ``@register_codec`` classes are taken) or one codec class, e.g. in the
   plugin's ``pyproject.toml``::

       [project.entry-points."codec_bench.codecs"]
       mycodec = "my_package.my_codec"

3. plugin files given with ``bench --plugin path/to/file.py`` (:mod:`bench.plugins`; a file may also
   define only metrics).

An entry point that fails to load is kept in :attr:`Registry.broken` (listed by ``bench codecs``)
instead of breaking discovery; a clash of names or a broken plugin file is an error.

:func:`discover` builds a fresh :class:`Registry` each time; nothing is kept between calls.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Iterable, Sequence

from bench.codec import Codec, is_registered_codec
from bench.plugins import PluginError, defines_plugins, load_plugin_file, populate

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


def _builtin_modules() -> Iterable[str]:
    import bench_codecs

    return bench_codecs.BUILTIN_MODULES


def discover(plugins: Sequence[str | Path] = (), *, use_entry_points: bool = True) -> Registry:
    """Build a registry from the built-in codecs, entry points (optional) and plugin files."""
    registry = Registry()
    populate(registry, builtins=_builtin_modules(), group=ENTRY_POINT_GROUP, base=Codec, decorator="@register_codec",
             use_entry_points=use_entry_points)  # fmt: skip
    for path in plugins:
        try:
            module = load_plugin_file(path)
        except PluginError as exc:
            raise RegistryError(str(exc)) from None
        if registry.add_module(module, f"plugin {Path(path)}") == 0 and not defines_plugins(module):
            raise RegistryError(f"plugin file {path} defines no @register_codec class (nor any @register_metric class)")
    return registry
