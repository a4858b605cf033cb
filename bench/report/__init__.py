"""Reports: ``bench report`` (:mod:`bench.report.writer`), its tables as text (:mod:`bench.report.tables`)
and its figures (:mod:`bench.report.figures`).

The names the flat 0.1 module ``bench.report`` had (``make_report``, ``ReportConfig``, ...) are still
names of this package, imported when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: the public names of 0.1's ``bench.report``, all in :mod:`bench.report.writer` now
_OLD_NAMES = ("ReportConfig", "ReportResult", "ReportError", "make_report", "load_curves", "pick_anchor")


def __getattr__(name: str) -> Any:
    if name in _OLD_NAMES:
        return getattr(importlib.import_module("bench.report.writer"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
