"""Staging a run's images for the workers: each decoded once, written as ``.npy``, its tasks released.

The runner hands an executor tasks whose ``source`` is a staged ``.npy`` file that the measuring
processes map read-only; the images are decoded in background threads while the first tasks are
already measured. The first task of each codec and quality a command measures also keeps its
bitstream for the fresh-process decoding check (:mod:`bench.run.decode_check`).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from bench.api.files import file_stem
from bench.api.records import Record
from bench.api.task import Task
from bench.data.datasets import DatasetImage
from bench.data.images import ImageLoadError, SourceImage, load_rgb8
from bench.run.decode_check import DecodeCheck

__all__ = ["staged_tasks", "output_stems", "mark_for_decode_check", "decode_check_of"]

#: Called as each image is read: with its size and conversion, or with the error text of an image
#: that could not be read.
OnImage = Callable[[str, "dict | str"], None]


def _load_or_error(path: Path) -> SourceImage | ImageLoadError:
    """The image at ``path``, or the error that says why it cannot be read (never raises)."""
    try:
        return load_rgb8(path)
    except ImageLoadError as exc:
        return exc
    except Exception as exc:  # whatever a decoder raises, it is this image's failure, not the run's
        return ImageLoadError(f"{path}: cannot be read ({type(exc).__name__}: {exc})")


def staged_tasks(
    items: list[DatasetImage], pending: dict[str, list[Task]], folder: Path, threads: int, on_image: OnImage
) -> Iterator[Task]:
    """The tasks of each image (``pending``: image name -> tasks), as soon as that image is decoded and
    staged in ``folder`` for the workers.

    Only images with work left are decoded, in ``threads`` background threads (the decoders release the
    GIL), while the workers already measure the first ones. Each image is written once as a ``.npy``
    file that the workers map read-only. ``on_image(name, info)`` is called as each image is read.
    """
    todo = [item for item in items if pending.get(item.name)]
    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        loaded = pool.map(_load_or_error, [item.path for item in todo])
        for index, (item, image) in enumerate(zip(todo, loaded, strict=True)):
            if isinstance(image, ImageLoadError):
                on_image(item.name, str(image))
                continue
            on_image(item.name, {"width": image.width, "height": image.height, "conversion": image.conversion})
            staged = folder / f"{index}.npy"
            np.save(staged, image.pixels)
            for task in pending[item.name]:
                yield replace(task, source=str(staged))


def output_stems(items: list[DatasetImage]) -> dict[str, str]:
    """File stems for saved bitstreams and reconstructions: the image's stem, or its whole name with
    the dot replaced (``a_png``, ``a_jpg``) when several images of the dataset share a stem."""
    stems = Counter(Path(item.name).stem for item in items)
    return {item.name: file_stem(item.name, stems[Path(item.name).stem] > 1) for item in items}


def mark_for_decode_check(task: Task, checked: set[tuple[str, float]], staging: Path) -> Task:
    """``task``, chosen for the fresh-process decoding check if it is the first task of its codec and
    quality this command measures (``checked`` holds those already chosen, and gains this one)."""
    key = (task.codec, float(task.quality))
    if key in checked:
        return task
    checked.add(key)
    return replace(task, check_path=str(staging / "check" / f"{len(checked)}"))


def decode_check_of(record: Record, pending: dict[str, list[Task]]) -> DecodeCheck | None:
    """The fresh-process decoding check of ``record``'s task, if that task was chosen for one."""
    for task in pending.get(record.image, ()):
        if task.check_path and task.key == record.key:
            return DecodeCheck(record.codec, record.quality, record.image, task.check_path)
    return None
