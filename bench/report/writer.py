"""``bench report``: BD-rate tables, RD and speed figures and a report page from runs and published curves.

Writes into the report folder:

* ``bd_rate.csv`` (``codec, anchor, metric, method, bd_rate, bd_metric, overlap, note, aggregation,
  images, quality_low, quality_high, ci_low, ci_high, ci_metric_low, ci_metric_high, p_value, wins,
  rate_low, rate_high, resamples, seed``), ``bd_rate.md`` and ``bd_rate.tex`` (booktabs; the mean-curve
  table, then the per-image one), each value over the images both curves of its pair measured at every
  quality, with the number of images, the quality interval it integrated over and its 95% bootstrap
  interval (``--bootstrap N`` resamples from ``--seed S``; :mod:`bench.analysis.bd_table`, :mod:`bench.analysis.bootstrap`);
  a report with nothing to compare says so in each; ``--quality-range`` / ``--rate-range`` integrate
  BD-rate / BD-metric over a fixed range instead of the overlap;
* ``matched_quality.csv`` (``codec, anchor, metric, setting, geomean_ratio, p10_ratio, p90_ratio, ratios,
  left_out, images, smaller_on, note``; :mod:`bench.analysis.matched`): matched-quality size ratios, per codec and
  compared column, over the images of its BD pair: for each image and each anchor quality setting on it,
  the codec's bpp at the anchor's measured quality (PCHIP of log bpp against quality on the codec's own
  curve of that image, no extrapolation) divided by the anchor's bpp (below 1: smaller files).
  ``setting``: the anchor's quality setting the row covers, or ``all`` (pooled over images and settings);
  ``geomean_ratio``: geometric mean of the ratios; ``p10_ratio``, ``p90_ratio``: their 10th and 90th
  percentiles; ``ratios``: how many; ``left_out``: anchor points without a ratio (quality outside the
  codec's range on that image, or a curve that cannot be interpolated; ``note`` says which); ``images``:
  images with a ratio; ``smaller_on``: images whose geometric-mean ratio is below 1. Published curves
  (no per-image data) are skipped;
* ``rd_<column>`` figures for each compared metric column (``rd_psnr_rgb``, ``rd_psnr_y``,
  ``rd_ms_ssim_db`` for the default metrics: :func:`bench.analysis.bd_table.compared_columns`) and ``speed``, as
  PNG, PDF and SVG, and with ``per_image=True`` ``per_image_<column>`` small multiples (none with
  ``figures=False``, ``--no-figures``, as ``bench run`` makes its report unless ``--figures``); ``metrics``
  (``--metric``) restricts the tables and these figures to the metrics named;
* ``bd_overall.csv`` (:data:`bench.analysis.overall.OVERALL_COLUMNS`), when the compared metrics cover a
  preset's overall set (``--metrics jpeg-ai``): each codec's mean BD-rate over those metrics;
* ``complexity.csv`` (:data:`bench.analysis.complexity.COMPLEXITY_COLUMNS`) and the ``complexity``
  figure: parameters, kMAC/pixel, times (with the network / entropy-coding split) and peak memory of
  each run's codecs at their middle quality, and BD-rate (the first compared column) against decoder
  kMAC/pixel and against decode time;
* ``index.html`` and ``plotly.min.js`` (:mod:`bench.report.html`): the interactive page, which opens from
  disk: RD curves with hover and toggles, the BD table with its anchor and aggregation switchable,
  per-image BD-rates, the complexity and speed figures, and the viewer, whose decoded images are in
  ``viewer/*.js`` (:mod:`bench.report.viewer`: the run's own pixels, ``--viewer-images``, ``--viewer-bpp``);
* ``compressai/<label>.json``: each run curve in CompressAI's results schema;
* ``report.md``: the tables (with how their intervals were drawn), the paired test across images (wins and
  Wilcoxon p-values), the matched-quality size ratios, the figures and where every curve came from.

RD figures draw each curve as measured (means over the images with every metric defined at each
point, :mod:`bench.analysis.curves`); their captions give each curve's number of images when curves differ.
The speed figure uses the RD figures' rate range and names the device(s) once. The anchor
(``--anchor``) is a curve's label, codec name or, for a published curve, its file name without
``.json``, in any case; an unknown name gets the closest names as suggestions.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from bench import __version__
from bench.analysis.anchors import DEFAULT_DATASET, AnchorError, anchor_curve, catalogue
from bench.analysis.bd_table import AGGREGATIONS, DEFAULT_RESAMPLES, bd_table, compared_columns, per_image_rates
from bench.analysis.bdrate import METHODS
from bench.analysis.complexity import bd_rates_of, complexity_table
from bench.analysis.curves import (
    Curve,
    CurveError,
    curves_from_compressai,
    curves_from_run,
    load_run_records,
    pair_by_content,
    run_metadata,
    run_metrics,
    to_compressai,
    unique_labels,
)
from bench.analysis.matched import MatchedQuality, matched_table
from bench.analysis.overall import overall_presets, overall_table
from bench.analysis.rate_match import RateMatching, target_list
from bench.analysis.target_rates import (
    per_image_table,
    rate_matching_of,
    status_counts,
    summary_table,
    unreached_text,
    write_target_csvs,
)
from bench.api.files import atomic_write_text
from bench.api.metric import Column
from bench.api.metric_registry import discover_metrics
from bench.api.options import comma_list, float_or_none, non_negative_int, number_range, option
from bench.api.records import no_defined_image_text, undefined_metrics
from bench.report.html import page_data, per_image_document, write_page
from bench.report.styles import FORMATS, WIDTHS, Style, assign_styles
from bench.report.tables import (
    bd_latex,
    bd_markdown,
    complexity_markdown,
    markdown_text,
    matched_markdown,
    overall_markdown,
    paired_markdown,
    target_rate_markdown,
)
from bench.report.viewer import DEFAULT_BPPS, DEFAULT_IMAGES, VIEWER_DIR, ViewerChoice, build_viewer, viewer_images
from bench.store.provenance import timestamp

#: What the paired-test table of the report page shows.
_PAIRED_TEST_NOTE = (
    "Per codec and metric: on how many images its per-image BD-rate against the anchor is negative (it needs "
    "fewer bits), and the p-value of the two-sided Wilcoxon signed-rank test of the per-image BD-rates "
    "(`p_value` and `wins` in bd_rate.csv; p = 1 when every per-image BD-rate is exactly 0)."
)

__all__ = ["ReportConfig", "ReportResult", "ReportError", "make_report", "load_curves", "pick_anchor", "report_folder"]


class ReportError(ValueError):
    """Inputs that cannot make a report (no curves, unknown anchor, unreadable files)."""


def quality_range(text: str) -> tuple[str, float, float]:
    """``[METRIC=]LO,HI`` -> ``(METRIC or "", LO, HI)`` (``""``: every compared metric)."""
    name, _, numbers = text.rpartition("=")
    lo, hi = number_range(numbers)
    return name.strip(), lo, hi


@dataclass(frozen=True)
class ReportConfig:
    """What to report on and how; each field is an option of ``bench report``."""

    runs: tuple[Path, ...] = field(default=(), metadata=option(
        nargs="*", parse=Path, metavar="RUN", help="run folders (results/<name>)"))  # fmt: skip
    references: tuple[Path, ...] = field(default=(), metadata=option(
        "--reference", action="extend", nargs="+", parse=Path, metavar="FILE.json|NAME",
        help="CompressAI results files to overlay and compare with (shell globs welcome), or published anchors "
        "by name, comma-separated (vtm,bpg; `bench anchors` lists them; downloaded once and hash-checked)"))  # fmt: skip
    offline: bool = field(default=False, metadata=option(
        "--offline", help="never download: published anchors must already be in the cache"))  # fmt: skip
    anchor: str | None = field(default=None, metadata=option(
        "--anchor", help="curve the BD-rates are against: a codec, a curve label or a published file's name without "
        ".json, in any case (default: jpeg)"))  # fmt: skip
    out: Path | None = field(default=None, metadata=option(
        "--out", parse=Path, help="report folder (default: <first run>/report)"))  # fmt: skip
    method: str = field(default="pchip", metadata=option(
        "--method", choices=sorted(METHODS, key=lambda m: m != "pchip"),  # the default first
        help="BD interpolation (default: pchip, as JVET)"))  # fmt: skip
    width: str = field(default="single", metadata=option(
        "--width", choices=WIDTHS, help="figure width: one or two paper columns"))  # fmt: skip
    max_bpp: float | None = field(default=2.0, metadata=option(
        "--max-bpp", parse=float_or_none, help="right end of the rate axis (default: 2; 0 for no limit)"))  # fmt: skip
    per_image: bool = field(default=False, metadata=option("--per-image", help="also draw per-image curves"))
    figures: bool = field(default=True, metadata=option(
        "--no-figures", action="store_false",
        help="no figures for a paper (PNG, PDF, SVG; the page's interactive figures stay)"))  # fmt: skip
    metrics: tuple[str, ...] | None = field(default=None, metadata=option(
        "--metric", parse=comma_list, metavar="M1,M2",
        help="tables and RD figures of these metrics only, in this order (default: every metric of the curves)"))  # fmt: skip
    bootstrap: int = field(default=DEFAULT_RESAMPLES, metadata=option(
        "--bootstrap", parse=non_negative_int, metavar="N",
        help="bootstrap resamples of the images for the 95%% intervals of the BD values (default: %(default)s; "
        "0: no intervals)"))  # fmt: skip
    seed: int = field(default=0, metadata=option(
        "--seed", parse=int, help="seed of the bootstrap resamples (default: %(default)s)"))  # fmt: skip
    quality_ranges: tuple[tuple[str, float, float], ...] = field(default=(), metadata=option(
        "--quality-range", action="append", parse=quality_range, metavar="[METRIC=]LO,HI",
        help="integrate BD-rate over this quality range (the compared column's unit, e.g. dB) instead of the "
        "curves' overlap; METRIC= for one metric, repeatable; a curve that does not cover it gives n/a"))  # fmt: skip
    rate_range: tuple[float, float] | None = field(default=None, metadata=option(
        "--rate-range", parse=number_range, metavar="LO,HI",
        help="integrate BD-metric over this rate range (bpp) instead of the curves' overlap"))  # fmt: skip
    viewer_images: int | tuple[str, ...] = field(default=DEFAULT_IMAGES, metadata=option(
        "--viewer-images", parse=viewer_images, metavar="N|NAME,NAME",
        help="images in the page's viewer: a number spread over the run's images in name order, or names "
        "(default: %(default)s; 0: no viewer)"))  # fmt: skip
    viewer_bpp: tuple[float, ...] = field(default=DEFAULT_BPPS, metadata=option(
        "--viewer-bpp", parse=target_list, metavar="B1,B2",
        help="rates (bpp) the viewer shows each codec's nearest decode at (default: 0.25,0.5,1; a rate-matched "
        "run's own targets replace them)"))  # fmt: skip


@dataclass
class ReportResult:
    """What :func:`make_report` wrote: the folder, the anchor's label, the BD table and the files, with
    ``notes`` (to know: images paired by content) and ``warnings`` (something the user must fix: a run
    that gave no curve); both are also on the report page."""

    out: Path
    anchor: str
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _empty_run_warnings(folder: Path, curves: Sequence[Curve]) -> list[str]:
    """What a run folder's ``curves`` lack that the user must fix: a codec without one image with every
    metric defined (no point), a rate-matched codec that reached no target on every image (no curve)."""
    warnings = []
    for curve in curves:
        if curve.per_image is not None and curve.points.empty:
            undefined = undefined_metrics(curve.per_image.to_dict("records"), curve.metrics)
            warnings.append(f"{folder}: {no_defined_image_text(curve.codec, undefined, curve.metrics)}")
    matching = rate_matching_of(run_metadata(folder))
    if matching is not None:
        frame = load_run_records(folder)
        have = {curve.codec for curve in curves}
        for codec in sorted(set(map(str, frame["codec"])) & set(matching.knobs) - have):
            warnings.append(f"{folder}: {unreached_text(frame, matching, codec)}, so the report has no curve of it "
                            f"(why per image: {folder / 'target_rates_per_image.csv'}); choose --target-bpp values "
                            "within its rates")  # fmt: skip
    return warnings


@dataclass
class _Loaded:
    """The curves of a report, and the warnings about runs that gave none or empty ones."""

    curves: list[Curve]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_curves(runs: Sequence[Path], references: Sequence[Path], offline: bool = False) -> list[Curve]:
    """Curves of all runs and published files. A codec found in several runs is labelled
    ``codec (run name)`` in each, so that curves from different runs or machines stay apart. A reference
    that is not a file but names published anchors (``vtm,bpg``: :mod:`bench.analysis.anchors`) gives their curves."""
    return _load(runs, references, offline).curves


def runs_dataset(runs: Sequence[Path]) -> str:
    """The dataset name the first run's ``run.json`` records (``kodak`` when there is no run): the
    dataset whose published anchors ``--reference NAME`` takes. (``bench report`` gives runs of several
    datasets a report each: :mod:`bench.report.datasets`.)"""
    return dataset_of(Path(runs[0])) if runs else DEFAULT_DATASET


def dataset_of(folder: Path) -> str:
    """The name of the dataset a run folder measured (its ``run.json``), or its folder's name when unknown."""
    return _dataset_name(Path(folder), _run_dataset_block(folder))


