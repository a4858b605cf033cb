"""What ``bench run`` prints and warns at its end: the summary table, the rate targets reached, and the
codecs whose repeated encodes differed."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench.api.metric import DEFAULT_METRICS, Metric
from bench.api.metric_registry import discover_metrics
from bench.api.records import Record, codecs_without_defined_images, format_quality, no_defined_image_text
from bench.store.export import summarise
from bench.store.sqlite import Store

if TYPE_CHECKING:
    from bench.run.runner import RunReport

__all__ = ["format_summary", "format_targets", "repeat_warnings", "undefined_warnings", "duplicate_notes"]


def repeat_warnings(store: Store) -> list[str]:
    """Codecs whose repeated encodes (``--repeat``) gave different bitstreams."""
    differing: dict[tuple[str, float], int] = Counter()
    for record in store.records():
        if record.extra.get("repeat_identical") is False:
            differing[record.codec, record.quality] += 1
    return [
        f"{codec} {format_quality(quality)}: repeated encodes of the same image gave different bitstreams on "
        f"{count} image(s) (the encoder is not deterministic; the first bitstream was measured)"
        for (codec, quality), count in sorted(differing.items())
    ]


def undefined_warnings(records: list[Record], codecs: list[str] | None = None) -> list[str]:
    """One warning per codec (of ``codecs``, all by default) none of whose images has every metric defined."""
    return [
        no_defined_image_text(codec, undefined, list(next(r for r in records if r.codec == codec).metrics))
        for codec, undefined in codecs_without_defined_images(records).items()
        if codecs is None or codec in codecs
    ]


def duplicate_notes(report: RunReport) -> list[str]:
    """A note per file content measured under several names (same sha256, per the run's run.json): those
    images count several times in every mean."""
    measured = {record.image for record in report.records}
    try:
        described = json.loads(Path(report.files["run"]).read_text(encoding="utf-8"))["dataset"]["images"]
    except (KeyError, OSError, TypeError, ValueError):
        return []
    names: dict[str, list[str]] = {}
    for item in described:
        if isinstance(item, dict) and item.get("name") in measured and item.get("sha256"):
            names.setdefault(item["sha256"], []).append(item["name"])
    return [
        f"{', '.join(sorted(group))} are the same file (sha256 {sha[:12]}...): that image counts {len(group)} times "
        "in every mean over images"
        for sha, group in sorted(names.items())
        if len(group) > 1
    ]


def format_summary(report: RunReport, codecs: list[str] | None = None, metrics: list[Metric] | None = None) -> str:
    """The compact table printed at the end of a run: one line per codec, ranges over its sweep of
    bpp and of each metric (``metrics``: the run's, by default the default ones)."""
    if metrics is None:
        metrics = discover_metrics(use_entry_points=False).create(DEFAULT_METRICS)
    rows = [
        {**row, **report.dataset_values.get((row["codec"], row["quality"]), {})} for row in summarise(report.records)
    ]
    by_codec: dict[str, list[dict]] = {}
    for row in rows:
        if codecs is None or row["codec"] in codecs:
            by_codec.setdefault(row["codec"], []).append(row)
    width = max([12, *(len(c) for c in by_codec)])
    columns = [
        (m.name, m.heading(), m.number_format()) for m in metrics if m.per_image or any(m.name in row for row in rows)
    ]
    widths = {name: max(len(title), 13 if fmt == ".2f" else 15) for name, title, fmt in columns}
    estimates = any(row.get("estimated_bpp") is not None for crows in by_codec.values() for row in crows)
    header = (
        f"{'codec':<{width}} {'points':>6} {'images':>6}  {'bpp':>13}  "
        + (f"{'est. bpp':>13}  " if estimates else "")
        + "  ".join(f"{title:>{widths[name]}}" for name, title, _ in columns)
        + f"  {'enc ms':>7} {'dec ms':>7}"
    )
    lines = [header, "-" * len(header)]

    def span(values: list[float], fmt: str) -> str:
        return f"{min(values):{fmt}}-{max(values):{fmt}}"

    def estimate_span(crows: list[dict]) -> str:  # the learned codecs' own rate estimate, "-" for the others
        values = [r["estimated_bpp"] for r in crows if r.get("estimated_bpp") is not None]
        return span(values, ".3f") if values else "-"

    for codec, crows in by_codec.items():
        n = len(crows)
        lines.append(
            f"{codec:<{width}} {n:>6} {min(r['images'] for r in crows):>6}  {span([r['bpp'] for r in crows], '.3f'):>13}  "
            + (f"{estimate_span(crows):>13}  " if estimates else "")
            + "  ".join(
                f"{span([r.get(name, float('nan')) for r in crows], fmt):>{widths[name]}}" for name, _, fmt in columns
            )
            + f"  {1e3 * sum(r['encode_s'] for r in crows) / n:>7.1f} {1e3 * sum(r['decode_s'] for r in crows) / n:>7.1f}"
        )
    lines.append(f"results: {report.out}/ (records.csv, summary.csv, failures.csv, run.json)")
    for warning in [*report.warnings, *undefined_warnings(report.records, codecs)]:
        lines.append(f"warning: {warning}")
    lines += [f"note: {note}" for note in duplicate_notes(report)]
    if report.broken:
        lines.append(f"the run broke: {report.broken}; what was measured before is in {report.out}/store.sqlite, "
                     "run the same command again to go on")  # fmt: skip
    if report.interrupted:
        lines.append("interrupted: run the same command again to measure what is missing")
    if report.failures:
        by_kind = Counter((f.codec or "(image)", f.stage) for f in report.failures)
        lines.append(
            f"{len(report.failures)} failed: " + ", ".join(f"{c} {s} x{k}" for (c, s), k in sorted(by_kind.items()))
        )
        for failure in report.failures[:10]:
            where = f"{failure.codec} {format_quality(failure.quality)} " if failure.codec else ""
            lines.append(f"  {where}{failure.image} ({failure.stage}): {failure.error}")
        if len(report.failures) > 10:
            lines.append(f"  ... {len(report.failures) - 10} more in failures.csv")
    return "\n".join(lines)


def format_targets(path: Path, codecs: list[str], stopped: dict[tuple[str, str], str]) -> str:
    """Lines after the summary of a rate-matched run: per codec, the images that reached each target."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [row for row in csv.DictReader(fh) if row["codec"] in codecs]
    lines = ["target rates (images reached / images, mean bpp over them):"]
    for codec in codecs:
        cells = [f"{r['target_bpp']}: {r['images_reached']}/{r['images']}"
                 + (f" ({float(r['bpp']):.3f})" if r["bpp"] else "") for r in rows if r["codec"] == codec]  # fmt: skip
        lines.append(f"  {codec}: " + ", ".join(cells))
    for (codec, image), why in sorted(stopped.items()):
        lines.append(f"  search stopped: {codec} on {image}: {why}")
    lines.append(
        f"  details and why targets were not reached: {path} and {path.with_name('target_rates_per_image.csv')}"
    )
    return "\n".join(lines)
