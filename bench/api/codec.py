"""The one interface every codec implements.

A codec turns an RGB image (``H x W x 3`` ``uint8``, values in [0, 255]) into ``bytes`` at a given
quality, and turns those bytes (and nothing else) back into an image of the same shape. The size of
the bytes is what the decoder needs, so ``bpp = 8 * len(data) / (H * W)`` (bits per pixel).

Each codec states its rate knob (:class:`Knob`): what the quality number means (JPEG quality,
JPEG XL distance, HEVC QP, target bits per pixel, ...), its valid range, its default sweep and in
which direction the rate grows. It also describes its fixed settings and the library versions behind
it, which the runner stores next to every measurement.

Codecs plug in by subclassing :class:`Codec` and decorating the class with :func:`register_codec`
(see :mod:`bench.api.codec_registry`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

import numpy as np

from bench.api.plugins import CODEC_MARK, CODEC_SPEC_MARK

__all__ = [
    "Codec",
    "CodecError",
    "Knob",
    "register_codec",
    "is_registered_codec",
    "register_codec_spec",
    "codec_spec_of",
    "check_rgb8",
]


class CodecError(RuntimeError):
    """An encoder or decoder failed on one image (recorded as a per-image failure)."""


@dataclass(frozen=True)
class Knob:
    """The rate knob of a codec.

    ``name`` is what the number means ("quality", "distance", "qp", "bpp"); ``low``/``high`` the
    valid range (inclusive); ``sweep`` the default values a run measures; ``rate_grows`` is True when
    a larger value gives more bits (JPEG quality) and False when it gives fewer (JPEG XL distance,
    HEVC QP); ``integer`` says whether only whole numbers are meaningful.
    """

    name: str
    low: float
    high: float
    sweep: tuple[float, ...]
    rate_grows: bool = True
    integer: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        for value in self.sweep:
            self.check(value)

    def check(self, value: float) -> float:
        """Return ``value`` (as int when the knob is integer) or raise ``ValueError``."""
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} {value:g} is outside the valid range [{self.low:g}, {self.high:g}]")
        if self.integer:
            if float(value) != int(value):
                raise ValueError(f"{self.name} must be a whole number, got {value:g}")
            return int(value)
        return float(value)

    def ordered(self, values: Sequence[float]) -> list[float]:
        """``values`` sorted from the lowest to the highest rate, duplicates removed."""
        return sorted({self.check(v) for v in values}, reverse=not self.rate_grows)


def check_rgb8(image: np.ndarray, what: str = "image") -> None:
    """Raise ``ValueError`` unless ``image`` is an ``H x W x 3`` ``uint8`` array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{what} must be an H x W x 3 uint8 array, got {got}")


