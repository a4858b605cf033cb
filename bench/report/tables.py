"""The report's tables as text: BD tables (Markdown, LaTeX), the paired test, matched-quality ratios, target rates.

Everything here renders results that :mod:`bench.analysis` computed; nothing is computed again.

* :func:`bd_markdown`, :func:`bd_latex`: one aggregation (``mean-curve`` or ``per-image``) of a BD table
  (:func:`bench.analysis.bd_table.bd_table`'s rows, :data:`bench.analysis.bd_table.BD_COLUMNS`): per
  codec the number of images and, per compared column, BD-rate (%, with its 95% bootstrap interval in
  brackets when the table has one: ``-26.51 [-28.45, -24.13]``), BD-metric (Markdown only; the column's
  unit) and the quality interval integrated over (the column's unit); each distinct note becomes a
  numbered footnote. A table with nothing to compare says so.
* :func:`paired_markdown`: per codec and column, the images won and the Wilcoxon p-value.
* :func:`matched_markdown`: the report section of :func:`bench.analysis.matched.matched_table`.
* :func:`target_rate_markdown`: one table per target of :func:`bench.analysis.target_rates.summary_table`.
* :func:`complexity_markdown`: the complexity table (:func:`bench.analysis.complexity.complexity_table`):
  parameters, kMAC/pixel, times with their network / entropy-coding split and peak memory, per codec.

Numbers: BD-rate with sign and 2 decimals, BD-metric with sign and 3; qualities with 1 decimal in dB,
else 4 significant digits; ratios with 2 decimals; ``n/a`` where a value is not finite.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from bench.analysis.bd_table import column_label, interval_text
from bench.analysis.target_rates import knob_text
from bench.api.metric_registry import metric_columns

if TYPE_CHECKING:
    from bench.analysis.matched import MatchedQuality
    from bench.api.metric import Column
    from bench.api.metric_registry import MetricRegistry

__all__ = [
    "bd_markdown",
    "bd_latex",
    "paired_markdown",
    "matched_markdown",
    "target_rate_markdown",
    "complexity_markdown",
    "overall_markdown",
    "markdown_text",
]

#: Characters that Markdown or the HTML inside it would read as markup, and what they are written as.
_MARKDOWN_ESCAPES = {
    "\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;",
    "&": "&amp;", "\r\n": " ", "\n": " ", "\r": " ",
}  # fmt: skip


def markdown_text(text: object) -> str:
    """``text`` as plain text inside Markdown (a table cell, a sentence): its markup characters (``|``,
    ``*``, backticks, brackets, backslashes) escaped, ``<``, ``>`` and ``&`` as HTML entities, line breaks
    as spaces, so that a codec named ``a|b`` or ``<script>`` stays one cell of one row and is shown as named."""
    return re.sub("|".join(re.escape(c) for c in _MARKDOWN_ESCAPES), lambda m: _MARKDOWN_ESCAPES[m.group(0)], str(text))


# --- BD tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BDCell:
    """One codec and column of a BD table: BD-rate (%) and BD-metric, the footnote marks (``[1,2]``), the
    number of images, the quality interval integrated over and the BD-rate's bootstrap interval."""

    rate: float = math.nan
    value: float = math.nan
    mark: str = ""
    images: float = math.nan
    low: float = math.nan
    high: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan

    def rate_text(self, math_mode: bool = False) -> str:
        """The BD-rate with its interval, ``-26.51 [-29.10, -23.80]`` (``n/a`` without a value; in LaTeX
        math with ``math_mode``)."""
        if not math.isfinite(self.rate):
            return "n/a"
        wrap = (lambda t: f"${t}$") if math_mode else (lambda t: t)
        text = wrap(_signed_text(self.rate, 2))
        if math.isfinite(self.ci_low) and math.isfinite(self.ci_high):
            text += f" [{wrap(f'{self.ci_low:.2f}')}, {wrap(f'{self.ci_high:.2f}')}]"
        return text