def _dataset_name(folder: Path, block: dict) -> str:
    return str(block["name"]) if block.get("name") else folder.name


def _dataset_hashes(block: dict) -> set[str]:
    """The sha256 of every image a ``run.json`` dataset block lists (empty when it lists none)."""
    images = block.get("images")
    if not isinstance(images, list):
        return set()
    return {str(im["sha256"]) for im in images if isinstance(im, dict) and im.get("sha256")}


def _run_dataset_block(folder: Path) -> dict:
    try:
        dataset = run_metadata(Path(folder)).get("dataset")
    except CurveError as exc:
        raise ReportError(str(exc)) from exc
    return dataset if isinstance(dataset, dict) else {}


def group_by_dataset(runs: Sequence[Path]) -> dict[str, list[Path]]:
    """The run folders by dataset, in the order first given: runs of one dataset name, or that share an
    image (same sha256: a copy of a folder under another name), are one dataset, named after its first run's."""
    folders = [Path(folder) for folder in runs]
    groups: list[tuple[set[str], set[str], list[Path]]] = []  # (names, image hashes, runs)
    name_of: dict[Path, str] = {}
    for folder in folders:
        block = _run_dataset_block(folder)
        name_of[folder] = _dataset_name(folder, block)
        names, hashes, members = {name_of[folder]}, _dataset_hashes(block), [folder]
        for group in [g for g in groups if names & g[0] or hashes & g[1]]:
            groups.remove(group)
            names, hashes, members = names | group[0], hashes | group[1], group[2] + members
        groups.append((names, hashes, members))
    position = {folder: i for i, folder in enumerate(folders)}
    ordered = sorted((sorted(members, key=position.get) for _, _, members in groups), key=lambda m: position[m[0]])
    return {name_of[members[0]]: members for members in ordered}


