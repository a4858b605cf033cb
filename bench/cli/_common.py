"""What the command modules share: exit statuses, setup errors and the parser class of a command."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

__all__ = ["EXIT_OK", "EXIT_FAILURES", "EXIT_SETUP", "EXIT_BROKEN", "CommandParser", "setup_error"]

#: Exit statuses: all measured; some measurements failed; cannot start; the run itself broke.
EXIT_OK, EXIT_FAILURES, EXIT_SETUP, EXIT_BROKEN = 0, 1, 2, 3


def setup_error(command: str, exc: Exception) -> int:
    """Say why ``bench <command>`` cannot start; the exit status for that."""
    print(f"bench {command}: {exc}", file=sys.stderr)
    return EXIT_SETUP


class CommandParser(argparse.ArgumentParser):
    """The parser of one command, whose arguments are added when that command is used.

    ``arguments(parser)`` adds them, once, when the command's arguments are parsed or its help or usage
    is shown. A command's options come from its configuration dataclass, whose module may be slow to
    import (pandas, matplotlib): this way ``bench --help`` imports none of them and each command only its own.
    """

    def __init__(self, *args: Any, arguments: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._add_arguments = arguments

    def _complete(self) -> None:
        if self._add_arguments is not None:
            add, self._add_arguments = self._add_arguments, None
            add(self)

    def parse_known_args(self, args=None, namespace=None):  # argparse parses a command's arguments with this
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()
