"""``bench report``: BD-rate tables and RD figures from runs and published curves (:mod:`bench.report.writer`).

Exit status: 0 written, 1 written with a warning (a run gave no curve: nothing measured with every metric
defined, no rate target reached), 2 no report can be made, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import sys

from bench.api.options import add_options, config_from_args
from bench.cli._common import EXIT_FAILURES, EXIT_OK, setup_error

#: Exit statuses of an interrupted report: 128 + the signal's number (SIGINT 2, SIGTERM 15), as shells give.
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


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
    from bench.api.processes import Terminated, catch_sigterm, restore_sigterm
    from bench.report.writer import ReportConfig, ReportError

    config = config_from_args(ReportConfig, args)
    previous = catch_sigterm()
    try:
        made = make_any_report(config)
    except ReportError as exc:
        return setup_error("report", exc)
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"bench report: {how} before the report was complete: the files in {any_report_folder(config)} are each "
              "whole (written atomically), but some are missing or from an earlier report; run the same command "
              "again", file=sys.stderr)  # fmt: skip
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        restore_sigterm(previous)
    for note in made.notes:
        print(f"note: {note}")
    for warning in made.warnings:
        print(f"bench report: warning: {warning}", file=sys.stderr)
    against = (
        f"BD-rates against {made.anchor}" if len(made.table) else f"no BD-rates: nothing to compare with {made.anchor}"
    )
    print(f"report: {made.out}/report.md ({len(made.files)} files; {against})")
    return EXIT_FAILURES if made.warnings else EXIT_OK


def any_report_folder(config) -> object:
    """Where :func:`make_any_report` writes: the report folder, or for runs of several datasets the summary's."""
    from bench.report.datasets import summary_folder
    from bench.report.writer import ReportError, group_by_dataset, report_folder

    try:
        groups = group_by_dataset(config.runs)
    except ReportError:
        return report_folder(config)
    return summary_folder(config, list(groups)) if len(groups) > 1 else report_folder(config)


def make_any_report(config):
    """The report of ``config``'s runs: one (:func:`bench.report.writer.make_report`), or, for runs of several
    datasets, one per dataset and their summary (:func:`bench.report.datasets.make_dataset_reports`). Both
    results have ``out``, ``files``, ``notes``, ``warnings``, ``anchor`` and ``table``."""
    from bench.report.datasets import make_dataset_reports
    from bench.report.writer import group_by_dataset, make_report

    groups = group_by_dataset(config.runs)
    return make_report(config) if len(groups) <= 1 else make_dataset_reports(config, groups)
