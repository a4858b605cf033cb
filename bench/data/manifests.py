"""What a named dataset is: its manifest (``bench_datasets/<name>.json``, package data) as typed values.

A manifest gives either ``files`` (each image's URL and sha256) or one ``archive`` (URL, mirrors, size,
sha256 and who published it, the member patterns of the split's images), the number of ``images``,
and the dataset's homepage, licence, citation and notes (:mod:`bench.data.datasets` says how they are
fetched and checked).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = [
    "Archive",
    "CONTENTS_FILE",
    "DatasetError",
    "DatasetImage",
    "MIRROR_ENV",
    "Manifest",
    "ManifestFile",
    "known_datasets",
    "load_manifest",
    "manifest_from_json",
    "sources",
]

MIRROR_ENV = "BENCH_DATASET_MIRROR"
#: The file in an extracted dataset's folder that lists its images and their sha256 (written last).
CONTENTS_FILE = ".codec-bench-dataset.json"


class DatasetError(RuntimeError):
    """A dataset that cannot be found, downloaded or verified; the message says what to do."""


@dataclass(frozen=True)
class ManifestFile:
    name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class Archive:
    """A dataset's archive: where it is (``url``, then ``mirrors``), its ``size`` (bytes) and ``sha256``
    (None when nobody publishes one), who published them (``checksum_source``), and the ``members``
    (fnmatch patterns on the member paths) that are the split's images."""

    url: str
    members: tuple[str, ...]
    size: int | None = None
    sha256: str | None = None
    checksum_source: str = ""
    mirrors: tuple[str, ...] = ()
    file: str = ""

    @property
    def file_name(self) -> str:
        """The archive's file name: ``file``, else the last part of its URL."""
        return self.file or self.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Manifest:
    """What a named dataset is: its ``files`` (URL + sha256 each) or its ``archive``, how many
    ``images`` it has, and where it comes from (homepage, licence, citation, who published the checksums)."""

    name: str
    title: str
    homepage: str
    citation: str
    files: tuple[ManifestFile, ...] = ()
    archive: Archive | None = None
    images: int = 0
    licence: str = ""
    description: str = ""
    resolution: str = ""
    size: int | None = None
    checksum_source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def image_count(self) -> int:
        return self.images or len(self.files)

    @property
    def checksum(self) -> str:
        """Who vouches for the bytes: the publisher of the checksum, or that none is published."""
        if self.archive is not None:
            if self.archive.sha256:
                return f"archive sha256 published by {self.archive.checksum_source}"
            return "no checksum published anywhere: sha256 recorded on first download, later downloads must match"
        return self.checksum_source or "per-file sha256 in the manifest"


@dataclass(frozen=True)
class DatasetImage:
    name: str
    path: Path
    sha256: str


def known_datasets() -> list[str]:
    folder = resources.files("bench_datasets")
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def load_manifest(name: str) -> Manifest:
    try:
        text = resources.files("bench_datasets").joinpath(f"{name}.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"no manifest for dataset '{name}'") from None
    return manifest_from_json(json.loads(text))


def manifest_from_json(raw: dict) -> Manifest:
    """A :class:`Manifest` from its JSON form (the files of ``bench_datasets/``)."""
    files = tuple(ManifestFile(f["name"], f["url"], f["sha256"].lower()) for f in raw.get("files", ()))
    archive = None
    if raw.get("archive"):
        a = raw["archive"]
        archive = Archive(a["url"], tuple(a["members"]), a.get("size"), (a.get("sha256") or "").lower() or None,
                          a.get("checksum_source", ""), tuple(a.get("mirrors", ())), a.get("file", ""))  # fmt: skip
    return Manifest(
        raw["name"], raw["title"], raw["homepage"], raw["citation"], files, archive, raw.get("images", 0),
        raw.get("licence") or raw.get("terms", ""), raw.get("description", ""), raw.get("resolution", ""),
        raw.get("size"), raw.get("checksum_source", ""), tuple(raw.get("notes", ())),
    )  # fmt: skip


def sources(manifest: Manifest, file_name: str, url: str, mirrors: tuple[str, ...] = ()) -> list[str]:
    """Where to fetch ``file_name`` of ``manifest``, in order: ``$BENCH_DATASET_MIRROR/<name>/<file>``,
    ``url``, then ``mirrors``."""
    mirror = os.environ.get(MIRROR_ENV, "").strip().rstrip("/")
    return [*([f"{mirror}/{manifest.name}/{file_name}"] if mirror else []), url, *mirrors]
