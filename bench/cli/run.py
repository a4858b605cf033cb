"""``bench run``: measure codecs over a dataset (:mod:`bench.run.runner`), then write its report."""

from __future__ import annotations

import argparse
import sys

from bench.api.options import add_options, config_from_args
from bench.cli._common import EXIT_BROKEN, EXIT_FAILURES, EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "run",
        help="measure codecs over a dataset",
        description="Sweep each codec's quality knob over a dataset and record bpp, PSNR, MS-SSIM and timings per image.",
        arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.executors.local import worker_context

    # Start the local workers' fork server before anything heavy is imported: it loads the codecs and
    # metrics while this process loads the runner (its options come from RunConfig).
    worker_context()
    from bench.run.runner import RunConfig

    add_options(parser, RunConfig, exclude=("plugins", "device"))
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_options(parser, RunConfig, only=("plugins", "device"))  # listed after --no-progress, as they always were
    parser.add_argument("--no-report", action="store_true", help="do not write <run>/report/ at the end")
    parser.add_argument("--figures", action="store_true",
                        help="the report also draws the figures for a paper (PNG, PDF, SVG), as `bench report` "
                        "does; without it, the tables and the interactive page only")  # fmt: skip
    parser.add_argument("--anchor", default=None, help="anchor codec of the report's BD-rate table (default: jpeg)")


def handle(args: argparse.Namespace) -> int:
    from bench.api.files import command_line
    from bench.run.config import RunConfig, RunSetupError, dataset_list, per_dataset

    config = config_from_args(RunConfig, args, command=command_line())
    try:
        specs = dataset_list(config.dataset)
    except RunSetupError as exc:
        return setup_error("run", exc)
    if len(specs) == 1:
        return _run_one(config, args)
    statuses, outs = [], []
    for spec in specs:  # one run folder per dataset, each resumable on its own
        sub = per_dataset(config, spec)
        print(f"bench run: dataset {spec} -> {sub.out}", file=sys.stderr)
        statuses.append(_run_one(sub, args, outs))
        if statuses[-1] == 130:
            return 130
    if not args.no_report and len(outs) > 1:
        statuses.append(_summary_report(outs, args))
    return max(statuses)


def _summary_report(outs: list, args: argparse.Namespace) -> int:
    """The report over every dataset's run folder: one per dataset and the summary (bench report's)."""
    from bench.cli.report import make_any_report
    from bench.report.writer import ReportConfig

    try:
        made = make_any_report(ReportConfig(runs=tuple(outs), anchor=args.anchor, figures=args.figures))
    except Exception as exc:  # the measurements are safe in their stores; say what failed
        print(f"bench run: the summary report could not be made ({type(exc).__name__}: {exc}); "
              f"run `bench report {' '.join(map(str, outs))}` to retry", file=sys.stderr)  # fmt: skip
        return EXIT_FAILURES
    print(f"summary report over {len(outs)} datasets: {made.out}/report.md")
    return EXIT_OK


def _run_one(config, args: argparse.Namespace, outs: list | None = None) -> int:
    """``bench run`` over one dataset, and its report; ``outs`` collects the run folder."""
    from bench.run.runner import RunSetupError, run

    try:
        outcome = run(config, progress=not args.no_progress)
    except RunSetupError as exc:
        return setup_error("run", exc)
    except KeyboardInterrupt:  # Ctrl-C while getting ready (downloading weights or the dataset): nothing measured
        print("bench run: interrupted before measuring anything", file=sys.stderr)
        return 130
    if outcome.interrupted:
        return 130
    if outs is not None:
        outs.append(outcome.out)
    if outcome.broken:
        return EXIT_BROKEN
    if not args.no_report and outcome.records:
        from bench.report.writer import ReportConfig, make_report

        try:
            made = make_report(ReportConfig(runs=(outcome.out,), anchor=args.anchor, figures=args.figures))
            compared = f"BD-rates against {made.anchor}" if len(made.table) else "no BD-rates: one curve only"
            print(f"report: {made.out}/report.md ({compared})")
        except Exception as exc:  # the measurements are safe in the store; say what failed
            print(f"bench run: the report could not be made ({type(exc).__name__}: {exc}); "
                  f"run `bench report {outcome.out}` to retry", file=sys.stderr)  # fmt: skip
            return EXIT_FAILURES
    from bench.api.records import codecs_without_defined_images

    # a codec asked for without one image with every metric defined has no means at all (the summary's warning)
    without_means = codecs_without_defined_images(outcome.records).keys() & set(outcome.codecs)
    return EXIT_OK if outcome.ok and not without_means else EXIT_FAILURES
