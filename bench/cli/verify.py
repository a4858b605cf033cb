"""``bench verify``: does a codec decode its bitstreams identically in a fresh process? (:mod:`bench.run.verify`)"""

from __future__ import annotations

import argparse

from bench.api.options import add_options, config_from_args
from bench.cli._common import EXIT_FAILURES, EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "verify",
        help="check that a codec decodes its bitstreams identically in a fresh process (and across devices)",
        arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.run.verify import VerifyConfig

    add_options(parser, VerifyConfig)


def handle(args: argparse.Namespace) -> int:
    from bench.run.verify import VerifyConfig, VerifyError, verify

    try:
        report = verify(config_from_args(VerifyConfig, args))
    except VerifyError as exc:
        return setup_error("verify", exc)
    for line in report.lines:
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILURES
