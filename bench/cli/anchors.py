"""``bench anchors``: the published curves ``bench report --reference NAME`` can overlay (:mod:`bench.analysis.anchors`)."""

from __future__ import annotations

import argparse

from bench.cli._common import EXIT_OK, setup_error


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "anchors",
        help="list the published curves that bench report --reference NAME overlays",
        description="CompressAI's published curves of a dataset (Kodak, CLIC 2020 professional and mobile test) by "
        "name, their source and whether they are cached; with --fetch, download the named ones (hash-checked) for "
        "later offline use.",
        arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fetch", metavar="NAME,NAME", default=None, help="download these anchors ('all': every one)")
    parser.add_argument("--dataset", default="kodak",
                        help="the dataset whose published curves to list or fetch (default: kodak)")  # fmt: skip


def handle(args: argparse.Namespace) -> int:
    from bench.analysis.anchors import (
        AnchorError,
        anchor_datasets,
        anchor_names,
        cache_root,
        catalogue,
        fetch_anchor,
        find_anchor,
        unknown_anchor_text,
    )

    cat, dataset = catalogue(), args.dataset
    if dataset not in anchor_datasets():
        return setup_error("anchors", AnchorError(unknown_anchor_text("", dataset)))
    if args.fetch:
        wanted = args.fetch.strip()
        names = anchor_names(dataset) if wanted == "all" else [n.strip() for n in wanted.split(",") if n.strip()]
        try:
            for name in names:
                print(f"{name}: {fetch_anchor(name, dataset=dataset)}")
        except AnchorError as exc:
            return setup_error("anchors", exc)
        return EXIT_OK
    print(f"{cat['source']}, commit {cat['commit'][:10]} ({cat['commit_date']}), {cat['license']}")
    print(f"datasets with published curves: {', '.join(anchor_datasets())} (--dataset NAME)")
    print(f"{dataset}: {anchor_datasets()[dataset]['covers']}")
    print(f"cache: {cache_root()}")
    anchors = [find_anchor(name, dataset) for name in anchor_names(dataset)]
    width = max(len(a.name) for a in anchors)
    for a in anchors:
        cached = "cached" if (cache_root() / a.path).is_file() else "      "
        points = f"{a.points:>2} points" if dataset == "kodak" else "         "  # (counted in the Kodak files only)
        print(f"{a.name:<{width}}  {cached}  {points}  {a.label}: {a.note or a.path}")
    print("use: bench report RUN --reference vtm,bpg [--anchor vtm] (the files of the run's dataset are taken)")
    return EXIT_OK