def _load(runs: Sequence[Path], references: Sequence[Path], offline: bool = False) -> _Loaded:
    """:func:`load_curves`, with the warnings and notes about what the runs gave."""
    dataset = runs_dataset(runs)
    per_run, warnings = [], []
    for folder in runs:
        try:
            per_run.append((Path(folder), curves_from_run(folder)))
            warnings += _empty_run_warnings(Path(folder), per_run[-1][1])
        except CurveError as exc:
            raise ReportError(str(exc)) from exc
    seen: dict[str, int] = {}
    for _, curves in per_run:
        for curve in curves:
            seen[curve.codec] = seen.get(curve.codec, 0) + 1
    curves = [
        replace(curve, label=f"{curve.codec} ({folder.name})") if seen[curve.codec] > 1 else curve
        for folder, run_curves in per_run
        for curve in run_curves
    ]
    for path in references:
        try:
            if not Path(path).exists() and (names := published_names(str(path))):
                curves += [anchor_curve(name, offline, dataset) for name in names]
            else:
                curves.append(curves_from_compressai(path))
        except (CurveError, AnchorError) as exc:
            raise ReportError(str(exc)) from exc
    curves, notes = pair_by_content(unique_labels(curves))
    labels = [c.label for c in curves]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ReportError(f"several curves are labelled {', '.join(duplicates)}; give each file once")
    if not curves:
        raise ReportError("; ".join(warnings) or "nothing to report: give at least one run folder or --reference file")
    return _Loaded(curves, warnings, notes)