class Codec(abc.ABC):
    """Base class of every codec. Subclasses set the class attributes and implement the methods.

    Class attributes:
        name: registry name, lower case (``"jpeg"``), used on the command line and in results.
        knob: the rate knob and its default sweep.
        kind: ``"traditional"`` or ``"neural"`` (used by reports to tell families apart).
        extension: file extension of the bitstream, for ``--save-bitstreams``.
        in_default_run: whether ``bench run`` without ``--codec`` measures it.
    """

    name: ClassVar[str]
    knob: ClassVar[Knob]
    kind: ClassVar[str] = "traditional"
    extension: ClassVar[str] = "bin"
    in_default_run: ClassVar[bool] = True
    #: True when the constructor takes ``device`` ("cpu", "cuda", ...): ``bench run --device`` passes it
    uses_device: ClassVar[bool] = False

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``None`` when the codec can run here, else why not and how to fix it."""
        return None

    @classmethod
    def fetch(cls, offline: bool) -> None:
        """Get what the codec needs to run here and may download (pretrained weights, ...); nothing by default.

        ``bench run`` (in its main process, before any task starts, for each codec it selects) and
        ``bench verify`` call it before :meth:`unavailable_reason`; ``bench codecs`` never does.
        ``offline`` (``--offline``): download nothing. A failure raises an exception whose message is
        one line saying what is wrong; the codec is then unavailable with that message.
        """
        return None

    @abc.abstractmethod
    def encode(self, image: np.ndarray, quality: float) -> bytes:
        """Encode an ``H x W x 3`` ``uint8`` RGB image; return every byte the decoder needs."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """Decode ``data`` alone into an ``H x W x 3`` ``uint8`` RGB image."""

    def last_stats(self) -> Mapping[str, Any]:
        """Extra facts about the last encode or decode call (peak GPU memory, ...), stored with the
        measurement; read once after each call. None by default."""
        return {}

    def analyze(self, image: np.ndarray, quality: float) -> Mapping[str, Any]:
        """Untimed extra facts about coding ``image`` (a model's own rate estimate, ...), stored with
        the measurement. None by default."""
        return {}

    @abc.abstractmethod
    def settings(self) -> Mapping[str, Any]:
        """Fixed encoder/decoder settings (chroma format, speed preset, threads, ...), JSON-able."""

    @abc.abstractmethod
    def versions(self) -> Mapping[str, str]:
        """Versions of the libraries or binaries that do the coding, e.g. ``{"libjpeg-turbo": "3.1.0"}``."""

    def describe(self) -> dict[str, Any]:
        """Everything that identifies this codec's output: name, kind, knob, settings and versions."""
        return {
            "name": self.name,
            "kind": self.kind,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "knob": {
                "name": self.knob.name,
                "range": [self.knob.low, self.knob.high],
                "rate_grows": self.knob.rate_grows,
            },
            "settings": dict(self.settings()),
            "versions": dict(self.versions()),
        }


C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

_MARK = CODEC_MARK


def register_codec(cls: C) -> C:
    """Class decorator marking a :class:`Codec` subclass for discovery by :mod:`bench.api.codec_registry`.

    It only marks the class; the registry collects marked classes from the modules it loads, so
    importing a plugin never changes state elsewhere.
    """
    if not (isinstance(cls, type) and issubclass(cls, Codec)):
        raise TypeError(f"@register_codec expects a Codec subclass, got {cls!r}")
    for attr in ("name", "knob"):
        if not hasattr(cls, attr):
            raise TypeError(f"codec class {cls.__qualname__} must define the class attribute '{attr}'")
    if not isinstance(cls.name, str) or not cls.name or cls.name != cls.name.strip().lower() or "," in cls.name:
        raise TypeError(f"codec name {cls.name!r} must be a non-empty lower-case string without commas")
    setattr(cls, _MARK, cls)  # stored on the class itself so that subclasses are not marked too
    return cls


def is_registered_codec(obj: object) -> bool:
    """True for a class decorated with :func:`register_codec` (not for its undecorated subclasses)."""
    return isinstance(obj, type) and obj.__dict__.get(_MARK) is obj


def register_codec_spec(prefix: str, usage: str = ""):
    """Decorator marking a factory of codec classes for parameterised names (``compressai:<arch>:<path>``).

    The factory is a function ``(name: str) -> type[Codec] | None``: :meth:`bench.api.codec_registry.Registry.get`
    calls it for a name that is not a registered codec and starts with ``prefix``; it returns a codec
    class whose ``name`` is exactly that name, or None when the name is not one of its own. Every process
    that resolves the name (runner workers, the fresh-process decode check, ``bench verify``) calls the
    factory again, so it must return the same class (module, qualified name) for the same name, and report
    problems through the class's :meth:`Codec.unavailable_reason` rather than raise. ``usage`` (e.g.
    ``"compressai:<arch>:<path>"``) is shown in the message for unknown names. Factories are collected
    like ``@register_codec`` classes: from built-in modules, entry-point modules and plugin files.
    """
    if not isinstance(prefix, str) or not prefix or prefix != prefix.strip().lower() or "," in prefix:
        raise TypeError(f"codec spec prefix {prefix!r} must be a non-empty lower-case string without commas")

    def mark(factory: F) -> F:
        if not callable(factory) or isinstance(factory, type):
            raise TypeError(f"@register_codec_spec expects a function (name) -> codec class or None, got {factory!r}")
        setattr(factory, CODEC_SPEC_MARK, (prefix, usage or f"{prefix}..."))
        return factory

    return mark


def codec_spec_of(obj: object) -> tuple[str, str] | None:
    """(prefix, usage) of a function decorated with :func:`register_codec_spec`, else None."""
    mark = getattr(obj, "__dict__", {}).get(CODEC_SPEC_MARK) if callable(obj) and not isinstance(obj, type) else None
    return mark if isinstance(mark, tuple) else None
