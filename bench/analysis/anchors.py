"""Published anchor curves by name: CompressAI's Kodak results, fetched on first use.

The catalogue (``bench/analysis/anchors.json``, package data) names each results file of CompressAI's
``results/image/`` folder at one pinned commit, with its sha256; the files themselves are not shipped.
:func:`fetch_anchor` downloads one into ``$XDG_CACHE_HOME/codec-bench/anchors/<commit>/`` (by default
``~/.cache/...``), checked against that hash, and never downloads with ``offline=True``.
``$BENCH_ANCHORS_URL`` replaces the base URL (a mirror, or a local server in tests).

Names: the file's name without ``.json`` and without CompressAI's ``compressai-`` prefix, ``_`` as
``-`` (``bmshj2018-hyperprior-mse-cpu``); ``bpg`` for ``bpg_444_x265_ycbcr``; files of the
``8bit-decoded`` folder end in ``-8bit`` (``bmshj2018-hyperprior-mse-8bit``). Case does not matter.
Every curve is a mean over the 24 Kodak images, one point per quality (CompressAI's schema).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from bench.analysis.curves import Curve, curves_from_compressai
from bench.api.files import sha256_file
from bench.data.download import DownloadError, download_file

__all__ = ["Anchor", "AnchorError", "catalogue", "anchor_names", "find_anchor", "fetch_anchor", "anchor_curve"]

URL_ENV = "BENCH_ANCHORS_URL"


class AnchorError(ValueError):
    """An unknown anchor name, or one that cannot be fetched (offline, network, hash)."""


@dataclass(frozen=True)
class Anchor:
    """One published results file: ``name``, its ``path`` under the source's ``results/image/`` folder,
    ``sha256``, the curve's own label, its number of points and what it measured (``note``)."""

    name: str
    path: str
    sha256: str
    label: str
    points: int
    note: str


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


def anchor_names() -> list[str]:
    return [a.name for a in catalogue()["anchors"]]


def find_anchor(name: str) -> Anchor | None:
    """The anchor called ``name`` (any case), or None."""
    wanted = name.strip().lower()
    return next((a for a in catalogue()["anchors"] if a.name.lower() == wanted), None)


def cache_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "codec-bench" / "anchors" / catalogue()["commit"][:12]


def anchor_url(anchor: Anchor) -> str:
    base = os.environ.get(URL_ENV) or catalogue()["url"]
    return base.rstrip("/") + "/" + anchor.path


def fetch_anchor(name: str, offline: bool = False) -> Path:
    """The local file of the anchor ``name``: from the cache, else downloaded and hash-checked."""
    anchor = find_anchor(name)
    if anchor is None:
        raise AnchorError(f"unknown published anchor '{name}' (`bench anchors` lists them)")
    path = cache_root() / anchor.path
    if path.is_file() and sha256_file(path) == anchor.sha256:
        return path
    if offline:
        raise AnchorError(f"published anchor '{name}' is not in {path.parent} and --offline forbids downloading it")
    try:
        return download_file(anchor_url(anchor), path, sha256=anchor.sha256, progress=False)
    except DownloadError as exc:
        raise AnchorError(f"published anchor '{name}': {exc}") from exc


def anchor_curve(name: str, offline: bool = False) -> Curve:
    """The anchor's curve, its provenance naming the source URL, commit, date and hash."""
    anchor = find_anchor(name)
    path = fetch_anchor(name, offline)
    cat = catalogue()
    curve = curves_from_compressai(path)
    url = cat["url"].rstrip("/") + "/" + anchor.path
    origin = f"{url} (CompressAI {cat['commit'][:10]}, {cat['commit_date']}; sha256 {anchor.sha256[:12]})"
    description = "; ".join(filter(None, [curve.description, anchor.note]))
    return replace(curve, source=url, description=description, provenance={**curve.provenance, "file": origin})