def published_names(text: str) -> list[str]:
    """``vtm,bpg`` -> the anchor names, when every item is one (of any dataset; else [], and the text is
    a file name)."""
    names = [item.strip() for item in text.split(",") if item.strip()]
    known = {a.name.lower() for a in catalogue()["anchors"]}
    return names if names and all(name.lower() in known for name in names) else []


def _published_stem(curve: Curve) -> str:
    """A published curve's file name without ``.json`` (empty for run curves)."""
    return Path(curve.source).stem if curve.kind == "published" else ""


def pick_anchor(curves: Sequence[Curve], name: str | None) -> Curve:
    """The anchor curve: the curve labelled ``name``, else the one whose label, codec or (published
    curves) file stem matches it ignoring case; by default our ``jpeg`` if present, else the first
    curve. An unknown name raises :class:`ReportError` with the closest names."""
    if name is None:
        for curve in curves:
            if curve.codec == "jpeg" and curve.kind != "published":
                return curve
        return curves[0]
    exact = [c for c in curves if c.label == name]
    if exact:
        return exact[0]
    wanted = name.strip().lower()
    for key in (lambda c: c.label, lambda c: c.codec, _published_stem):
        matches = [c for c in curves if key(c) and key(c).lower() == wanted]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ReportError(
                f"anchor '{name}' is ambiguous: {', '.join(c.label for c in matches)}; give the exact label"
            )
    stems = [stem for c in curves if (stem := _published_stem(c))]
    names = list(dict.fromkeys([*(c.label for c in curves), *stems]))
    by_lower: dict[str, str] = {}
    for candidate in names:
        by_lower.setdefault(candidate.lower(), candidate)
    close = difflib.get_close_matches(wanted, list(by_lower), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_lower[c] for c in close)}?" if close else ""
    raise ReportError(f"no curve named '{name}'; curves: {', '.join(c.label for c in curves)}{hint}")


def _safe_file_stem(label: str) -> str:
    """``label`` as a file name: each run of characters other than letters, digits, ``.``, ``_`` and ``-``
    becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_")


def _code_span(text: object) -> str:
    """``text`` as inline code inside a Markdown table cell (pipes escaped, line breaks as spaces)."""
    text = " ".join(str(text).splitlines()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _provenance_lines(curves: Sequence[Curve]) -> list[str]:
    """A Markdown table of the curves: kind, source (run and command, or file), settings and versions, device."""
    lines = ["| curve | kind | source | settings and versions | device |", "| --- | --- | --- | --- | --- |"]
    for c in curves:
        source = markdown_text(c.provenance.get("run") or c.provenance.get("file") or c.source)
        if c.provenance.get("command"):
            source = f"run {_code_span(c.provenance.get('run') or c.source)}: {_code_span(c.provenance['command'])}"
            commit = (c.provenance.get("git") or {}).get("commit")
            if commit:
                source += f" (codec-bench {markdown_text(commit[:10])})"
        description = markdown_text((c.description or "").replace("|", "/"))
        lines.append(f"| {markdown_text(c.label)} | {c.kind} | {source} | {description} | "
                     f"{markdown_text(c.device or '')} |")  # fmt: skip
    return lines


def _figure_section(title: str, stem: str, caption: str) -> list[str]:
    """The page's subsection of one figure: the PNG ``stem.png``, its caption and links to its PDF and SVG."""
    return [
        f"### {title}",
        "",
        f"![{title}]({stem}.png)",
        "",
        f"*{caption}* Also as [{stem}.pdf]({stem}.pdf) and [{stem}.svg]({stem}.svg).",
        "",
    ]


def _images_per_curve_caption(curves: Sequence[Curve]) -> str:
    """A sentence giving each curve's number of images (fewest-most over its points) when the curves, or
    the points of one curve, average different numbers of images; empty otherwise."""
    counts = [(c.label, c.image_counts()) for c in curves]
    known = [(label, n) for label, n in counts if n is not None]
    if len({n for _, n in known}) <= 1 and all(lo == hi for _, (lo, hi) in known):
        return ""
    parts = [markdown_text(f"{label} {lo}" if lo == hi else f"{label} {lo}–{hi}") for label, (lo, hi) in known]
    unknown = sum(n is None for _, n in counts)
    tail = f"; {unknown} published curve(s) do not state theirs" if unknown else ""
    return f" Images per curve (as measured): {', '.join(parts)}{tail}."