@dataclass(frozen=True)
class _BDGrid:
    """One aggregation of a BD table laid out for rendering: its codecs (rows) and columns, in the table's
    order, the cell of each (codec, column), and the distinct notes (footnote ``i`` is ``notes[i - 1]``)."""

    codecs: list[str]
    metrics: list[str]
    cells: dict[tuple[str, str], _BDCell]
    notes: list[str]

    def cell(self, codec: str, metric: str) -> _BDCell:
        return self.cells.get((codec, metric), _BDCell())


def _bd_grid(table: pd.DataFrame, aggregation: str) -> _BDGrid:
    """The rows of ``aggregation`` in ``table`` as a :class:`_BDGrid`, one footnote per distinct note."""
    part = table[table["aggregation"] == aggregation]
    codecs = list(dict.fromkeys(part["codec"]))
    metrics = list(dict.fromkeys(part["metric"]))
    cells, notes = {}, []
    for row in part.itertuples():
        marks = []
        for note in row.note.split("; ") if isinstance(row.note, str) else ():  # one footnote per distinct note
            if note and note not in notes:
                notes.append(note)
            if note:
                marks.append(str(notes.index(note) + 1))
        mark = f"[{','.join(marks)}]" if marks else ""
        cells[row.codec, row.metric] = _BDCell(
            row.bd_rate, row.bd_metric, mark, getattr(row, "images", math.nan),
            getattr(row, "quality_low", math.nan), getattr(row, "quality_high", math.nan),
            getattr(row, "ci_low", math.nan), getattr(row, "ci_high", math.nan),
        )  # fmt: skip
    return _BDGrid(codecs, metrics, cells, notes)


def _image_count_text(grid: _BDGrid, codec: str) -> str:
    """The number of images of a codec's row: one number, or the range when metrics differ."""
    counts = sorted({int(c.images) for m in grid.metrics if math.isfinite((c := grid.cell(codec, m)).images)})
    if not counts:
        return "n/a"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def _signed_text(value: float, digits: int) -> str:
    """``value`` with its sign and ``digits`` decimals (``+1.25``); ``n/a`` when not finite."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}"


def _anchor_label(table: pd.DataFrame, anchor: str | None) -> str | None:
    """The anchor the table's rows name, else ``anchor`` (an empty table names none)."""
    return str(table["anchor"].iloc[0]) if len(table) else anchor


def _bd_caption(table: pd.DataFrame, aggregation: str, anchor: str | None = None,
                quote: Callable[[str], str] = str) -> str:  # fmt: skip
    """What the values of one aggregation are: anchor (as ``quote`` writes it), aggregation, images,
    interpolation, intervals."""
    anchor = quote(str(_anchor_label(table, anchor)))
    method = table["method"].iloc[0] if len(table) else "pchip"
    how = (
        "BD from the curves of the means over the images (CompressAI convention)"
        if aggregation == "mean-curve"
        else "mean over images of the per-image BD values (JVET convention)"
    )
    return (
        f"BD-rate against {anchor}; {how}, over the images both curves measured at every quality; "
        f"{method} interpolation; negative BD-rate = fewer bits{_bootstrap_caption(table)}; interval: the quality "
        "range integrated over"
    )


def _bootstrap_caption(table: pd.DataFrame) -> str:
    """How the bracketed intervals were drawn (empty when the table has none)."""
    if "ci_low" not in table or not np.isfinite(table["ci_low"].to_numpy(float)).any():
        return ""
    resamples, seed = int(table["resamples"].iloc[0]), int(table["seed"].iloc[0])
    return f"; in brackets: 95% bootstrap percentile interval over images ({resamples} resamples, seed {seed})"


def _nothing_to_compare(anchor: str | None) -> str:
    """The sentence of a BD table without rows."""
    if anchor:
        return f"No BD-rates: the report has no curve other than the anchor {anchor}, so there is nothing to compare"
    return "No BD-rates: the report has no curves to compare, so there is nothing to compare"


