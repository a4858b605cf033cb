"""Module paths of codec-bench before its packages (0.1's flat ``bench.<module>``), and what keeps them working.

:data:`MOVED` maps each old module to its module now. :func:`install` (called by ``import bench``) adds
an importer that answers an old path with the new module, so that plugin files, entry points and
scripts written for the flat layout (``from bench.external import ExternalCodec``) keep working.
:func:`current_class_path` maps a class path recorded in a run's store or ``run.json``
(``bench.metrics.PsnrRgb``) to where that class lives now (``bench.metrics.fidelity.PsnrRgb``), so a
run folder made before the move is recognised as measured by the same code.

The old modules that are packages now (``bench.metrics``, ``bench.store``, ``bench.report``) still have
their public names. Not kept: the text renderers that moved from ``bench.bdtable``, ``bench.matched``
and ``bench.target_rates`` to :mod:`bench.report.tables` under new names (``bd_markdown``,
``bd_latex``, ``paired_markdown``, ``matched_markdown``, ``target_rate_markdown``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

__all__ = ["MOVED", "install", "current_class_path"]

#: old module -> its module now. ``bench.codec`` and ``bench.metric`` did not move (they are the public
#: names of the interfaces); an old path that is now a package (``bench.metrics``, ``bench.store``,
#: ``bench.report``) imports as that package, and the class paths recorded under it are mapped all the same.
MOVED = {
    "bench.registry": "bench.api.codec_registry",
    "bench.plugins": "bench.api.plugins",
    "bench.executor": "bench.api.executor",
    "bench.external": "bench.api.external",
    "bench.task": "bench.api.task",
    "bench.results": "bench.api.records",
    "bench.files": "bench.api.files",
    "bench.processes": "bench.api.processes",
    "bench.options": "bench.api.options",
    "bench.datasets": "bench.data.datasets",
    "bench.images": "bench.data.images",
    "bench.download": "bench.data.download",
    "bench.measure": "bench.executors.measure",
    "bench.local_executor": "bench.executors.local",
    "bench.ray_executor": "bench.executors.ray_driver",
    "bench.ray_node": "bench.executors.ray_node",
    "bench.runner": "bench.run.runner",
    "bench.decode_check": "bench.run.decode_check",
    "bench.score": "bench.run.score",
    "bench.verify": "bench.run.verify",
    "bench.store": "bench.store.sqlite",
    "bench.provenance": "bench.store.provenance",
    "bench.rate_match": "bench.analysis.rate_match",
    "bench.target_rates": "bench.analysis.target_rates",
    "bench.dataset_values": "bench.analysis.dataset_values",
    "bench.curves": "bench.analysis.curves",
    "bench.bdrate": "bench.analysis.bdrate",
    "bench.bdvector": "bench.analysis.bdvector",
    "bench.bootstrap": "bench.analysis.bootstrap",
    "bench.bdtable": "bench.analysis.bd_table",
    "bench.matched": "bench.analysis.matched",
    "bench.anchors": "bench.analysis.anchors",
    "bench.plots": "bench.report.figures",
    "bench.report": "bench.report.writer",
    "bench.metrics": "bench.metrics.fidelity",
    "bench.metrics_colour": "bench.metrics.colour",
    "bench.metrics_structure": "bench.metrics.structure",
    "bench.metrics_perceptual": "bench.metrics.perceptual",
    "bench.metrics_learned": "bench.metrics.learned",
    "bench.metrics_fid": "bench.metrics.fid",
    "bench.metrics_jxl": "bench.metrics.jxl",
    "bench.metrics_vmaf": "bench.metrics.vmaf",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path that no file answers any more and loads it as the module it moved to."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])  # the same module object under both names

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed as its new self


def install() -> None:
    """Answer the old module paths (after every other finder: a path that is a real module or
    package now, such as ``bench.codec``, ``bench.metric`` or ``bench.metrics``, is imported as such)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())


def current_class_path(path: str) -> str:
    """Where the class recorded as ``module.Class`` lives now (the path itself when it did not move)."""
    module, _, name = path.rpartition(".")
    return f"{MOVED[module]}.{name}" if module in MOVED else path
