"""``bench datasets``: the named datasets (images, resolution, size, licence, where their checksums come
from) and whether they are in the data root."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli._common import EXIT_OK


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "datasets", help="list named datasets and whether they are present locally", arguments=add_arguments
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where named datasets live (default: $BENCH_DATA, else ~/.cache/codec-bench/datasets)")  # fmt: skip


def _size(manifest) -> str:
    size = manifest.archive.size if manifest.archive is not None else manifest.size
    if size is None:
        return "size not published"
    what = "archive " if manifest.archive is not None else ""
    return f"{what}{size / 2**20:,.0f} MiB"


def _cached_images(manifest, folder: Path) -> list[Path]:
    """The dataset's image files present in ``folder`` (not checked: ``bench run`` checks them)."""
    from bench.data.extracted import read_contents

    if manifest.archive is None:
        return [folder / f.name for f in manifest.files if (folder / f.name).is_file()]
    names = (read_contents(folder) or {}).get("images")
    return [folder / name for name in names if (folder / name).is_file()] if isinstance(names, dict) else []


def _resolution(manifest, images: list[Path]) -> str:
    """The range of the cached images' sizes (read from their headers), else what the manifest states."""
    from PIL import Image

    sizes = set()
    for path in images:
        try:
            with Image.open(path) as image:
                sizes.add(image.size)
        except (OSError, ValueError):
            pass
    if not sizes:
        return manifest.resolution or "? (measured once cached)"
    pixels = sorted(sizes, key=lambda s: (s[0] * s[1], s), reverse=True)
    if len(pixels) <= 2:
        return ", ".join(f"{w}x{h}" for w, h in pixels)
    (w0, h0), (w1, h1) = pixels[-1], pixels[0]
    return f"{w0}x{h0} to {w1}x{h1} ({len(pixels)} sizes)"


def _cached(manifest, root: Path, images: list[Path]) -> str:
    from bench.data.extracted import archive_path

    if manifest.archive is None:
        return f"{len(images)}/{manifest.image_count} files"
    if images:
        return f"yes ({len(images)} images)"
    part = archive_path(root, manifest).with_name(manifest.archive.file_name + ".part")
    if part.is_file():
        return f"no ({part.stat().st_size / 2**20:,.0f} MiB of the archive downloaded: resumes)"
    return "no"


def handle(args: argparse.Namespace) -> int:
    from bench.data.datasets import data_root, known_datasets, load_manifest

    root = data_root(args.data_dir)
    print(f"data root: {root}")
    for name in known_datasets():
        manifest = load_manifest(name)
        images = _cached_images(manifest, root / name)
        print(f"{name:<28} {manifest.image_count:>4} images  {_resolution(manifest, images):<24} "
              f"{_size(manifest):<20} cached: {_cached(manifest, root, images)}")  # fmt: skip
        print(f"{'':<28} {manifest.title} ({manifest.homepage})")
        print(f"{'':<28} licence: {manifest.licence}")
        print(f"{'':<28} checksum: {manifest.checksum}")
    print("any folder of images (PNG, BMP, PPM/PGM, TIFF, lossless WebP, JPEG) can be given as --dataset PATH; "
          "several datasets as --dataset kodak,tecnick,PATH")  # fmt: skip
    return EXIT_OK