def _chosen_columns(columns: Sequence[Column], wanted: Sequence[str]) -> list[Column]:
    """The compared columns of the metrics ``wanted`` (a metric's name or its dB form's), in that order."""
    by_name: dict[str, Column] = {}
    for column in columns:
        by_name[column.name] = column
        by_name.setdefault(column.metric, column)
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        have = ", ".join(dict.fromkeys(c.metric for c in columns)) or "none"
        raise ReportError(f"--metric: no curve has {', '.join(unknown)}; the curves' metrics: {have}")
    return list(dict.fromkeys(by_name[name] for name in wanted))


def _quality_ranges(columns: Sequence[Column], given: Sequence[tuple[str, float, float]]) -> dict:
    """Fixed quality ranges by compared column: ``""`` names every column, else a metric or its dB form."""
    ranges: dict[str, tuple[float, float]] = {}
    for name, lo, hi in given:
        chosen = columns if not name else _chosen_columns(columns, [name])
        ranges.update({column.name: (lo, hi) for column in chosen})
    return ranges


def _bd_conventions(config: ReportConfig, columns: Sequence[Column], ranges: dict) -> str:
    """Sentences on the intervals, the paired test and the fixed ranges of the report's BD values."""
    text = []
    if config.bootstrap:
        text.append(
            f"In brackets: 95% bootstrap percentile intervals over images ({config.bootstrap} resamples, seed "
            f"{config.seed}; columns `ci_low`, `ci_high`, `resamples`, `seed` of bd_rate.csv): mean-curve BD "
            "recomputed from the mean curves of each resample of the images, per-image BD as the mean of the "
            "resampled per-image values (`bench/analysis/bootstrap.py`)."
        )
    fixed = [f"{c.label} {lo:g}–{hi:g}{f' {c.unit}' if c.unit else ''}" for c in columns
             if (r := ranges.get(c.name)) for lo, hi in [r]]  # fmt: skip
    if fixed:
        text.append(f"BD-rate integrated over fixed quality ranges, not the overlap: {', '.join(fixed)}.")
    if config.rate_range:
        lo, hi = config.rate_range
        text.append(f"BD-metric integrated over the fixed rate range {lo:g}–{hi:g} bpp, not the overlap.")
    return " ".join(text)


@dataclass
class _Section:
    """Part of the report page (``lines``, Markdown) and the files written for it."""

    lines: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _rate_matched_runs(runs: Sequence[Path]) -> list[tuple[Path, RateMatching]]:
    """The rate-matched runs among ``runs``, with their rate matching."""
    matched = []
    for folder in runs:
        matching = rate_matching_of(run_metadata(Path(folder)))
        if matching is not None:
            matched.append((Path(folder), matching))
    return matched


def _target_rate_section(runs: Sequence[Path], out: Path) -> _Section:
    """The report's "At target rates" section for the rate-matched runs among ``runs`` (none: no lines),
    and their target_rates CSV files, written into the report folder ``out`` (prefixed with the run's
    name when several runs have targets)."""
    matched = _rate_matched_runs(runs)
    if not matched:
        return _Section()
    registry = discover_metrics()
    section = _Section(["## At target rates", ""])
    for folder, matching in matched:
        frame = load_run_records(folder, registry)
        metrics = run_metrics(folder, list(frame.columns))
        prefix = f"{folder.name}_" if len(matched) > 1 else ""
        paths = write_target_csvs(frame, matching, metrics, out, prefix)
        section.files.extend(paths.values())
        per_image = per_image_table(frame, matching, metrics)
        summary = summary_table(per_image, matching, metrics)
        targets = ", ".join(f"{t:g}" for t in matching.targets)
        section.lines.extend([
            f"Run `{folder.name}`: each codec's knob searched per image for the targets {targets} bpp; a target is "
            f"reached on an image when the chosen rate is within +-{100 * matching.tolerance:g}% of it. Means over "
            "the reached images (so over different images for different codecs when not all are reached); the BD "
            "tables and RD figures above use, per codec, the targets reached on every image (`bench/analysis/target_rates.py`). "
            f"Per image: [{paths['target_rates_per_image'].name}]({paths['target_rates_per_image'].name}); "
            f"why targets were not reached: [{paths['target_rates'].name}]({paths['target_rates'].name}).",
            "",
            *target_rate_markdown(summary, status_counts(per_image), metrics, registry),
        ])  # fmt: skip
    return section


def report_folder(config: ReportConfig) -> Path:
    """The report folder ``config`` names: ``--out``, else ``<first run>/report``."""
    return Path(config.out) if config.out else (Path(config.runs[0]) / "report" if config.runs else Path("report"))


def _report_folder(config: ReportConfig) -> Path:
    """The report folder (:func:`report_folder`), created; :class:`ReportError` when it cannot be written."""
    out = report_folder(config)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ReportError(
            f"cannot write the report into {out} ({exc.strerror or exc}); give a writable folder with --out"
        ) from None
    return out