def bd_markdown(table: pd.DataFrame, aggregation: str = "mean-curve", anchor: str | None = None) -> str:
    """A Markdown table: one row per codec, the number of images, and per quality metric BD-rate (%),
    BD-metric and the quality interval integrated over. ``anchor`` names the anchor of an empty table."""
    grid = _bd_grid(table, aggregation)
    if not grid.codecs:
        label = _anchor_label(table, anchor)
        return f"*{_nothing_to_compare(markdown_text(label) if label else label)}.*\n"
    columns = metric_columns()
    ci = " [95% CI]" if _bootstrap_caption(table) else ""
    header = ["codec", "images"]
    for metric in grid.metrics:
        name, unit = column_label(metric, columns)
        header += [
            f"BD-rate {name} (%){ci}",
            f"BD-{name} ({unit or 'linear'})",
            f"{name} interval{f' ({unit})' if unit else ''}",
        ]
    lines = [
        f"*{_bd_caption(table, aggregation, anchor, markdown_text)}.*",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for codec in grid.codecs:
        row = [markdown_text(codec), _image_count_text(grid, codec)]
        for metric in grid.metrics:
            cell = grid.cell(codec, metric)
            row += [
                cell.rate_text() + cell.mark,
                _signed_text(cell.value, 3),
                interval_text(cell.low, cell.high, column_label(metric, columns)[1]),
            ]
        lines.append("| " + " | ".join(row) + " |")
    if grid.notes:
        lines += [""] + [f"[{i}] {markdown_text(note)}" for i, note in enumerate(grid.notes, 1)]
    return "\n".join(lines) + "\n"


#: LaTeX's special characters and what they are written as.
_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "\r\n": " ",  # a line break would end a % comment line, and the rest would be read as LaTeX
    "\n": " ",
    "\r": " ",
}


