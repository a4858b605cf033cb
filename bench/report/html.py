"""The report's interactive page: ``index.html``, which opens from disk with no network.

``bench report`` writes ``index.html`` beside ``report.md`` and copies ``plotly.min.js`` from the installed
``plotly`` package next to it (no CDN: the page works over ``file://`` and offline). The page's own
script (``bench/report/assets/page.js``) and style are inlined; everything it shows is one JSON document
embedded in the page (``<script id="report-data" type="application/json">``), computed here from what
the report computed (:func:`page_data`):

* ``columns``: the compared columns (name, label, axis label, unit, orientation);
* ``curves``: each curve's label, kind, style (the static figures' colour and marker), device, and its
  points (quality, bpp, images, each compared column, encode and decode seconds);
* ``bd``: for each possible anchor (every run curve, and the report's anchor), the rows of the BD table
  against it (codec, metric, aggregation, BD-rate, BD-metric, images, note and, for the report's anchor,
  the 95% bootstrap interval; the other anchors' tables are computed without resampling, which the page
  says), so the page switches anchors without running the report again;
* ``complexity``: the complexity table's rows (:mod:`bench.analysis.complexity`);
* ``per_image``: each image's BD-rate of every codec against the report's anchor, per compared column
  (:func:`bench.analysis.bd_table.per_image_rates`; their means are the per-image aggregation).

The page draws the RD curves of every compared column (hover: codec, quality knob, bpp, value, images;
click a legend entry to hide a codec; linear or log rate axis), the BD table (sortable by any column,
its anchor and aggregation chosen in the page), BD-rate against decoder kMAC/pixel and against decode
time, and encode/decode time against rate; clicking a codec's row of the BD table lists its per-image
BD-rates against the report's anchor (sortable: where it wins and where it loses). The chosen anchor,
aggregation, rate axis and codec are kept in the page's URL (``#anchor=...&agg=...&x=log&codec=...``), so
a view can be shared.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from bench.analysis.curves import Curve
from bench.api.files import atomic_write_text
from bench.api.metric import Column
from bench.report.styles import MAX_DRAWN_POINTS, Style, drawn_points

__all__ = ["PAGE_FILE", "PLOTLY_FILE", "page_data", "per_image_document", "write_page"]

PAGE_FILE = "index.html"
PLOTLY_FILE = "plotly.min.js"
#: The BD table columns the page shows, in this order.
_BD_FIELDS = ("codec", "metric", "aggregation", "bd_rate", "bd_metric", "ci_low", "ci_high", "images", "note")
#: matplotlib marker -> plotly symbol (the static figures' markers, :data:`bench.report.styles._MARKERS`).
_SYMBOLS = {"o": "circle", "s": "square", "^": "triangle-up", "D": "diamond", "v": "triangle-down", "P": "cross",
            "X": "x", "<": "triangle-left", ">": "triangle-right", "h": "hexagon", "p": "pentagon", "*": "star"}  # fmt: skip
_DASHES = {"-": "solid", "--": "dash", ":": "dot"}


def _number(value: Any) -> float | None:
    """A JSON number, or None for NaN, infinities and missing values (JSON has none of them)."""
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _points(curve: Curve, columns: Sequence[Column]) -> list[dict[str, Any]]:
    """The curve's points (a curve's are sorted by bpp), a dense curve's thinned as the figures draw it
    (:func:`bench.report.styles.drawn_points`, along its rate and its compared columns without gaps)."""
    names = ["quality", "bpp", "images", *(c.name for c in columns), "encode_s", "decode_s"]
    points = curve.points
    if len(points) > MAX_DRAWN_POINTS:
        axes = [points[name].to_numpy(float) for name in ("bpp", *(c.name for c in columns)) if name in points]
        finite = [a for a in axes if np.isfinite(a).all()] or [np.arange(len(points), dtype=float)]
        points = points.iloc[drawn_points(*finite)]
    return [{name: _number(row.get(name)) for name in names} for row in points.to_dict("records")]


def _curve(curve: Curve, columns: Sequence[Column], style: Style) -> dict[str, Any]:
    return {
        "label": curve.label,
        "kind": curve.kind,
        "device": curve.device,
        "color": style.color,
        "symbol": _SYMBOLS.get(style.marker, "circle"),
        "dash": _DASHES.get(style.linestyle, "solid"),
        "hollow": style.hollow,
        "points": _points(curve, columns),
    }


def _bd_rows(table: pd.DataFrame, intervals: bool) -> list[dict[str, Any]]:
    rows = []
    for row in table.to_dict("records"):
        found = {name: row.get(name) for name in _BD_FIELDS}
        for name in ("bd_rate", "bd_metric", "ci_low", "ci_high", "images"):
            found[name] = _number(found[name]) if intervals or not name.startswith("ci_") else None
        found["note"] = "" if found["note"] is None or (isinstance(found["note"], float)) else str(found["note"])
        rows.append(found)
    return rows


def page_data(
    curves: Sequence[Curve],
    columns: Sequence[Column],
    styles: dict[str, Style],
    anchor: str,
    tables: dict[str, pd.DataFrame],
    complexity: pd.DataFrame,
    title: str,
) -> dict[str, Any]:
    """The page's JSON document (the module docstring). ``tables``: anchor label -> its BD table (the
    report's anchor's with bootstrap intervals)."""
    return {
        "title": title,
        "anchor": anchor,
        "columns": [
            {
                "name": c.name,
                "label": c.label,
                "axis_label": c.axis_label,
                "unit": c.unit,
                "higher_is_better": c.higher_is_better,
            }
            for c in columns
        ],  # fmt: skip
        "curves": [_curve(c, columns, styles[c.label]) for c in curves],
        "bd": {label: _bd_rows(table, intervals=label == anchor) for label, table in tables.items()},
        "complexity": [
            {k: (_number(v) if not isinstance(v, str) else v) for k, v in row.items()}
            for row in complexity.to_dict("records")
        ],  # fmt: skip
    }


def per_image_document(rates: pd.DataFrame) -> dict[str, dict[str, list]]:
    """Per-image BD-rates against the report's anchor (:func:`bench.analysis.bd_table.per_image_rates`) as
    the page's ``per_image``: codec -> metric -> ``[[image, BD-rate or None], ...]``."""
    found: dict[str, dict[str, list]] = {}
    for row in rates.itertuples():
        found.setdefault(str(row.codec), {}).setdefault(str(row.metric), []).append(
            [str(row.image), _number(row.bd_rate)]
        )
    return found


def _asset(name: str) -> str:
    return resources.files("bench.report").joinpath("assets", name).read_text(encoding="utf-8")


def _plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"plotly {plotly.__version__} has no bundled {PLOTLY_FILE} at {path}")
    return path


def write_page(out: Path, data: dict[str, Any]) -> list[Path]:
    """Write ``out/index.html`` with ``data`` embedded, and ``out/plotly.min.js``; return both paths."""
    plotly_js = out / PLOTLY_FILE
    shutil.copyfile(_plotly_js(), plotly_js)
    document = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    page = _asset("page.html").format(
        title=html.escape(data["title"]),
        plotly=PLOTLY_FILE,
        style=_asset("page.css"),
        data=document,
        script=_asset("page.js"),
        viewer=_asset("viewer.js"),
    )
    atomic_write_text(out / PAGE_FILE, page)
    return [out / PAGE_FILE, plotly_js]