def _report_columns(curves: Sequence[Curve], anchor: Curve, wanted: Sequence[str] | None) -> list[Column]:
    """The compared columns of the report: those of ``--metric`` (``wanted``), else every one the curves have."""
    columns = compared_columns([anchor, *curves])
    return _chosen_columns(columns, wanted) if wanted else columns


def _bd_markdown(table: pd.DataFrame, anchor: str) -> str:
    """Both aggregations' Markdown tables, each under a ``####`` heading naming it (bd_rate.md)."""
    return "\n".join(f"#### {agg}\n\n{bd_markdown(table, agg, anchor=anchor)}" for agg in AGGREGATIONS)


def _write_bd_tables(table: pd.DataFrame, markdown: str, anchor: str, out: Path) -> list[Path]:
    """Write bd_rate.csv, bd_rate.md (``markdown``) and bd_rate.tex (both aggregations) into ``out``."""
    paths = [out / "bd_rate.csv", out / "bd_rate.md", out / "bd_rate.tex"]
    atomic_write_text(paths[0], table.to_csv(index=False, float_format="%.10g"))
    atomic_write_text(paths[1], markdown)
    atomic_write_text(paths[2], "\n".join(bd_latex(table, agg, anchor=anchor) for agg in AGGREGATIONS))
    return paths


def _write_matched_csv(matched: MatchedQuality, out: Path) -> list[Path]:
    """Write matched_quality.csv into ``out``."""
    path = out / "matched_quality.csv"
    atomic_write_text(path, matched.table.to_csv(index=False, float_format="%.10g"))
    return [path]


def _rd_figures(curves: Sequence[Curve], columns: Sequence[Column], styles: dict[str, Style],
                config: ReportConfig, out: Path) -> _Section:  # fmt: skip
    """An RD figure per compared column that some curve has, and its subsection of the page."""
    from bench.report.figures import rd_figure, save_figure

    section = _Section()
    for column in columns:
        fig = rd_figure(curves, column.name, styles, width=config.width, max_bpp=config.max_bpp)
        if fig is None:
            continue
        stem = f"rd_{column.name}"
        section.files.extend(save_figure(fig, out, stem))
        shown = [c for c in curves if np.isfinite(c.column(column.name)).any()]
        section.lines.extend(_figure_section(
            f"{column.axis_label} against rate",
            stem,
            "Means over the images at each quality setting (images with every metric defined); bpp counts "
            "every byte of each file."
            + (" MS-SSIM in dB is -10 log10(1 - MS-SSIM)." if column.name == "ms_ssim_db" else "")
            + _images_per_curve_caption(shown),
        ))  # fmt: skip
    return section


def _speed_figures(curves: Sequence[Curve], styles: dict[str, Style], config: ReportConfig, out: Path) -> _Section:
    """The speed figure (none when no curve has times) and its subsection of the page."""
    from bench.report.figures import device_note, save_figure, speed_figure

    fig = speed_figure(curves, styles, width="double", max_bpp=config.max_bpp)
    if fig is None:
        return _Section()
    timed = [c for c in curves if np.isfinite(c.column("encode_s")).any()]
    caption = (
        f"Wall-clock time of one encode/decode call per image (median of repeats), log scale. {device_note(timed)}."
    )
    return _Section(_figure_section("Encoding and decoding time", "speed", caption), save_figure(fig, out, "speed"))


def _per_image_figures(curves: Sequence[Curve], columns: Sequence[Column], styles: dict[str, Style],
                       config: ReportConfig, out: Path) -> _Section:  # fmt: skip
    """With ``--per-image``, a small-multiples figure per compared column and its subsection of the page."""
    from bench.report.figures import per_image_figure, save_figure

    section = _Section()
    for column in columns if config.per_image else ():
        fig = per_image_figure(curves, column.name, styles, max_bpp=config.max_bpp)
        if fig is not None:
            stem = f"per_image_{column.name}"
            section.files.extend(save_figure(fig, out, stem))
            section.lines.extend(_figure_section(f"Per image: {column.label}", stem, "One panel per image."))
    return section


#: The figure files a report draws (:func:`_figures`, :func:`_complexity_section`), as globs of its folder.
_FIGURE_FILES = tuple(f"{stem}.{ext}" for stem in ("rd_*", "speed", "per_image_*", "complexity") for ext in FORMATS)

#: The report page's figure section when figures were not drawn (``--no-figures``, ``bench run`` without
#: ``--figures``).
NO_FIGURES_TEXT = (
    "Not drawn here: the interactive page [index.html](index.html) has every curve; `bench report {runs}` "
    "draws the figures for a paper (PNG, PDF and SVG)."
)


def _figures(curves: Sequence[Curve], columns: Sequence[Column], styles: dict[str, Style], config: ReportConfig,
             out: Path) -> _Section:  # fmt: skip
    """Every figure of the report (RD, speed, per image), in the page's order; with ``config.figures``
    off, a line saying where they are (matplotlib is then not imported)."""
    if not config.figures:
        for stale in _FIGURE_FILES:  # an earlier report's figures would show older measurements
            for path in out.glob(stale):
                path.unlink(missing_ok=True)
        return _Section([NO_FIGURES_TEXT.format(runs=" ".join(map(str, config.runs)) or "RUN"), ""])
    parts = (_rd_figures(curves, columns, styles, config, out), _speed_figures(curves, styles, config, out),
             _per_image_figures(curves, columns, styles, config, out))  # fmt: skip
    return _Section([line for part in parts for line in part.lines], [path for part in parts for path in part.files])


