"""``bench score``: add metrics to a finished run from its saved reconstructions or bitstreams (:mod:`bench.run.score`)."""

from __future__ import annotations

import argparse
import sys

from bench.api.options import add_options, config_from_args
from bench.cli._common import EXIT_BROKEN, EXIT_FAILURES, EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "score",
        help="add metrics to a finished run without encoding again",
        description="Compute metrics a run lacks from its saved reconstructions (--save-reconstructions) or by "
        "decoding its saved bitstreams (--save-bitstreams), store them and rewrite its CSV files, run.json and report.",
        arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.run.score import ScoreConfig

    add_options(parser, ScoreConfig)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-report", action="store_true", help="do not make <run>/report/ again")


def _anchor(run) -> str | None:
    """The anchor of the run's existing report (its bd_rate.csv), so that the report made again keeps it."""
    import csv

    try:
        with open(run / "report" / "bd_rate.csv", newline="", encoding="utf-8") as fh:
            return next(csv.DictReader(fh), {}).get("anchor") or None
    except OSError:
        return None


def handle(args: argparse.Namespace) -> int:
    from bench.api.files import command_line
    from bench.run.score import ScoreConfig, ScoreSetupError, score

    config = config_from_args(ScoreConfig, args, command=command_line())
    try:
        outcome = score(config, progress=not args.no_progress)
    except ScoreSetupError as exc:
        return setup_error("score", exc)
    if outcome.interrupted:
        return 130
    if outcome.broken:
        return EXIT_BROKEN
    if outcome.changed and not args.no_report:
        from bench.report.writer import ReportConfig, ReportError, make_report

        figures = any((outcome.out / "report").glob("rd_*.png"))  # the report made again as it was made
        try:
            try:
                made = make_report(ReportConfig(runs=(outcome.out,), anchor=_anchor(outcome.out), figures=figures))
            except ReportError:  # the old anchor is gone: the default one
                made = make_report(ReportConfig(runs=(outcome.out,), figures=figures))
            print(f"report: {made.out}/report.md")
        except Exception as exc:  # the scores are safe in the store; say what failed
            print(f"bench score: the report could not be made ({type(exc).__name__}: {exc}); "
                  f"run `bench report {outcome.out}` to retry", file=sys.stderr)  # fmt: skip
            return EXIT_FAILURES
    return EXIT_OK if outcome.ok else EXIT_FAILURES
