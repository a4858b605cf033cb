"""The ``bench`` command: one module per command (``bench/cli/<command>.py``).

Each command module has ``add_parser(subparsers)``, which adds the command's parser (its arguments
are added when the command is used: :class:`~bench.cli._common.CommandParser`), and
``handle(args) -> int``, which runs it and returns the exit status. The options of a command are
declared on its configuration dataclass (:mod:`bench.api.options`); the modules import what a command
runs inside ``handle``, so that ``bench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from bench.cli import anchors, codecs, datasets, export, metrics, report, run, score, train, verify
from bench.cli._common import EXIT_FAILURES, EXIT_OK, EXIT_SETUP, CommandParser

__all__ = [
    "main",
    "build_parser",
    "COMMANDS",
    "EXIT_OK",
    "EXIT_FAILURES",
    "EXIT_SETUP",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
]

#: The exit statuses of a command interrupted by Ctrl-C or SIGTERM: 128 + the signal's number, as shells give.
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143

#: The commands, in the order of ``bench --help``: name -> module.
COMMANDS = {
    "run": run,
    "score": score,
    "report": report,
    "export": export,
    "train": train,
    "verify": verify,
    "codecs": codecs,
    "metrics": metrics,
    "datasets": datasets,
    "anchors": anchors,
}


class _Version(argparse.Action):
    """``--version``: the version and the source's commit (:func:`bench.store.provenance.version_text`), found
    only when asked (git runs then, not at every command)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from bench.store.provenance import version_text

        print(version_text())  # to stdout, as argparse's own version action prints
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="Rate-distortion benchmarks of image codecs.")
    parser.add_argument("--version", action=_Version, help="print the version and the commit, then exit")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    for module in COMMANDS.values():
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].handle(args)
    except KeyboardInterrupt as exc:  # a command without its own handling (a download, ...): one line, no traceback
        from bench.api.processes import Terminated

        terminated = isinstance(exc, Terminated)  # SIGTERM, where the command catches it (bench.api.processes)
        print(f"bench {args.command}: {'terminated (SIGTERM)' if terminated else 'interrupted'}", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
