"""``bench export``: a run's curves in CompressAI's results format, one ``<codec>.json`` each."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.api.files import atomic_write_text
from bench.api.options import comma_list
from bench.cli._common import EXIT_OK, EXIT_SETUP, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "export", help="write a run's curves in CompressAI's results format", arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, metavar="RUN")
    parser.add_argument("--codec", type=comma_list, default=None, help="codecs to export (default: all)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for <codec>.json (default: current folder)")


def handle(args: argparse.Namespace) -> int:
    from bench.analysis.curves import CurveError, curves_from_run, to_compressai

    try:
        curves = curves_from_run(args.run)
    except CurveError as exc:
        return setup_error("export", exc)
    wanted = set(args.codec) if args.codec else None
    unknown = (wanted or set()) - {c.codec for c in curves}
    if unknown:
        print(f"bench export: {args.run} has no {', '.join(sorted(unknown))}", file=sys.stderr)
        return EXIT_SETUP
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for curve in curves:
            if wanted is None or curve.codec in wanted:
                path = args.out / f"{curve.codec}.json"
                # whole or not at all: `bench report --reference` reads it back
                atomic_write_text(path, json.dumps(to_compressai(curve), indent=2) + "\n")
                print(path)
    except OSError as exc:
        return setup_error("export", f"cannot write into {args.out} ({exc.strerror or exc}); give a writable --out")
    return EXIT_OK
