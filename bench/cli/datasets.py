"""``bench datasets``: the named datasets and whether they are present locally."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli._common import EXIT_OK


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "datasets", help="list named datasets and whether they are present locally", arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None)


def handle(args: argparse.Namespace) -> int:
    from bench.data.datasets import data_root, known_datasets, load_manifest

    root = data_root(args.data_dir)
    print(f"data root: {root}")
    for name in known_datasets():
        manifest = load_manifest(name)
        present = sum((root / name / f.name).is_file() for f in manifest.files)
        print(
            f"{name:<10} {manifest.title}: {present}/{len(manifest.files)} files in {root / name} ({manifest.homepage})"
        )
    print("any folder of images (PNG, BMP, PPM/PGM, TIFF, lossless WebP, JPEG) can be given as --dataset PATH")
    return EXIT_OK
