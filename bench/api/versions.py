"""Versions of installed Python distributions, for the provenance a run records.

``importlib.metadata.version`` scans every folder of ``sys.path`` and reads a METADATA file per call (about
1 ms each; a run asks for some 90). :func:`installed_version` reads the names of the ``*.dist-info`` folders
once per process instead: a wheel's is ``{name}-{version}.dist-info`` (the binary distribution format), the
same version its METADATA holds; a development install's ``.egg-info`` says its version in ``PKG-INFO``. As
``importlib.metadata``, the first one found along ``sys.path`` wins; a name found in neither falls back to
``importlib.metadata``. The index is made once per ``sys.path``; a package installed into one of its folders
later in the same process is found by that fallback.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from importlib import metadata

__all__ = ["installed_version", "normalized_name"]


def normalized_name(name: str) -> str:
    """A distribution's name as the packaging specifications compare them (``PyYAML``, ``pyyaml`` ->
    ``pyyaml``; ``opencv_python.headless`` -> ``opencv-python-headless``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _dist_info_versions(path: tuple[str, ...]) -> dict[str, str]:
    """Normalised name -> version of every ``*.dist-info`` folder in the folders ``path``, the first one found
    of a name winning (as ``importlib.metadata`` does)."""
    found: dict[str, str] = {}
    for entry in path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for folder in names:
            if folder.endswith(".dist-info"):
                name, dash, version = folder[: -len(".dist-info")].partition("-")
                if dash and version:
                    found.setdefault(normalized_name(name), version)
            elif folder.endswith(".egg-info"):  # a development install's: its version is in PKG-INFO
                name = folder[: -len(".egg-info")].partition("-")[0]
                version = _pkg_info_version(os.path.join(entry or ".", folder))
                if version:
                    found.setdefault(normalized_name(name), version)
    return found


def _pkg_info_version(folder: str) -> str | None:
    """The ``Version:`` of an ``.egg-info`` folder's (or file's) metadata; None when it has none."""
    path = os.path.join(folder, "PKG-INFO") if os.path.isdir(folder) else folder
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():  # the headers end at the first blank line
                    break
    except OSError:
        pass
    return None


def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (any spelling), or None when it is not installed."""
    version = _dist_info_versions(tuple(sys.path)).get(normalized_name(name))
    if version is not None:
        return version
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
