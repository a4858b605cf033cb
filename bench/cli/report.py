"""``bench report``: BD-rate tables and RD figures from runs and published curves (:mod:`bench.report.writer`)."""

from __future__ import annotations

import argparse

from bench.api.options import add_options, config_from_args
from bench.cli._common import EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "report",
        help="BD-rate tables and RD figures from runs and published curves",
        description="BD-rate tables (CSV, Markdown, LaTeX), RD and speed figures (PNG, PDF, SVG) and report.md.",
        arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.report.writer import ReportConfig

    add_options(parser, ReportConfig)


def handle(args: argparse.Namespace) -> int:
    from bench.report.writer import ReportConfig, ReportError, make_report

    try:
        made = make_report(config_from_args(ReportConfig, args))
    except ReportError as exc:
        return setup_error("report", exc)
    against = (
        f"BD-rates against {made.anchor}" if len(made.table) else f"no BD-rates: nothing to compare with {made.anchor}"
    )
    print(f"report: {made.out}/report.md ({len(made.files)} files; {against})")
    return EXIT_OK
