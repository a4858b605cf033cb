"""Named datasets (downloaded, verified, cached) and plain folders of images.

A dataset is given either by name (a manifest in ``bench_datasets``, e.g. ``kodak``; ``bench
datasets`` lists them) or as a path to a folder of images (:data:`bench.data.images.IMAGE_SUFFIXES`).
Named datasets live in ``<data root>/<name>/``; the data root is, in order: the ``data_dir`` argument
(``--data-dir``), ``$BENCH_DATA``, or ``$XDG_CACHE_HOME/codec-bench/datasets``
(``~/.cache/codec-bench/datasets``). A manifest gives either

* ``files``: each image's URL and sha256 (Kodak). Missing or damaged files are downloaded
  (:func:`bench.data.download.download_file`: streamed, checked, placed whole, refused with
  ``--offline``) and every file is checked against its sha256 before use; or
* ``archive``: one archive (URL, mirrors, size, sha256 and who published that checksum) and the
  patterns of its members that are the split's images (``valid/*.png``), with their number. The
  archive is downloaded into ``<data root>/.downloads/`` (resumed after an interruption with HTTP
  ``Range``), checked, its images extracted safely (:mod:`bench.data.archives`) into a fresh folder
  that is renamed to ``<data root>/<name>/`` only once complete: the number of images right and
  ``.codec-bench-dataset.json`` (each image's sha256) written in it; then the archive is deleted.
  Each use checks every image against that file.

Where no checksum is published for an archive (``"sha256": null``), the first download is trusted
and recorded: ``<data root>/.records/<name>.json`` keeps the archive's sha256 and size and every
image's sha256, and a later download that gives another archive or other images is refused. Where
one is published, the archive must match it (and the record is kept too).

Sources, in order: ``$BENCH_DATASET_MIRROR/<name>/<file name>`` when that variable is set (a mirror
of all datasets, or a local copy served over HTTP or as ``file://``), the manifest's URL, then its
``mirrors``.

A folder dataset takes the files of the folder itself (not of its subfolders), sorted by name; every
entry it does not take (a subfolder, a hidden file, a broken link, a file of another type, a lossy
WebP file, a file too large to be an image it reads by its size or its header's pixel count, checked
before the file is hashed, an unreadable file) is listed in :attr:`Dataset.skipped` with the reason, and
:meth:`Dataset.describe` (written into ``run.json``) lists them too.

:meth:`Dataset.describe` records where the dataset is in a form that holds on any machine: the
dataset as it was given (``kodak``, ``../data/clic``) and its folder either relative to the data root
(``<data root>/kodak``) or relative to the current directory; never an absolute path of this machine.
The sha256 of every image identifies the data itself.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.api.files import portable_path, sha256_file
from bench.data.download import DownloadError, download_first
from bench.data.extracted import resolve_archive_dataset
from bench.data.images import MAX_FILE_BYTES, size_problem, source_problem
from bench.data.manifests import (
    Archive,
    DatasetError,
    DatasetImage,
    Manifest,
    ManifestFile,
    known_datasets,
    load_manifest,
    sources,
)

__all__ = [
    "Archive",
    "DatasetError",
    "Dataset",
    "DatasetImage",
    "Manifest",
    "ManifestFile",
    "data_root",
    "known_datasets",
    "load_manifest",
    "resolve_dataset",
]

DATA_ENV = "BENCH_DATA"
#: How :meth:`Dataset.describe` names the folder of a named dataset (the data root is machine-specific).
DATA_ROOT_LABEL = "<data root>"


@dataclass(frozen=True)
class Dataset:
    """A resolved dataset: verified files on disk, in a fixed (sorted) order.

    ``root`` is the absolute folder, for use on this machine; ``given`` is the dataset as the user
    gave it (a name or a path); ``skipped`` holds ``(entry name, why)`` for each entry of a folder
    dataset that is not one of its images.
    """

    name: str
    root: Path
    images: tuple[DatasetImage, ...]
    source: str  # "manifest" or "folder"
    skipped: tuple[tuple[str, str], ...] = ()
    given: str = ""
    origin: dict | None = None  # a named dataset's source: manifest facts and the archive's sha256

    def describe(self) -> dict:
        """What ``run.json`` records: nothing in it is specific to this machine (see the module docstring)."""
        if self.source == "manifest":
            root = f"{DATA_ROOT_LABEL}/{self.name}"
        else:
            root = os.path.normpath(portable_path(self.given or self.root))
        return {
            "name": self.name,
            "source": self.source,
            "given": portable_path(self.given) if self.source == "folder" else (self.given or self.name),
            "root": root,
            "images": [{"name": im.name, "sha256": im.sha256} for im in self.images],
            "skipped": [{"name": name, "reason": reason} for name, reason in self.skipped],
            **({"origin": self.origin} if self.origin else {}),
        }


def _origin(manifest: Manifest, archive: dict | None = None) -> dict:
    """What ``run.json`` records of where a named dataset comes from: title, homepage, licence, who vouches
    for its bytes and, for an archive, its URL, members and the sha256 and size of the archive its images
    came from (``archive``: what the extracted folder's contents file says of it)."""
    origin = {"title": manifest.title, "homepage": manifest.homepage, "licence": manifest.licence,
              "checksum": manifest.checksum}  # fmt: skip
    if manifest.archive is not None:
        origin["archive"] = {"url": manifest.archive.url, "members": list(manifest.archive.members),
                             "sha256": (archive or {}).get("sha256"), "size": (archive or {}).get("size")}  # fmt: skip
    return origin


def data_root(data_dir: str | Path | None = None) -> Path:
    """The folder holding named datasets: ``data_dir``, else ``$BENCH_DATA``, else the user cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "codec-bench" / "datasets"


def _how_to_fill(manifest: Manifest, folder: Path) -> str:
    return (
        f"Fill the folder {folder} with the {len(manifest.files)} files of {manifest.title} "
        f"({manifest.homepage}; names and sha256 in the '{manifest.name}' manifest, "
        f"e.g. {manifest.files[0].name} = {manifest.files[0].sha256}), "
        f"or point --data-dir / ${DATA_ENV} at a folder that contains '{manifest.name}/'."
    )


def _cached_problem(file: ManifestFile, path: Path) -> str | None:
    """Why the cached copy ``path`` of ``file`` cannot be used (missing, or another sha256), or None."""
    if not path.is_file():
        return f"{path} is missing"
    if path.stat().st_size > MAX_FILE_BYTES:  # not hashed: it cannot be an image of the dataset
        return f"{path} is a file of {path.stat().st_size / 2**30:,.1f} GiB, not the dataset's image"
    actual = sha256_file(path)
    if actual != file.sha256:
        return f"{path} has sha256 {actual}, expected {file.sha256} (a different or damaged copy)"
    return None


def _fetch(manifest: Manifest, file: ManifestFile, path: Path, problem: str, offline: bool) -> None:
    """Download ``file`` to ``path`` (:func:`bench.data.download.download_file`: streamed, checked
    against the manifest's sha256, placed whole); :class:`DatasetError` saying why the cached copy was
    not used, why the download failed, and how to fill the folder by hand."""
    try:
        download_first(sources(manifest, file.name, file.url), path, sha256=file.sha256,
                       desc=f"{manifest.name} {file.name}", offline=offline)  # fmt: skip
    except DownloadError as exc:
        raise DatasetError(f"{problem}; {exc}. {_how_to_fill(manifest, path.parent)}") from None


def _resolve_named(manifest: Manifest, root: Path, offline: bool) -> Dataset:
    """The dataset of ``manifest`` in ``root/<name>/``, its missing or damaged files downloaded first
    (:class:`DatasetError` when one cannot be, or ``offline``)."""
    folder = root / manifest.name
    if manifest.archive is not None:
        images, archive = resolve_archive_dataset(manifest, root, offline)
        return Dataset(
            manifest.name, folder, images, "manifest", given=manifest.name, origin=_origin(manifest, archive)
        )
    problems = {file: _cached_problem(file, folder / file.name) for file in manifest.files}
    wanted = [file for file, problem in problems.items() if problem is not None]
    if wanted and not offline:
        print(f"{manifest.name}: downloading {len(wanted)} file(s) into {folder}", file=sys.stderr)
    for file in wanted:
        _fetch(manifest, file, folder / file.name, problems[file], offline)
    images = tuple(DatasetImage(file.name, folder / file.name, file.sha256) for file in manifest.files)
    return Dataset(manifest.name, folder, images, "manifest", given=manifest.name, origin=_origin(manifest))


def _entry_problem(path: Path) -> str | None:
    """Why the folder entry ``path`` is not a dataset image, or ``None`` when it is one."""
    if path.name.startswith("."):
        return "hidden file"
    if path.is_symlink() and not path.exists():
        return "broken symbolic link (its target does not exist)"
    if path.is_dir():
        return "a folder (the files of subfolders are not taken)"
    if not path.is_file():
        return "not a regular file"
    return source_problem(path) or size_problem(path)  # before its sha256: a huge file takes minutes to hash


def _resolve_folder(folder: Path, given: str) -> Dataset:
    images, skipped = [], []
    for path in sorted(folder.iterdir()):
        problem = _entry_problem(path)
        if problem is None:
            try:
                images.append(DatasetImage(path.name, path, sha256_file(path)))
                continue
            except OSError as exc:
                problem = f"cannot be read: {type(exc).__name__}: {exc.strerror or exc}"
        skipped.append((path.name, problem))
    if not images:
        listed = "; ".join(f"{name}: {why}" for name, why in skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
        raise DatasetError(
            f"folder {folder} holds no images (PNG, BMP, PPM/PGM/PBM/PNM, TIFF, lossless WebP or JPEG files)"
            + (f"; skipped {len(skipped)} entries: {listed}" if skipped else "")
        )
    return Dataset(folder.name, folder.resolve(), tuple(images), "folder", tuple(skipped), given)


def resolve_dataset(spec: str, data_dir: str | Path | None = None, *, download: bool = True) -> Dataset:
    """A named dataset (its missing or damaged files downloaded unless ``download`` is False, every
    file verified) or a folder of images."""
    if spec in known_datasets():
        return _resolve_named(load_manifest(spec), data_root(data_dir), offline=not download)
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return _resolve_folder(folder, spec)
    if folder.exists():
        raise DatasetError(f"{folder} is a file; give a dataset name ({', '.join(known_datasets())}) or a folder")
    raise DatasetError(f"unknown dataset '{spec}': not a dataset name ({', '.join(known_datasets())}) nor a folder")
