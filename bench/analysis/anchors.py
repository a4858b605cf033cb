"""Published anchor curves by name and dataset: CompressAI's results on Kodak and CLIC 2020, fetched on first use.

The catalogue (``bench/analysis/anchors.json``, package data) names each results file of CompressAI's
``results/image/`` folder at one pinned commit; the files themselves are not shipped. Its
``datasets`` block says, for each of our dataset names that has published results, CompressAI's folder
of it (``clic2020-mobile-test`` -> ``clic2020-mobile``), which anchors it has, and which images the
files are believed to cover and why (CompressAI's files do not record their images). The Kodak files
carry their sha256 in the catalogue; the CLIC ones have none (no copy was at hand to hash), so the
first download's sha256 is recorded beside it (``<file>.sha256``) and a later download that differs
is refused. :func:`fetch_anchor` downloads into ``$XDG_CACHE_HOME/codec-bench/anchors/<commit>/`` (by
default ``~/.cache/...``) and never downloads with ``offline=True``. ``$BENCH_ANCHORS_URL`` replaces
the base URL (a mirror, or a local server in tests).

Names: the file's name without ``.json`` and without CompressAI's ``compressai-`` prefix, ``_`` as
``-`` (``bmshj2018-hyperprior-mse-cpu``); ``bpg`` for ``bpg_444_x265_ycbcr``; files of the
``8bit-decoded`` folder end in ``-8bit`` (``bmshj2018-hyperprior-mse-8bit``). Case does not matter.
Every curve is a mean over the dataset's images, one point per quality (CompressAI's schema).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from bench.analysis.curves import Curve, curves_from_compressai
from bench.api.files import atomic_write_text, sha256_file
from bench.data.download import DownloadError, download_file

__all__ = ["Anchor", "AnchorError", "DEFAULT_DATASET", "catalogue", "anchor_datasets", "anchor_names", "find_anchor",
           "fetch_anchor", "anchor_curve"]  # fmt: skip

#: The dataset of published anchors when a report has no run to take it from.
DEFAULT_DATASET = "kodak"

URL_ENV = "BENCH_ANCHORS_URL"


class AnchorError(ValueError):
    """An unknown anchor name, or one that cannot be fetched (offline, network, hash)."""


@dataclass(frozen=True)
class Anchor:
    """One published results file: ``name``, its ``path`` under the source's ``results/image/`` folder,
    ``sha256``, the curve's own label, its number of points and what it measured (``note``)."""

    name: str
    path: str
    sha256: str | None
    label: str
    points: int
    note: str
    dataset: str = DEFAULT_DATASET
    covers: str = ""


@lru_cache(maxsize=1)
def catalogue() -> dict:
    """The catalogue's source fields (repository, commit, date, URL, license) and its anchors."""
    doc = json.loads(resources.files("bench.analysis").joinpath("anchors.json").read_text(encoding="utf-8"))
    notes = doc.pop("notes")
    anchors = []
    for item in doc.pop("anchors"):
        note = next((text for prefix, text in notes.items() if item["path"].startswith(prefix)), "")
        anchors.append(Anchor(note=note, **item))
    return {**doc, "anchors": tuple(anchors)}


def anchor_datasets() -> dict[str, dict]:
    """Our dataset names that have published anchors, each with CompressAI's ``folder`` of it, its
    ``images``, the ``anchors`` it has (``"all"``: every one of the catalogue) and what it ``covers``."""
    return catalogue()["datasets"]


def anchor_names(dataset: str = DEFAULT_DATASET) -> list[str]:
    """The anchors published for ``dataset`` (none for a dataset without published results)."""
    info = anchor_datasets().get(dataset)
    if info is None:
        return []
    names = [a.name for a in catalogue()["anchors"]]
    return names if info["anchors"] == "all" else [n for n in names if n in info["anchors"]]


