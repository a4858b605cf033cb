"""``bench metrics``: every metric found (built-ins, entry points, plugin files), what it is and whether it is available."""

from __future__ import annotations

import argparse
import json

from bench.api.options import PLUGINS, add_option
from bench.cli._common import EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "metrics", help="list metrics, their conventions, versions and availability", arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_option(parser, "plugins", PLUGINS, default=())


def metric_rows(plugins: list[str]) -> list[dict]:
    """One row per metric found (and per metric entry point that failed to load)."""
    from bench.api.metric import DEFAULT_METRICS, Metric
    from bench.api.metric_registry import discover_metrics

    registry = discover_metrics(plugins)
    rows = []
    for name, problem in registry.broken.items():
        rows.append({"name": name, "available": False, "reason": problem, "origin": "entry point"})
    for name in registry.names():
        cls = registry.get(name)
        reason = registry.unavailable_reason(name)
        if reason is None:
            try:
                versions = dict(cls().versions())
            except Exception as exc:  # a metric that cannot even start is not available
                reason, versions = f"cannot be created: {type(exc).__name__}: {exc}", Metric.versions(cls)
        else:
            versions = Metric.versions(cls)  # the packages it names, "not installed" where missing
        db = cls.db
        rows.append({
            "name": name,
            "label": cls.label,
            "unit": cls.unit,
            "axis_label": cls.axis_label,
            "higher_is_better": cls.higher_is_better,
            "per_image": cls.per_image,
            "db": {"name": db.name, "label": db.label, "axis_label": db.axis_label} if db else None,
            "compressai_key": cls.compressai_key,
            "convention": cls.convention,
            "versions": versions,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "origin": registry.origin(name),
            "default": name in DEFAULT_METRICS,
            "available": reason is None,
            "reason": reason,
        })  # fmt: skip
    return rows


#: Width of the name column; a longer name stands on its own line, its details start below it.
NAME_WIDTH = 14


def format_listing(rows: list[dict]) -> str:
    """The text of ``bench metrics``: per metric its availability and origin, what it is, its convention
    and the packages (with versions) that compute it."""
    indent = " " * (NAME_WIDTH + 1)
    lines = []
    for row in rows:
        status = "available" if row["available"] else "NOT AVAILABLE"
        head = f"{status} ({row['origin']}{', default' if row.get('default') else ''})"
        lines += (
            [f"{row['name']:<{NAME_WIDTH}} {head}"] if len(row["name"]) <= NAME_WIDTH else [row["name"], indent + head]
        )
        if not row["available"]:
            lines.append(f"{indent}why: {row['reason']}")
        if "label" not in row:  # an entry point that failed to load
            continue
        facts = [row["label"] + (f" [{row['unit']}]" if row["unit"] else ""),
                 "higher is better" if row["higher_is_better"] else "lower is better",
                 "per image" if row["per_image"] else "per dataset"]  # fmt: skip
        if row["db"]:
            facts.append(f"dB form {row['db']['name']} ({row['db']['label']}), used by BD-rates and RD figures")
        if row["compressai_key"]:
            facts.append(f"CompressAI key {row['compressai_key']}")
        lines.append(indent + "; ".join(facts))
        lines.append(f"{indent}convention: {row['convention'] or '(not stated)'}")
        packages = ", ".join(f"{package} {version}" for package, version in row["versions"].items())
        lines.append(f"{indent}packages: {packages or '(none stated)'}")
    return "\n".join([*lines, *preset_lines()])


def preset_lines() -> list[str]:
    """The metric presets ``--metrics`` accepts (:data:`bench.api.metric_presets.METRIC_PRESETS`)."""
    from bench.api.metric_presets import METRIC_PRESETS

    lines = ["", "presets (--metrics NAME):"]
    for preset in METRIC_PRESETS.values():
        lines.append(f"{preset.name:<{NAME_WIDTH}} {','.join(preset.metrics)}")
        if preset.overall:
            lines.append(f"{' ' * (NAME_WIDTH + 1)}report: {preset.title}, over {','.join(preset.overall)}")
        lines.append(f"{' ' * (NAME_WIDTH + 1)}{preset.source}")
    return lines


def handle(args: argparse.Namespace) -> int:
    from bench.api.metric import MetricError

    try:
        rows = metric_rows(args.plugins)
    except MetricError as exc:
        return setup_error("metrics", exc)
    print(json.dumps(rows, indent=2) if args.json else format_listing(rows))
    return EXIT_OK