def _latex_escaped(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (one pass, so escapes are not escaped again)."""
    return re.sub("|".join(re.escape(c) for c in _LATEX_ESCAPES), lambda m: _LATEX_ESCAPES[m.group(0)], text)


def _latex_nothing_to_compare(anchor: str | None) -> str:
    """A one-cell tabular saying that there is nothing to compare."""
    text = _latex_escaped(_nothing_to_compare(anchor))
    return "\n".join([f"% {text}.", "% Generated by codec-bench (bench report).", "\\begin{tabular}{l}", "\\toprule",
                      f"{text} \\\\", "\\bottomrule", "\\end{tabular}"]) + "\n"  # fmt: skip


def bd_latex(table: pd.DataFrame, aggregation: str = "mean-curve", anchor: str | None = None) -> str:
    """A booktabs ``tabular`` ready to ``\\input`` (needs ``\\usepackage{booktabs}``): per codec the number
    of images and, per quality metric, the BD-rate (%) and the quality interval integrated over. A table
    with nothing to compare is a one-cell tabular saying so."""
    grid = _bd_grid(table, aggregation)
    if not grid.codecs:
        return _latex_nothing_to_compare(_anchor_label(table, anchor))
    columns = metric_columns()
    ci = " [95\\% CI]" if _bootstrap_caption(table) else ""
    header = ["Codec", "Images"]
    for metric in grid.metrics:
        name, unit = (_latex_escaped(text) for text in column_label(metric, columns))
        header += [f"BD-rate {name} (\\%){ci}", f"{name} interval" + (f" ({unit})" if unit else "")]
    lines = [
        f"% {_latex_escaped(_bd_caption(table, aggregation, anchor))}.",
        "% Generated by codec-bench (bench report); requires \\usepackage{booktabs}.",
        "\\begin{tabular}{lr" + "rc" * len(grid.metrics) + "}",
        "\\toprule",
        " & ".join(header) + " \\\\",
        "\\midrule",
    ]
    for codec in grid.codecs:
        values = [_latex_escaped(codec), _latex_escaped(_image_count_text(grid, codec))]
        for metric in grid.metrics:
            cell = grid.cell(codec, metric)
            values.append(
                cell.rate_text(math_mode=True) + (f"\\textsuperscript{{{cell.mark[1:-1]}}}" if cell.mark else "")
            )
            values.append(interval_text(cell.low, cell.high, column_label(metric, columns)[1], dash="--"))
        lines.append(" & ".join(values) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"% [{i}] {_latex_escaped(note)}" for i, note in enumerate(grid.notes, 1)]
    return "\n".join(lines) + "\n"


# --- the paired test ---------------------------------------------------------------------------


def _p_value_text(value: float) -> str:
    """A p-value with 2 significant digits (``0.031``), in scientific notation below 0.001 (``2.4e-05``)."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def paired_markdown(table: pd.DataFrame) -> str:
    """A Markdown table of the paired test: per codec and metric, the images on which the codec's
    per-image BD-rate is negative and the Wilcoxon signed-rank p-value (:mod:`bench.analysis.bootstrap`);
    empty when no row has per-image BD-rates."""
    part = table[table["aggregation"] == "per-image"] if "wins" in table else table.iloc[0:0]
    part = part[part["wins"].fillna("").astype(str) != ""]
    if part.empty:
        return ""
    codecs = list(dict.fromkeys(part["codec"]))
    metrics = list(dict.fromkeys(part["metric"]))
    columns = metric_columns()
    cells = {(row.codec, row.metric): row for row in part.itertuples()}
    lines = [
        "| codec | " + " | ".join(f"{column_label(m, columns)[0]}: wins (p)" for m in metrics) + " |",
        "|" + " --- |" * (len(metrics) + 1),
    ]
    for codec in codecs:
        row = [markdown_text(codec)]
        for metric in metrics:
            cell = cells.get((codec, metric))
            row.append("n/a" if cell is None else f"{cell.wins} (p = {_p_value_text(cell.p_value)})")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


# --- matched-quality size ratios ---------------------------------------------------------------


def _ratio_text(value: float) -> str:
    """A size ratio with 2 decimals; ``n/a`` when not finite."""
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def _matched_table_lines(part: pd.DataFrame, anchor: str, label: Callable[[str], str]) -> list[str]:
    """The caption and table of the ``all`` rows ``part`` (``label``: a column's short name)."""
    lines = [
        f"*Size of each codec's files at the anchor's ({markdown_text(anchor)}'s) measured quality, as a fraction of "
        "the anchor's, per image: PCHIP of log(bpp) against quality on the codec's own curve of that image, "
        "no extrapolation; over the images both curves measured at every quality; below 1: smaller files.*",
        "",
        "| codec | metric | geometric mean ratio | 10th–90th percentile | ratios (left out) | smaller on |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in part.itertuples():
        lines.append(f"| {markdown_text(row.codec)} | {label(row.metric)} | {_ratio_text(row.geomean_ratio)} | "
                     f"{_ratio_text(row.p10_ratio)}–{_ratio_text(row.p90_ratio)} | {row.ratios} ({row.left_out}) | "
                     f"{row.smaller_on}/{row.images} images |")  # fmt: skip
    return lines


def _matched_sentence(row, label: str, anchor: str) -> str:
    """One codec's ``all`` row of one column as a sentence (Markdown: names and notes escaped)."""
    row = row._replace(
        codec=markdown_text(row.codec), note=markdown_text(row.note) if isinstance(row.note, str) else ""
    )
    anchor = markdown_text(anchor)
    if not math.isfinite(row.geomean_ratio):
        return f"At equal {label}, no ratio of {row.codec} against {anchor}" + (f" ({row.note})." if row.note else ".")
    text = (
        f"At equal {label}, {row.codec} files are {row.geomean_ratio:.2f}x the size of {anchor}'s (geometric mean "
        f"of {row.ratios} ratios over {row.images} images; 10th-90th percentile {row.p10_ratio:.2f}-"
        f"{row.p90_ratio:.2f}); smaller on {row.smaller_on} of {row.images} images."
    )
    if row.left_out:
        text += (f" {row.left_out} of {row.ratios + row.left_out} anchor points left out: no {row.codec} bpp at "
                 "their quality on their image (matched_quality.csv's note says why).")  # fmt: skip
    return text


def matched_markdown(result: MatchedQuality, columns: Sequence[Column]) -> str:
    """The report section's body: a table of the ``all`` rows, one sentence per codec for the first
    column of ``columns``, and which published curves were skipped."""
    by_name = {c.name: c for c in columns}

    def label(metric: str) -> str:
        return by_name[metric].label if metric in by_name else metric

    part = result.table[result.table["setting"] == "all"]
    lines = []
    if len(part):
        lines += [*_matched_table_lines(part, result.anchor, label), ""]
        first = columns[0].name if columns else str(part["metric"].iloc[0])
        for row in part[part["metric"] == first].itertuples():
            lines.append(_matched_sentence(row, label(first), result.anchor))
        lines.append("")
    elif result.anchor_published:
        lines += [f"*No matched-quality ratios: the anchor {markdown_text(result.anchor)} is a published curve, without per-image "
                  "data.*", ""]  # fmt: skip
    elif not result.skipped:
        lines += [f"*No matched-quality ratios: the report has no run curve other than the anchor "
                  f"{markdown_text(result.anchor)}.*",
                  ""]  # fmt: skip
    if result.skipped and not result.anchor_published:
        skipped = ", ".join(map(markdown_text, result.skipped))
        lines += [f"Published curves have no per-image data and are not compared here: {skipped}.",
                  ""]  # fmt: skip
    return "\n".join(lines)


# --- target rates ------------------------------------------------------------------------------


def _metric_headers(metrics: Sequence[str], registry: MetricRegistry | None) -> list[tuple[str, str, str]]:
    """(name, header, number format) of each metric's column in the target-rate tables."""
    out = []
    for name in metrics:
        if registry is not None and name in registry:
            cls = registry.get(name)
            out.append((name, cls.heading(), cls.number_format()))
        else:  # a metric not found here (a plugin's): its name, 4 decimals
            out.append((name, name, ".4f"))
    return out


def _knob_range_text(row: pd.Series) -> str:
    """The knob values chosen on the reached images (``30–42``, one value when they agree; empty for none)."""
    if not math.isfinite(row["knob_min"]):
        return ""
    lo, hi = knob_text(row["knob_min"]), knob_text(row["knob_max"])
    return lo if lo == hi else f"{lo}–{hi}"


def _not_reached_text(counts: Mapping[str, int]) -> str:
    """How many images ended in each status other than reached (``above 2, missed 1``)."""
    return ", ".join(f"{status} {counts[status]}" for status in ("above", "below", "missed", "incomplete")
                     if counts.get(status))  # fmt: skip


def target_rate_markdown(summary: pd.DataFrame, counts: Mapping[tuple[str, float], Mapping[str, int]],
                         metrics: Sequence[str], registry: MetricRegistry | None = None,
                         heading: str = "###") -> list[str]:  # fmt: skip
    """The Markdown lines of one table per target of ``summary`` (:func:`bench.analysis.target_rates.summary_table`):
    codecs as rows; reached / total images, mean achieved bpp, the knob values chosen, the mean of each
    metric over the reached images, and how many images were not reached and why (``counts``:
    :func:`bench.analysis.target_rates.status_counts`)."""
    columns = _metric_headers(metrics, registry)
    lines: list[str] = []
    for target, group in summary.groupby("target_bpp", sort=True):
        tolerance = float(group["tolerance"].iloc[0])
        lines += [f"{heading} {target:g} bpp (+-{100 * tolerance:g}%)", ""]
        lines.append("| codec | reached | bpp | knob | " + " | ".join(h for _, h, _ in columns) + " | not reached |")
        lines.append("| --- | --- | --- | --- | " + " | ".join("---" for _ in columns) + " | --- |")
        for _, row in group.iterrows():
            values = [f"{row[name]:{fmt}}" if math.isfinite(row[name]) else "–" for name, _, fmt in columns]
            bpp = f"{row['bpp']:.4f}" if math.isfinite(row["bpp"]) else "–"
            not_reached = _not_reached_text(counts.get((row["codec"], row["target_bpp"]), {}))
            lines.append(f"| {markdown_text(row['codec'])} | {row['images_reached']}/{row['images']} | {bpp} | "
                         f"{_knob_range_text(row)} | " + " | ".join(values) + f" | {not_reached} |")  # fmt: skip
        lines.append("")
    return lines


def _finite(value: object) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(float(value))


def _count_text(value: object) -> str:
    """A parameter count: ``892,867`` (n/a when not finite)."""
    return f"{int(round(float(value))):,}" if _finite(value) else "n/a"


def _ranged_text(row: Mapping, column: str, digits: int) -> str:
    """``mean`` or, when the images differ, ``mean [min, max]`` of ``column`` (``n/a`` when not finite)."""
    mean, low, high = row[column], row[f"{column}_min"], row[f"{column}_max"]
    if not _finite(mean):
        return "n/a"
    text = f"{mean:.{digits}f}"
    if _finite(low) and _finite(high) and f"{low:.{digits}f}" != f"{high:.{digits}f}":
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _split_text(row: Mapping, what: str) -> str:
    """``network / coding`` seconds of a learned codec's call (``n/a`` for other codecs)."""
    network, coding = row[f"{what}_network_s"], row[f"{what}_coding_s"]
    return f"{network:.3f} / {coding:.3f}" if _finite(network) and _finite(coding) else "n/a"


def _memory_text(row: Mapping, what: str) -> str:
    """Peak memory of a call in MiB: the process's with what the call added (``412 (+280)``), or the
    program's (``17.6 (program)``; ``≤ 10.5 (program)`` when not above the helper's floor)."""
    peak = row[f"{what}_peak_mb"]
    if not _finite(peak):
        return "n/a"
    if row["memory_of"] == "program":
        floor = row["program_floor_mb"]
        if _finite(floor) and peak <= floor:
            return f"≤ {floor:.1f} (program)"
        return f"{peak:.1f} (program)"
    added = row[f"{what}_added_mb"]
    return f"{peak:.0f} (+{added:.0f})" if _finite(added) else f"{peak:.0f}"


def complexity_markdown(table: pd.DataFrame) -> str:
    """The complexity table (:func:`bench.analysis.complexity.complexity_table`) as Markdown: one row per
    codec at its middle quality; ``n/a`` where a codec has no such value (MACs of traditional codecs)."""
    if table.empty:
        return "No run curve: no complexity to show.\n"
    lines = [
        "| codec | device | quality | images | parameters | enc kMAC/px | dec kMAC/px | encode [s] | decode [s] "
        "| enc network / coding [s] | dec network / coding [s] | enc peak [MiB] | dec peak [MiB] |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in table.to_dict("records"):
        cells = [
            markdown_text(row["codec"]),
            markdown_text(row["device"]),
            f"{row['quality']:g}",
            str(row["images"]),
            _count_text(row["params"]),
            _ranged_text(row, "enc_kmac_px", 2),
            _ranged_text(row, "dec_kmac_px", 2),
            _ranged_text(row, "encode_s", 4),
            _ranged_text(row, "decode_s", 4),
            _split_text(row, "encode"),
            _split_text(row, "decode"),
            _memory_text(row, "encode"),
            _memory_text(row, "decode"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def overall_markdown(table: pd.DataFrame) -> str:
    """Overall BD-rates (:func:`bench.analysis.overall.overall_table`'s rows of one preset) as Markdown:
    one row per codec, the mean-curve and per-image means, and why one is n/a."""
    lines = ["| codec | mean-curve BD-rate [%] | per-image BD-rate [%] | note |", "| --- | ---: | ---: | --- |"]
    for codec, group in table.groupby("codec", sort=False):
        by = {row.aggregation: row for row in group.itertuples()}
        cells = [_signed_text(by[a].bd_rate, 2) if a in by else "n/a" for a in ("mean-curve", "per-image")]
        notes = "; ".join(sorted({row.note for row in group.itertuples() if row.note}))
        lines.append(f"| {markdown_text(codec)} | {cells[0]} | {cells[1]} | {markdown_text(notes)} |")
    return "\n".join(lines) + "\n"
