"""Reports over runs of several datasets: one full report per dataset, and a summary side by side.

Curves of different datasets are never compared with each other (their images differ). For runs of
more than one dataset (:func:`bench.report.writer.group_by_dataset`: the ``dataset`` name each
``run.json`` records, runs that share an image being one dataset), :func:`make_dataset_reports`
writes into the summary folder (``--out``, else ``<folder of the first run>/report-<d1>+<d2>...``):

* ``<dataset>/``: the report of that dataset's runs (:func:`bench.report.writer.make_report`: its
  BD tables, RD and speed figures, ``report.md``), with the published anchors given by name
  (``--reference vtm,bpg``) taken from that dataset's published files (:mod:`bench.analysis.anchors`;
  a dataset without them gets a note, not an error);
* ``summary.csv`` (``dataset, images, codec, anchor, metric, bd_rate, ci_low, ci_high``: the
  mean-curve BD-rates of each dataset's table) and ``report.md``: per compared metric, one table with
  a row per codec and a column per dataset (BD-rate in % against the anchor, over that dataset's
  images), and each dataset's RD figures, linked to its report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from bench import __version__
from bench.analysis.anchors import anchor_datasets, anchor_names
from bench.analysis.bd_table import column_label
from bench.api.files import atomic_write_text
from bench.api.metric_registry import metric_columns
from bench.report.tables import markdown_text
from bench.report.writer import (
    ReportConfig,
    ReportError,
    ReportResult,
    group_by_dataset,
    make_report,
    published_names,
)
from bench.store.provenance import timestamp

__all__ = ["DatasetReports", "group_by_dataset", "make_dataset_reports", "summary_folder"]


@dataclass
class DatasetReports:
    """What :func:`make_dataset_reports` wrote: the summary folder, each dataset's report, the summary
    table, and notes and warnings (each prefixed with its dataset)."""

    out: Path
    reports: dict[str, ReportResult]
    summary: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """The anchors of the datasets' reports (one name when they agree)."""
        return ", ".join(dict.fromkeys(r.anchor for r in self.reports.values()))

    @property
    def table(self) -> pd.DataFrame:
        return self.summary


def summary_folder(config: ReportConfig, datasets: Sequence[str]) -> Path:
    """``--out``, else ``report-<d1>+<d2>...`` beside the first run folder."""
    if config.out:
        return Path(config.out)
    return Path(config.runs[0]).parent / f"report-{'+'.join(datasets)}"


def _references_for(config: ReportConfig, dataset: str) -> tuple[tuple[Path, ...], list[str]]:
    """The ``--reference`` items of ``dataset``: published anchors by name only (a results file covers one
    dataset, which the summary cannot know), those it has; and a note for those it has not."""
    kept, notes = [], []
    for item in config.references:
        names = published_names(str(item)) if not Path(item).exists() else []
        if not names:
            raise ReportError(f"--reference {item}: with runs of several datasets give published anchors by name "
                              "(picked per dataset: `bench anchors`), or report each dataset on its own with its "
                              "results file")  # fmt: skip
        have = set(anchor_names(dataset))
        known = [n for n in names if n in have]
        missing = [n for n in names if n not in have]
        if known:
            kept.append(Path(",".join(known)))
        if missing:
            where = ", ".join(anchor_datasets())
            notes.append(f"{dataset}: no published {', '.join(missing)} for this dataset (CompressAI publishes "
                         f"results for {where})")  # fmt: skip
    return tuple(kept), notes


def _summary_rows(dataset: str, result: ReportResult) -> list[dict]:
    table = result.table
    if table.empty:
        return []
    rows = table[table["aggregation"] == "mean-curve"]
    return [
        {"dataset": dataset, "images": row.get("images"), "codec": row["codec"], "anchor": row["anchor"],
         "metric": row["metric"], "bd_rate": row["bd_rate"], "ci_low": row.get("ci_low"), "ci_high": row.get("ci_high")}
        for row in rows.to_dict("records")
    ]  # fmt: skip


def _cell(rows: pd.DataFrame) -> str:
    if rows.empty or pd.isna(rows.iloc[0]["bd_rate"]):
        return "n/a" if not rows.empty else "–"
    row = rows.iloc[0]
    text = f"{row['bd_rate']:+.2f}"
    if pd.notna(row.get("ci_low")) and pd.notna(row.get("ci_high")):
        text += f" [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"
    images = row.get("images")
    return text + (f" ({int(images)} im.)" if pd.notna(images) else "")


