"""Finds codecs: the built-in ones, third-party packages and local plugin files.

Three sources, in this order:

1. built-in modules listed in :data:`bench_codecs.BUILTIN_MODULES`;
2. installed packages that declare an entry point in the group ``codec_bench.codecs``; the entry point
   may name a module (all its ``@register_codec`` classes are taken) or one codec class, e.g. in the
   plugin's ``pyproject.toml``::

       [project.entry-points."codec_bench.codecs"]
       mycodec = "my_package.my_codec"

3. plugin files given with ``bench --plugin path/to/file.py`` (:mod:`bench.api.plugins`; a file may also
   define only metrics).

Besides codec classes, each source may define factories of codecs for parameterised names, marked with
``@register_codec_spec("prefix:")`` (:func:`bench.api.codec.register_codec_spec`): a name that is not a
registered codec but starts with a factory's prefix (``compressai:<arch>:<path>``,
:mod:`bench_codecs.compressai_checkpoint`) is turned into a codec class by that factory, in every process
that resolves it; registered names always win.

An entry point that fails to load is kept in :attr:`Registry.broken` (listed by ``bench codecs``)
instead of breaking discovery; a clash of names or a broken plugin file is an error.

:func:`discover` builds a fresh :class:`Registry` each time; nothing is kept between calls.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Sequence

from bench.api.codec import Codec, codec_spec_of, is_registered_codec
from bench.api.plugins import PluginError, defines_plugins, load_plugin_file, populate

__all__ = ["ENTRY_POINT_GROUP", "CodecEntry", "CodecSpec", "Registry", "RegistryError", "discover", "load_plugin_file"]

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

    def create(self, device: str | None = None, half: bool = False) -> Codec:
        """An instance; codecs that run on a device (``uses_device``) get ``device`` and, when ``half``,
        ``half=True`` (half precision, for codecs that support it: :class:`bench.neural.codec.CompressAICodec`)."""
        if device is not None and self.cls.uses_device:
            return self.cls(device=device, half=True) if half else self.cls(device=device)
        return self.cls()


@dataclass(frozen=True)
class CodecSpec:
    """A factory of codec classes for names that start with ``prefix`` (see :func:`bench.api.codec.register_codec_spec`)."""

    prefix: str
    factory: Callable[[str], type[Codec] | None]
    usage: str
    origin: str


class Registry:
    """Codec classes by name, and factories of codecs for parameterised names (by prefix)."""

    def __init__(self) -> None:
        self._entries: dict[str, CodecEntry] = {}
        self._specs: dict[str, CodecSpec] = {}
        #: entry points that failed to load: entry point name -> what went wrong
        self.broken: dict[str, str] = {}

    def add(self, cls: type[Codec], origin: str) -> None:
        name = cls.name
        existing = self._entries.get(name)
        if existing is not None and existing.cls is not cls:
            raise RegistryError(f"codec name '{name}' from {origin} is already taken by {existing.origin}")
        self._entries[name] = CodecEntry(name, cls, origin)

    def add_spec(self, factory: Callable[[str], type[Codec] | None], origin: str) -> None:
        """Add a ``@register_codec_spec`` factory; a prefix can have only one."""
        mark = codec_spec_of(factory)
        if mark is None:
            raise RegistryError(f"{factory!r} from {origin} is not marked with @register_codec_spec")
        prefix, usage = mark
        existing = self._specs.get(prefix)
        if existing is not None and existing.factory is not factory:
            raise RegistryError(f"codec spec prefix '{prefix}' from {origin} is already taken by {existing.origin}")
        self._specs[prefix] = CodecSpec(prefix, factory, usage, origin)

    def add_module(self, module: ModuleType, origin: str) -> int:
        """Add every ``@register_codec`` class and ``@register_codec_spec`` factory defined in ``module``;
        return how many."""
        found = [obj for _, obj in inspect.getmembers(module, is_registered_codec) if obj.__module__ == module.__name__]
        for cls in found:
            self.add(cls, origin)
        specs = [
            obj
            for _, obj in inspect.getmembers(module, lambda o: codec_spec_of(o) is not None)
            if getattr(obj, "__module__", None) == module.__name__
        ]
        for factory in specs:
            self.add_spec(factory, origin)
        return len(found) + len(specs)

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[CodecEntry]:
        return list(self._entries.values())

    def specs(self) -> list[CodecSpec]:
        return list(self._specs.values())

    def __contains__(self, name: object) -> bool:
        if name in self._entries:
            return True
        try:
            return isinstance(name, str) and self._from_spec(name) is not None
        except RegistryError:
            return False

    def get(self, name: str) -> CodecEntry:
        """The codec registered as ``name``, else the codec a spec factory makes of it."""
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        if name in self.broken:
            raise RegistryError(self.broken[name])
        entry = self._from_spec(name)
        if entry is not None:
            return entry
        known = ", ".join(sorted(self._entries)) or "none"
        forms = "".join(f"; or {spec.usage}" for spec in self._specs.values())
        raise RegistryError(f"unknown codec '{name}'; known codecs: {known}{forms}")

    def _from_spec(self, name: str) -> CodecEntry | None:
        """The entry a spec factory makes of ``name`` (longest matching prefix first), or None."""
        for spec in sorted(self._specs.values(), key=lambda s: -len(s.prefix)):
            if not name.startswith(spec.prefix):
                continue
            try:
                cls = spec.factory(name)
            except RegistryError:
                raise
            except Exception as exc:
                raise RegistryError(
                    f"codec '{name}': the factory of '{spec.prefix}' names ({spec.origin}) failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if cls is None:
                continue
            if not (isinstance(cls, type) and issubclass(cls, Codec)) or getattr(cls, "name", None) != name:
                raise RegistryError(
                    f"codec '{name}': the factory of '{spec.prefix}' names ({spec.origin}) must return a Codec "
                    f"subclass named '{name}', got {cls!r}"
                )
            return CodecEntry(name, cls, f"{spec.origin} (spec '{spec.prefix}')")
        return None


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