def _overall_section(table: pd.DataFrame, columns: Sequence[Column], out: Path) -> _Section:
    """For each metric preset whose overall set the compared columns cover (``jpeg-ai``), the mean of each
    codec's per-metric BD-rates (bd_overall.csv and a subsection); nothing otherwise."""
    presets = overall_presets([column.metric for column in columns])
    if not presets or not len(table):
        return _Section()
    overall = pd.concat([overall_table(table, columns, preset) for preset in presets], ignore_index=True)
    files = [out / "bd_overall.csv"]
    atomic_write_text(files[0], overall.to_csv(index=False, float_format=repr))
    lines = []
    for preset in presets:
        lines += [f"### {preset.title[0].upper()}{preset.title[1:]}", "",
                  f"The arithmetic mean of each codec's BD-rates (%) over {', '.join(preset.overall)} "
                  f"({preset.source}; `bench/api/metric_presets.py` says how these metrics differ from "
                  "JPEG AI's own tool).", "", overall_markdown(overall[overall["preset"] == preset.name]), ""]  # fmt: skip
    lines += ["File: [bd_overall.csv](bd_overall.csv).", ""]
    return _Section(lines, files)


def _complexity_section(curves: Sequence[Curve], columns: Sequence[Column], table: pd.DataFrame, anchor: Curve,
                        complexity: pd.DataFrame, styles: dict[str, Style], out: Path,
                        figures: bool = True) -> _Section:  # fmt: skip
    """The complexity table (complexity.csv and the page's table) and, with ``figures``, the
    BD-rate-against-complexity figure (against the first compared column's BD-rates); nothing when no curve
    is a run's."""
    if complexity.empty:
        return _Section()
    files = [out / "complexity.csv"]
    atomic_write_text(files[0], complexity.to_csv(index=False, float_format=repr))
    lines = [
        "## Complexity",
        "",
        "Each codec at its middle quality setting (the median of its settings), means over the images measured "
        "there, with [lowest, highest] where images differ. kMAC/px: thousands of multiply-accumulates per pixel "
        "of the learned codec's compress and decompress, counted on the real tensors by PyTorch's operator-level "
        "FLOP counter (convolutions, transposed convolutions and matrix products; one MAC = 2 FLOPs; not the "
        "arithmetic coder; `bench/neural/complexity.py`). Times: one call on the run's device; network / coding "
        "splits a learned codec's compress or decompress call into its transforms and the rest (quantisation, "
        "rANS, the autoregressive loop). Peak: the measuring process's resident memory during the call, with in "
        "brackets how much it grew during the call (memory the allocator reuses from earlier calls does not "
        "show: a lower bound of what the call allocated), or, for command-line codecs, the program's own "
        "(`bench/api/extra_columns.py` defines every column).",
        "",
        complexity_markdown(complexity),
        "File: [complexity.csv](complexity.csv).",
        "",
    ]
    if columns and figures:
        from bench.report.figures import complexity_figure, save_figure

        column = columns[0]
        rates = bd_rates_of(table, column.name, anchor.label)
        fig = complexity_figure(complexity, rates, styles, metric_label=column.label,
                                anchor=anchor.label)  # fmt: skip
        if fig is not None:
            files += save_figure(fig, out, "complexity")
            lines += _figure_section(
                f"BD-rate ({column.label}) against complexity",
                "complexity",
                f"Mean-curve BD-rate against {anchor.label} ({column.label}) of each codec against its decoder "
                "kMAC/pixel (left: codecs that count MACs; the others as dashed lines) and its decode time per "
                "image (right), both at the codec's middle quality.",
            )
    return _Section(lines, files)


def _interactive_page(curves: Sequence[Curve], columns: Sequence[Column], anchor: Curve, table: pd.DataFrame,
                      complexity: pd.DataFrame, styles: dict[str, Style], config: ReportConfig, ranges: dict,
                      out: Path) -> list[Path]:  # fmt: skip
    """index.html (:mod:`bench.report.html`): the report's BD table against its anchor, and against every
    other curve without intervals, so that the page can switch anchors."""
    tables = {anchor.label: table}
    for other in curves:
        if other.label not in tables:
            tables[other.label] = bd_table(curves, other, metrics=[c.name for c in columns], method=config.method,
                                           resamples=0, seed=config.seed, quality_ranges=ranges,
                                           rate_range=config.rate_range)  # fmt: skip
    title = f"codec-bench report: {', '.join(sorted({c.dataset for c in curves if c.dataset})) or 'runs'}"
    data = page_data(curves, columns, styles, anchor.label, tables, complexity, title)
    data["per_image"] = per_image_document(per_image_rates(
        curves, anchor, metrics=[c.name for c in columns], method=config.method, quality_ranges=ranges,
        rate_range=config.rate_range))  # fmt: skip
    data["generated"] = f"{timestamp('seconds')} by codec-bench {__version__}"
    data["viewer"] = build_viewer(curves, columns, ViewerChoice(config.viewer_images, config.viewer_bpp), out,
                                  config.offline)  # fmt: skip
    return write_page(out, data) + sorted((out / VIEWER_DIR).glob("*.js"))