def summary_markdown(summary: pd.DataFrame, datasets: Sequence[str]) -> list[str]:
    """Per metric, a table of codecs (rows) by datasets (columns): mean-curve BD-rate (%) [95% CI] (images)."""
    if summary.empty:
        return ["*No BD-rates: no dataset has a curve other than its anchor.*", ""]
    lines, columns = [], metric_columns()
    for metric in dict.fromkeys(summary["metric"]):
        name, _ = column_label(metric, columns)
        of_metric = summary[summary["metric"] == metric]
        anchors = ", ".join(sorted(set(map(str, of_metric["anchor"]))))
        lines += [f"### BD-rate {markdown_text(name)} (%), against {markdown_text(anchors)}", "",
                  "| codec | " + " | ".join(markdown_text(d) for d in datasets) + " |",
                  "|" + " --- |" * (len(datasets) + 1)]  # fmt: skip
        for codec in dict.fromkeys(of_metric["codec"]):
            cells = [_cell(of_metric[(of_metric["codec"] == codec) & (of_metric["dataset"] == d)]) for d in datasets]
            lines.append(f"| {markdown_text(codec)} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def make_dataset_reports(config: ReportConfig, groups: dict[str, list[Path]] | None = None) -> DatasetReports:
    """One report per dataset of ``config.runs`` (``groups``: their :func:`group_by_dataset`, when the caller
    has it) and the summary beside them (module docstring)."""
    groups = groups or group_by_dataset(config.runs)
    out = summary_folder(config, list(groups))
    reports, rows, notes, warnings, files = {}, [], [], [], []
    for dataset, runs in groups.items():
        references, missing = _references_for(config, dataset)
        notes += missing
        result = make_report(replace(config, runs=tuple(runs), references=references, out=out / dataset))
        reports[dataset] = result
        rows += _summary_rows(dataset, result)
        notes += [f"{dataset}: {note}" for note in result.notes]
        warnings += [f"{dataset}: {warning}" for warning in result.warnings]
        files += result.files
    summary = pd.DataFrame(rows, columns=["dataset", "images", "codec", "anchor", "metric", "bd_rate", "ci_low",
                                          "ci_high"])  # fmt: skip
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.10g"))
    page = _summary_page(config, groups, reports, summary, notes, warnings)
    atomic_write_text(out / "report.md", "\n".join(page))
    files += [out / "summary.csv", out / "report.md"]
    return DatasetReports(out, reports, summary, files, notes, warnings)


def _summary_page(config: ReportConfig, groups: dict[str, list[Path]], reports: dict[str, ReportResult],
                  summary: pd.DataFrame, notes: list[str], warnings: list[str]) -> list[str]:  # fmt: skip
    datasets = list(groups)
    page = [
        "# codec-bench report: several datasets",
        "",
        f"Generated {timestamp('seconds')} by codec-bench {__version__}. One report per dataset (curves of "
        "different datasets are never compared: their images differ); below, each codec's mean-curve BD-rate "
        "on each dataset side by side, with its 95% bootstrap interval and the number of images it is over.",
        "",
        *[line for text in warnings for line in (f"**Warning:** {markdown_text(text)}", "")],
        *[line for text in notes for line in (f"**Note:** {markdown_text(text)}", "")],
        "| dataset | runs | anchor | report |",
        "| --- | --- | --- | --- |",
        *[
            f"| {markdown_text(d)} | {', '.join(markdown_text(p.name) for p in groups[d])} | "
            f"{markdown_text(reports[d].anchor)} | [{d}/report.md]({d}/report.md) |"
            for d in datasets
        ],  # fmt: skip
        "",
        "## BD-rate per dataset",
        "",
        *summary_markdown(summary, datasets),
        "File: [summary.csv](summary.csv).",
        "",
        "## RD figures per dataset",
        "",
    ]
    for dataset, result in reports.items():
        for path in result.files:
            if path.name.startswith("rd_") and path.suffix == ".png":
                page += [
                    f"### {markdown_text(dataset)}: {path.stem}",
                    "",
                    f"![{dataset} {path.stem}]({dataset}/{path.name})",
                    "",
                ]
    return page
