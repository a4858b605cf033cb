"""``bench codecs``: every codec found, its availability, versions and default sweep."""

from __future__ import annotations

import argparse
import json

from bench.cli._common import EXIT_OK, setup_error
from bench.options import PLUGINS, add_option


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "codecs", help="list codecs, their availability, versions and default sweeps", arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_option(parser, "plugins", PLUGINS, default=())


def _codec_rows(plugins: list[str]) -> list[dict]:
    from bench.registry import discover

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
    return rows


def handle(args: argparse.Namespace) -> int:
    from bench.registry import RegistryError
    from bench.results import format_quality

    try:
        rows = _codec_rows(args.plugins)
    except RegistryError as exc:
        return setup_error("codecs", exc)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        status = "available" if row["available"] else "NOT AVAILABLE"
        default = "" if row["in_default_run"] else ", not in the default run"
        print(f"{row['name']:<12} {status} ({row['kind']}, {row['origin']}{default})")
        if row["available"]:
            print(f"{'':<12} versions: " + ", ".join(f"{k} {v}" for k, v in row["versions"].items()))
        else:
            print(f"{'':<12} why: {row['reason']}")
        if row["knob"]:
            direction = "more bits as it grows" if row["rate_grows"] else "fewer bits as it grows"
            print(f"{'':<12} sweep: {row['knob']} = {', '.join(format_quality(q) for q in row['sweep'])} ({direction})")
    return EXIT_OK
