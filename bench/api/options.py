"""Command-line options declared once, on the fields of the configuration dataclasses.

A field says which option sets it, and the dataclass keeps the one default::

    @dataclass(frozen=True)
    class RunConfig:
        repeat: int = field(default=1, metadata=option(
            "--repeat", parse=positive_int, help="time encode/decode N times and keep the median (default: 1)"))

:func:`add_options` adds one argparse argument per such field: the field's default (``default_factory``
is called), a required option when the field has none, a flag (``store_true``) when it defaults to
``False``, a positional argument named after the field when :func:`option` is given no flags.
:func:`config_from_args` builds the dataclass from the parsed arguments. ``help`` is argparse's help
text: ``%(default)s`` is the default, a percent sign is written ``%%``.

This module imports nothing from :mod:`bench`, so that any module defining a configuration can use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import MISSING, dataclass
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "metric_list",
    "Option",
    "option",
    "add_option",
    "add_options",
    "config_from_args",
    "comma_list",
    "float_list",
    "positive_int",
    "non_negative_int",
    "number_range",
    "float_or_none",
    "non_negative_float",
    "PLUGINS",
]

_KEY = "bench.option"


@dataclass(frozen=True)
class Option:
    """How the command line sets a value (see :func:`option`)."""

    flags: tuple[str, ...]
    help: str | None = None
    choices: tuple[Any, ...] | None = None
    parse: Callable[[str], Any] | None = None
    action: str | None = None
    metavar: str | None = None
    nargs: str | int | None = None


def option(
    *flags: str,
    help: str | None = None,
    choices: Iterable[Any] | None = None,
    parse: Callable[[str], Any] | None = None,
    action: str | None = None,
    metavar: str | None = None,
    nargs: str | int | None = None,
) -> dict[str, Option]:
    """Field metadata: the command-line option that sets the field, ``field(..., metadata=option("--x"))``.

    No ``flags``: a positional argument. ``parse`` turns the text into the value (argparse's ``type``);
    ``choices`` may be any iterable (a dict gives its keys); ``action`` is argparse's: ``"append"`` and
    ``"extend"`` collect a tuple, ``"store_false"`` makes a ``--no-...`` flag for a field that defaults to
    ``True``.
    """
    listed = None if choices is None else tuple(choices)
    return {_KEY: Option(tuple(flags), help, listed, parse, action, metavar, nargs)}


def add_option(
    parser: argparse.ArgumentParser, dest: str, metadata: Mapping[str, Any], default: Any = MISSING
) -> argparse.Action:
    """Add the option that ``metadata`` (from :func:`option`) declares, storing into ``dest``; required
    (if not positional) when there is no ``default``."""
    spec: Option = metadata[_KEY]
    kwargs: dict[str, Any] = {}
    action = spec.action or ("store_true" if default is False else None)
    if action:
        kwargs["action"] = action
    if action in ("append", "extend") and default is not MISSING:
        default = list(default)  # argparse adds to a copy of the default, which must be a list
    if default is not MISSING:
        kwargs["default"] = default
    elif spec.flags:
        kwargs["required"] = True
    if action not in ("store_true", "store_false"):
        for name, value in (("type", spec.parse), ("choices", spec.choices), ("metavar", spec.metavar),
                            ("nargs", spec.nargs)):  # fmt: skip
            if value is not None:
                kwargs[name] = value
    if spec.help is not None:
        kwargs["help"] = spec.help
    if not spec.flags:
        return parser.add_argument(dest, **kwargs)
    return parser.add_argument(*spec.flags, dest=dest, **kwargs)


def _option_fields(config_class: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(config_class) if _KEY in f.metadata}


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def add_options(
    parser: argparse.ArgumentParser,
    config_class: type,
    exclude: Iterable[str] = (),
    only: Iterable[str] | None = None,
) -> None:
    """Add an argument for each field of ``config_class`` that declares an :func:`option`, in the
    order of the fields, less those named in ``exclude``; with ``only``, those fields in that order."""
    fields = _option_fields(config_class)
    excluded = set(exclude)
    for name in fields if only is None else only:
        if name not in excluded:
            add_option(parser, name, fields[name].metadata, _default(fields[name]))


def config_from_args(config_class: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The ``config_class`` that ``args`` describe: the fields with an :func:`option` that were parsed
    (lists made tuples), then ``overrides``; the other fields keep their defaults."""
    parsed = vars(args)
    values = {name: parsed[name] for name in _option_fields(config_class) if name in parsed}
    values = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items()}
    return config_class(**{**values, **overrides})


# --- parsers of option values --------------------------------------------------------------------


def comma_list(text: str) -> tuple[str, ...]:
    """``a,b`` -> ``("a", "b")``; blanks around the items and empty items are dropped."""
    items = tuple(s.strip() for s in text.split(",") if s.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def metric_list(text: str) -> tuple[str, ...]:
    """``a,b`` -> metric names, each preset name (:data:`bench.api.metric_presets.METRIC_PRESETS`:
    ``jpeg-ai``, ``default``) replaced by its metrics."""
    from bench.api.metric_presets import expand_metric_names

    return expand_metric_names(comma_list(text))


def float_list(text: str) -> tuple[float, ...]:
    """``0.5,1`` -> ``(0.5, 1.0)``."""
    try:
        return tuple(float(s) for s in comma_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:  # the message argparse has always printed here
        raise argparse.ArgumentTypeError(f"invalid _positive_int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def number_range(text: str) -> tuple[float, float]:
    """``LO,HI`` -> ``(LO, HI)``: two finite numbers, LO below HI."""
    values = float_list(text)
    if len(values) != 2 or not all(math.isfinite(v) for v in values) or not values[0] < values[1]:
        raise argparse.ArgumentTypeError(f"expected LO,HI with LO < HI, got {text!r}")
    return values[0], values[1]


def non_negative_float(text: str) -> float:
    """A number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def float_or_none(text: str) -> float | None:
    """A number, where 0 means none (``None``): ``--max-bpp 0`` sets no limit."""
    try:
        return float(text) or None
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None


#: ``--plugin FILE.py``, repeatable: the commands that load codecs.
PLUGINS = option(
    "--plugin",
    action="append",
    metavar="FILE.py",
    help="load codecs (and metrics) from a Python file (repeatable); see the guide 'Add a codec' (docs/guides/add-codec.md)",
)