def find_anchor(name: str, dataset: str = DEFAULT_DATASET) -> Anchor | None:
    """The anchor called ``name`` (any case) published for ``dataset``, or None."""
    wanted = name.strip().lower()
    anchor = next((a for a in catalogue()["anchors"] if a.name.lower() == wanted), None)
    if anchor is None or anchor.name not in anchor_names(dataset):
        return None
    info = anchor_datasets()[dataset]
    if dataset == DEFAULT_DATASET:
        return replace(anchor, covers=info["covers"])
    kodak = anchor_datasets()[DEFAULT_DATASET]["folder"]
    parts = anchor.path.split("/")
    path = "/".join(info["folder"] if part == kodak else part for part in parts)
    return replace(anchor, path=path, sha256=None, dataset=dataset, covers=info["covers"])


def unknown_anchor_text(name: str, dataset: str) -> str:
    """Why ``name`` is no published anchor of ``dataset``, and what there is."""
    if dataset not in anchor_datasets():
        return (f"no published anchors for dataset '{dataset}': CompressAI publishes results for "
                f"{', '.join(anchor_datasets())} (`bench anchors`)")  # fmt: skip
    return f"unknown published anchor '{name}' for dataset '{dataset}' (`bench anchors --dataset {dataset}` lists them)"


def cache_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "codec-bench" / "anchors" / catalogue()["commit"][:12]


def anchor_url(anchor: Anchor) -> str:
    base = os.environ.get(URL_ENV) or catalogue()["url"]
    return base.rstrip("/") + "/" + anchor.path


def _expected_sha256(anchor: Anchor, path: Path) -> str | None:
    """The sha256 the file of ``anchor`` must have: the catalogue's, else the one recorded at its first
    download (``<path>.sha256``), else None (not downloaded yet)."""
    if anchor.sha256:
        return anchor.sha256
    recorded = path.with_name(path.name + ".sha256")
    return recorded.read_text(encoding="utf-8").strip() if recorded.is_file() else None


def fetch_anchor(name: str, offline: bool = False, dataset: str = DEFAULT_DATASET) -> Path:
    """The local file of the anchor ``name`` of ``dataset``: from the cache, else downloaded and
    hash-checked (against the catalogue, or the first download's record)."""
    anchor = find_anchor(name, dataset)
    if anchor is None:
        raise AnchorError(unknown_anchor_text(name, dataset))
    path = cache_root() / anchor.path
    expected = _expected_sha256(anchor, path)
    if path.is_file() and expected and sha256_file(path) == expected:
        return path
    if offline:
        raise AnchorError(f"published anchor '{name}' ({dataset}) is not in {path.parent} and --offline forbids "
                          "downloading it")  # fmt: skip
    try:
        download_file(anchor_url(anchor), path, sha256=expected or "", progress=False)
    except DownloadError as exc:
        raise AnchorError(f"published anchor '{name}' ({dataset}): {exc}") from exc
    if expected is None:  # first download of a file without a published hash: record it
        atomic_write_text(path.with_name(path.name + ".sha256"), sha256_file(path) + "\n")
    return path


def anchor_curve(name: str, offline: bool = False, dataset: str = DEFAULT_DATASET) -> Curve:
    """The anchor's curve, its provenance naming the source URL, commit, date, hash and the images it is
    believed to cover."""
    anchor = find_anchor(name, dataset)
    path = fetch_anchor(name, offline, dataset)
    cat = catalogue()
    curve = curves_from_compressai(path)
    url = cat["url"].rstrip("/") + "/" + anchor.path
    sha = anchor.sha256 or f"{_expected_sha256(anchor, path)} recorded at its first download"
    origin = f"{url} (CompressAI {cat['commit'][:10]}, {cat['commit_date']}; sha256 {sha[:12]}{sha[64:]})"
    description = "; ".join(filter(None, [curve.description, anchor.note, f"covers {anchor.covers}"]))
    provenance = {**curve.provenance, "file": origin, "dataset": dataset, "covers": anchor.covers}
    return replace(curve, source=url, description=description, provenance=provenance)
