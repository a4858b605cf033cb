"""``bench codecs``: every codec found, its availability, versions and default sweep."""

from __future__ import annotations

import argparse
import json

from bench.api.options import PLUGINS, add_option
from bench.cli._common import EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "codecs", help="list codecs, their availability, versions and default sweeps", arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_option(parser, "plugins", PLUGINS, default=())


def _codec_rows(plugins: list[str]) -> tuple[list[dict], list[str]]:
    """One row per codec found, and the usage of each codec-name pattern (``compressai:<arch>:<path>``)."""
    from bench.api.codec_registry import discover

    rows = []
    registry = discover(plugins)
    for name, problem in registry.broken.items():
        rows.append({"name": name, "kind": "?", "available": False, "reason": problem, "origin": "entry point",
                     "in_default_run": False, "knob": None, "rate_grows": None, "sweep": [], "versions": {}})  # fmt: skip
    for entry in registry.entries():
        reason = entry.unavailable_reason()
        row = {
            "name": entry.name,
            "kind": entry.cls.kind,
            "available": reason is None,
            "reason": reason,
            "origin": entry.origin,
            "in_default_run": entry.cls.in_default_run,
            "knob": entry.cls.knob.name,
            "rate_grows": entry.cls.knob.rate_grows,
            "sweep": list(entry.cls.knob.sweep),
            "versions": {},
        }
        if reason is None:
            try:
                row["versions"] = dict(entry.create().versions())
            except Exception as exc:
                row["versions"] = {"error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
    return rows, [f"{spec.usage}  ({spec.origin})" for spec in registry.specs()]


#: Width of the name column; a longer name stands on its own line, its details start below it.
NAME_WIDTH = 12


def _libraries(rows: list[dict]) -> dict[str, dict[str, list[str]]]:
    """library -> version -> the codecs that report it (in listing order)."""
    libraries: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        if "error" in row["versions"]:
            continue
        for library, version in row["versions"].items():
            libraries.setdefault(library, {}).setdefault(str(version), []).append(row["name"])
    return libraries


def format_listing(rows: list[dict]) -> str:
    """The text of ``bench codecs``: each library version once, then one entry per codec.

    ``libraries:`` lists every library (or program) the available codecs report, its version and, in
    brackets, the codecs that use it (a library that codecs report in different versions has one
    bracket per version); each codec's entry names its libraries. Codec names longer than the name
    column stand on their own line, with their details below, so the columns stay aligned.
    """
    libraries = _libraries(rows)
    lines = []
    if libraries:
        lines.append("libraries: version [codecs that use it]")
        width = max(len(library) for library in libraries) + 1
        for library, versions in libraries.items():
            found = ", ".join(f"{version} [{', '.join(codecs)}]" for version, codecs in versions.items())
            lines.append(f"  {library + ':':<{width}} {found}")
        lines.append("")
    indent = " " * (NAME_WIDTH + 1)
    for row in rows:
        status = "available" if row["available"] else "NOT AVAILABLE"
        default = "" if row["in_default_run"] else ", not in the default run"
        head = f"{status} ({row['kind']}, {row['origin']}{default})"
        if len(row["name"]) <= NAME_WIDTH:
            lines.append(f"{row['name']:<{NAME_WIDTH}} {head}")
        else:
            lines += [row["name"], indent + head]
        if row["available"] and "error" in row["versions"]:
            lines.append(f"{indent}versions: {row['versions']['error']}")
        elif row["available"]:
            lines.append(f"{indent}libraries: {', '.join(row['versions']) or '(none reported)'}")
        else:
            lines.append(f"{indent}why: {row['reason']}")
        if row["knob"]:
            from bench.api.records import format_quality

            direction = "more bits as it grows" if row["rate_grows"] else "fewer bits as it grows"
            lines.append(
                f"{indent}sweep: {row['knob']} = {', '.join(format_quality(q) for q in row['sweep'])} ({direction})"
            )
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    from bench.api.codec_registry import RegistryError

    try:
        rows, patterns = _codec_rows(args.plugins)
    except RegistryError as exc:
        return setup_error("codecs", exc)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(format_listing(rows))
    if patterns:
        print("\ncodecs named by a pattern (not in the default run):\n" + "\n".join(f"  {p}" for p in patterns))
    return EXIT_OK
