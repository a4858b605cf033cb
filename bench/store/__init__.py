"""The store of a run: the crash-safe SQLite file (:mod:`bench.store.sqlite`), its CSV exports
(:mod:`bench.store.export`), and what produced the results (:mod:`bench.store.provenance`).

The names the flat 0.1 module ``bench.store`` had (``Store``, ``write_csvs``, ...) are still names of
this package, imported when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: the public names of 0.1's ``bench.store`` -> the module that has them now
_OLD_NAMES = {
    **dict.fromkeys(("Store", "StoreConflict", "StoreError"), "bench.store.sqlite"),
    **dict.fromkeys(
        ("RECORD_COLUMNS", "SUMMARY_COLUMNS", "record_columns", "summary_columns", "write_csvs", "summarise"),
        "bench.store.export",
    ),  # fmt: skip
    **dict.fromkeys(("Record", "Failure", "format_quality"), "bench.api.records"),
}


def __getattr__(name: str) -> Any:
    if name in _OLD_NAMES:
        return getattr(importlib.import_module(_OLD_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