def _export_compressai(curves: Sequence[Curve], out: Path) -> list[Path]:
    """Write each run curve in CompressAI's results format into ``out/compressai/``; return the paths."""
    exported = out / "compressai"
    paths = []
    for curve in curves:
        if curve.kind != "published" and not curve.points.empty:  # no file of no points (the page warns)
            exported.mkdir(exist_ok=True)
            path = exported / f"{_safe_file_stem(curve.label)}.json"
            atomic_write_text(path, json.dumps(to_compressai(curve), indent=2) + "\n")
            paths.append(path)
    return paths


def _page_header(anchor: Curve, method: str, table: pd.DataFrame) -> list[str]:
    """The page's title and the line saying when, by which version and against which anchor."""
    compared = (
        f"Anchor: **{markdown_text(anchor.label)}**; BD interpolation: **{method}** (BD-rate over the shared quality range, "
        "no extrapolation, each pair of curves over the images both measured at every quality; VCEG-M33 / JVET "
        "CTC definitions, see `bench/analysis/bdrate.py`)."
        if len(table)
        else f"No curve other than the anchor **{markdown_text(anchor.label)}**: no BD-rates, nothing to compare."
    )
    generated = f"Generated {timestamp('seconds')} by codec-bench {__version__}. "
    return ["# codec-bench report", "", generated + compared, ""]


def _attention_lines(loaded: _Loaded) -> list[str]:
    """The page's warnings (what to fix: a run that gave no curve) and notes, right under its header."""
    lines = [f"**Warning:** {markdown_text(text)}" for text in loaded.warnings]
    lines += [f"**Note:** {markdown_text(text)}" for text in loaded.notes]
    return [line for text in lines for line in (text, "")]


def _bd_section(table: pd.DataFrame, markdown: str, conventions: str) -> list[str]:
    """The page's BD-rate section: how the intervals were drawn, the tables (``markdown``), the paired test."""
    paired = paired_markdown(table)
    return [
        "## BD-rate",
        "",
        *([conventions, ""] if conventions and len(table) else []),
        markdown,
        *(["### Paired test across images", "", _PAIRED_TEST_NOTE, "", paired, ""] if paired else []),
        "Files: [bd_rate.csv](bd_rate.csv), [bd_rate.md](bd_rate.md), [bd_rate.tex](bd_rate.tex).",
        "",
    ]


def _matched_section(matched: MatchedQuality, columns: Sequence[Column]) -> list[str]:
    """The page's section of matched-quality size ratios."""
    return [
        "## Matched-quality size ratios",
        "",
        matched_markdown(matched, columns),
        "File: [matched_quality.csv](matched_quality.csv) (one row per codec, metric and anchor setting, and "
        "`all`; `bench/analysis/matched.py`).",
        "",
    ]


def _provenance_section(curves: Sequence[Curve]) -> list[str]:
    """The page's last section: where each curve comes from."""
    return [
        "## Where the curves come from",
        "",
        *_provenance_lines(curves),
        "",
        "Run curves in CompressAI's results format: `compressai/`.",
        "",
    ]


def make_report(config: ReportConfig) -> ReportResult:
    """Build the report described in the module docstring; returns the BD table and the files."""
    loaded = _load(config.runs, config.references, config.offline)
    curves = loaded.curves
    anchor = pick_anchor(curves, config.anchor)
    out = _report_folder(config)
    columns = _report_columns(curves, anchor, config.metrics)
    ranges = _quality_ranges(columns, config.quality_ranges)
    table = bd_table(curves, anchor, metrics=[c.name for c in columns], method=config.method,
                     resamples=config.bootstrap, seed=config.seed, quality_ranges=ranges,
                     rate_range=config.rate_range)  # fmt: skip
    markdown = _bd_markdown(table, anchor.label)
    files = _write_bd_tables(table, markdown, anchor.label, out)
    matched = matched_table(curves, anchor, metrics=[c.name for c in columns])
    files += _write_matched_csv(matched, out)
    overall = _overall_section(table, columns, out)
    files += overall.files
    styles = assign_styles(curves)  # one colour and marker per codec in every figure and on the page
    figures = _figures(curves, columns, styles, config, out)
    files += figures.files
    complexity_rows = complexity_table(curves)
    complexity = _complexity_section(curves, columns, table, anchor, complexity_rows, styles, out, config.figures)
    files += complexity.files
    files += _interactive_page(curves, columns, anchor, table, complexity_rows, styles, config, ranges, out)
    files += _export_compressai(curves, out)
    targets = _target_rate_section(config.runs, out)
    files += targets.files
    page = [
        *_page_header(anchor, config.method, table),
        *_attention_lines(loaded),
        *_bd_section(table, markdown, _bd_conventions(config, columns, ranges)),
        *overall.lines,
        *_matched_section(matched, columns),
        "## Figures",
        "",
        *figures.lines,
        *complexity.lines,
        *targets.lines,
        *_provenance_section(curves),
    ]
    atomic_write_text(out / "report.md", "\n".join(page))
    files.append(out / "report.md")
    return ReportResult(out, anchor.label, table, files, loaded.notes, loaded.warnings)
