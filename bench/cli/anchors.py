"""``bench anchors``: the published curves ``bench report --reference NAME`` can overlay (:mod:`bench.analysis.anchors`)."""

from __future__ import annotations

import argparse

from bench.cli._common import EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "anchors",
        help="list the published curves that bench report --reference NAME overlays",
        description="CompressAI's published Kodak curves by name, their source and whether they are cached; "
        "with --fetch, download the named ones (hash-checked) for later offline use.",
        arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fetch", metavar="NAME,NAME", default=None, help="download these anchors ('all': every one)")


def handle(args: argparse.Namespace) -> int:
    from bench.analysis.anchors import AnchorError, anchor_names, cache_root, catalogue, fetch_anchor

    cat = catalogue()
    if args.fetch:
        names = (
            anchor_names() if args.fetch.strip() == "all" else [n.strip() for n in args.fetch.split(",") if n.strip()]
        )
        try:
            for name in names:
                print(f"{name}: {fetch_anchor(name)}")
        except AnchorError as exc:
            return setup_error("anchors", exc)
        return EXIT_OK
    print(f"{cat['source']}, commit {cat['commit'][:10]} ({cat['commit_date']}), {cat['license']}")
    print(f"cache: {cache_root()}")
    width = max(len(a.name) for a in cat["anchors"])
    for a in cat["anchors"]:
        cached = "cached" if (cache_root() / a.path).is_file() else "      "
        print(f"{a.name:<{width}}  {cached}  {a.points:>2} points  {a.label}: {a.note or a.path}")
    print("use: bench report RUN --reference vtm,bpg [--anchor vtm]")
    return EXIT_OK
