"""Pages generated from the code at build time: one source of truth for what the docs say about it.

Writes fragments into ``docs/generated/``, which the pages include (without headings, as MyST wants
included files), and two whole pages, ``reference/cli.md`` and ``results.md`` (none of them committed):

* ``metrics-table.md``, ``metric-conventions.md``, ``metric-presets.md``: every built-in metric as its class
  says it (name, label, unit, direction, default, dB form, CompressAI key, the ``convention`` sentence, the
  packages that compute it) and the metric presets;
* ``codecs-table.md``, ``codec-modules.md``: every built-in codec (kind, default run, the knob, its sweep and
  direction) and each codec module's first paragraph; ``codec-settings.md``: the settings each codec of the
  default run that is available where the docs are built records in ``run.json``;
* ``reference/cli.md``: ``bench --help`` and ``bench <command> --help`` as the installed command prints them;
* ``generated/extra-columns.md``: the optional columns of ``records.csv`` (:func:`bench.api.extra_columns.markdown_table`);
* ``results.md``: the stored runs of ``docs/results/`` (:mod:`results_page`).
"""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
GENERATED = DOCS / "generated"


def _cell(text: object) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n", 1)[0].split())


def metrics_table() -> str:
    from bench.api.metric import DEFAULT_METRICS
    from bench.api.metric_registry import discover_metrics

    registry = discover_metrics(use_entry_points=False)
    lines = ["| name | label | better | by default | values | dB form | CompressAI key |", "| --- " * 7 + "|"]
    for name in registry.names():
        cls = registry.get(name)
        unit = f" [{cls.unit}]" if cls.unit else ""
        db = f"`{cls.db.name}`: {cls.db.label}" if cls.db else ""
        per = "per image" if cls.per_image else "per dataset (summary, reports)"
        lines.append(f"| `{name}` | {_cell(cls.label)}{unit} | {'higher' if cls.higher_is_better else 'lower'} | "
                     f"{'yes' if name in DEFAULT_METRICS else ''} | {per} | {_cell(db)} | "
                     f"{'`' + cls.compressai_key + '`' if cls.compressai_key else ''} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def metric_conventions() -> str:
    from bench.api.metric_registry import discover_metrics

    registry = discover_metrics(use_entry_points=False)
    lines = []
    for name in registry.names():
        cls = registry.get(name)
        packages = ", ".join(f"`{p}`" for p in cls.packages) or "none beyond codec-bench"
        convention = cls.convention.strip().rstrip(".") + "."
        lines += [f"`{name}`", f": {convention} Computed by `{cls.__module__}.{cls.__qualname__}`; packages: "
                  f"{packages}{'; runs on `--device`' if cls.uses_device else ''}.", ""]  # fmt: skip
    return "\n".join(lines)


def metric_presets() -> str:
    from bench.api.metric_presets import METRIC_PRESETS

    lines = []
    for preset in METRIC_PRESETS.values():
        overall = f" Overall BD-rate: the {preset.title}." if preset.overall else ""
        lines.append(f"- `{preset.name}`: {', '.join(f'`{m}`' for m in preset.metrics)} ({preset.source}).{overall}")
    return "\n".join(lines) + "\n"


def codecs_table() -> str:
    from bench.api.codec_registry import discover

    registry = discover(use_entry_points=False)
    lines = ["| codec | kind | default run | knob | range | sweep | more bits as the knob |", "| --- " * 7 + "|"]
    for entry in registry.entries():
        cls, knob = entry.cls, entry.cls.knob
        sweep = ", ".join(f"{v:g}" for v in knob.sweep)
        lines.append(f"| `{entry.name}` | {cls.kind} | {'yes' if cls.in_default_run else ''} | `{knob.name}` | "
                     f"{knob.low:g} to {knob.high:g} | {sweep} | {'grows' if knob.rate_grows else 'falls'} |")  # fmt: skip
    if registry.specs():
        lines += ["", "Names made of a pattern (the codec is built from the name):", ""]
        lines += [f"- `{spec.usage}`" for spec in registry.specs()]
    return "\n".join(lines) + "\n"


def codec_modules() -> str:
    from bench.api.codec_registry import discover

    entries = discover(use_entry_points=False).entries()
    lines = []
    for module_name in sorted({entry.cls.__module__ for entry in entries}):
        module = importlib.import_module(module_name)
        names = [f"`{e.name}`" for e in entries if e.cls.__module__ == module_name]
        shown = names if len(names) <= 4 else names[:3] + [f"and {len(names) - 3} more"]
        lines += [", ".join(shown), f": `{module_name}`: {_first_paragraph(inspect.getdoc(module))}", ""]
    return "\n".join(lines)


def codec_settings() -> str:
    """Each available codec's ``settings()``, what ``run.json`` records for it (this machine's codecs)."""
    from bench.api.codec_registry import discover

    lines = ["| codec | settings (as `run.json` records them) |", "| --- | --- |"]
    for entry in discover(use_entry_points=False).entries():
        if entry.cls.in_default_run is False or entry.unavailable_reason() is not None:
            continue
        try:
            settings = entry.create("cpu", False).settings()
        except Exception as exc:  # noqa: BLE001 (a codec that cannot be made here: said, not hidden)
            settings = {"not made here": f"{type(exc).__name__}: {exc}"}
        text = ", ".join(f"`{k}={v}`" for k, v in settings.items() if not isinstance(v, (list, dict)))
        lines.append(f"| `{entry.name}` | {_cell(text)} |")
    return "\n".join(lines) + "\n"


def cli_page() -> str:
    from bench.cli import COMMANDS

    env = {**os.environ, "COLUMNS": "110"}
    lines = ["# Command line", "", "`bench --help` and each command's `--help`, as this version prints them "
             "(generated when the documentation is built).", ""]  # fmt: skip
    for command in (None, *COMMANDS):
        args = [sys.executable, "-m", "bench", *([command] if command else []), "--help"]
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=True)
        lines += [f"## `bench {command}`" if command else "## `bench`", "", "```text", done.stdout.rstrip(), "```", ""]
    return "\n".join(lines)


def extra_columns_page() -> str:
    from bench.api.extra_columns import markdown_table

    return markdown_table()


def generate(_app=None) -> None:
    """Write every generated page (Sphinx calls this when its builder starts)."""
    from results_page import results_page

    GENERATED.mkdir(exist_ok=True)
    pages = {"generated/metrics-table.md": metrics_table, "generated/metric-conventions.md": metric_conventions,
             "generated/metric-presets.md": metric_presets, "generated/codecs-table.md": codecs_table,
             "generated/codec-modules.md": codec_modules, "generated/codec-settings.md": codec_settings,
             "generated/extra-columns.md": extra_columns_page,
             "reference/cli.md": cli_page, "results.md": lambda: results_page(DOCS / "results")}  # fmt: skip
    for name, make in pages.items():
        text = make()
        path = DOCS / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:  # unchanged files keep Sphinx's cache
            path.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True}
