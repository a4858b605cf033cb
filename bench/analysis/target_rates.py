"""The results of a rate-matched run (``bench run --target-bpp``): its tables, CSV files and matched points.

The matched points are what BD tables and RD figures use; the report renders the tables in its "At
target rates" section (:func:`bench.report.tables.target_rate_markdown`).

Units: ``bpp = 8 * bytes / (width * height)``; ``bpp_error = bpp / target - 1`` (relative); a target is
reached on an image when ``|bpp_error| <= tolerance``. Which probe is chosen for a target on an image,
and why a target is not reached, is :mod:`bench.analysis.rate_match`'s business: this module replays its
searches over a run's records (the same deterministic function the runner used) and tabulates them.

* ``target_rates_per_image.csv``: one row per codec, target and image: ``codec, target_bpp, image,
  status, reached, knob, bpp, bpp_error, probes``, then each metric of the run (``status``: see
  :data:`bench.analysis.rate_match.STATUSES`; ``probes``: how many probes that target's search made on that image);
* ``target_rates.csv``: one row per codec and target: ``codec, target_bpp, tolerance, images,
  images_reached, bpp`` (the mean achieved rate over the reached images), ``knob_min, knob_max`` (the
  knob values chosen on them), ``probes`` (mean per image), each metric's mean over the reached images
  (those with every metric defined, the one rule of :mod:`bench.analysis.curves`), and ``note``, naming the
  images where the target was not reached and why (above the codec's highest rate, below its lowest,
  no knob value within the tolerance, search incomplete).

**Curves of a rate-matched codec** (:func:`matched_records`, used by :func:`bench.analysis.curves.curves_from_run`):
one point per target, its quality being the target (bpp), from the chosen record of each image; a
target becomes a point only when it was reached on every image the codec has records of, so that every
point averages the same images (a target reached on a few images would otherwise shrink every
comparison to those images); the others are in ``target_rates.csv``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import pandas as pd

from bench.analysis.rate_match import RateMatching, TargetOutcome, search

if TYPE_CHECKING:
    from bench.analysis.dataset_values import DatasetFeatures
    from bench.api.records import Record

__all__ = [
    "RateMatching",
    "rate_matching_of",
    "records_frame",
    "per_image_table",
    "summary_table",
    "write_target_csvs",
    "status_counts",
    "knob_text",
    "matched_records",
    "matched_features",
    "PER_IMAGE_COLUMNS",
    "SUMMARY_COLUMNS",
]

PER_IMAGE_COLUMNS = ("codec", "target_bpp", "image", "status", "reached", "knob", "bpp", "bpp_error", "probes")
SUMMARY_COLUMNS = ("codec", "target_bpp", "tolerance", "images", "images_reached", "bpp", "knob_min", "knob_max",
                   "probes")  # fmt: skip
#: Why a target was not reached, by status.
_WHY_NOT_REACHED = {
    "above": "above the highest rate",
    "below": "below the lowest rate",
    "missed": "no knob value within the tolerance",
    "incomplete": "search incomplete (a probe failed or the run was interrupted)",
}


def rate_matching_of(meta: Mapping[str, Any]) -> RateMatching | None:
    """The rate matching of a run from its run.json document, None for a run without targets."""
    doc = meta.get("rate_matching") if isinstance(meta, Mapping) else None
    if not isinstance(doc, Mapping) or not doc.get("targets_bpp"):
        return None
    try:
        return RateMatching.from_json(doc)
    except (KeyError, TypeError, ValueError):
        return None


def records_frame(records: Iterable[Record]) -> pd.DataFrame:
    """Per-image records as the frame :func:`bench.analysis.curves.load_run_records` gives (without dB forms)."""
    rows = [{"codec": r.codec, "quality": float(r.quality), "image": r.image, "width": r.width, "height": r.height,
             "bytes": r.bytes, "bpp": r.bpp, **r.metrics, "encode_s": r.encode_s, "decode_s": r.decode_s}
            for r in records]  # fmt: skip
    return pd.DataFrame(rows, columns=None if rows else ["codec", "quality", "image", "bpp"])


def _replayed_outcomes(frame: pd.DataFrame, matching: RateMatching) -> dict[tuple[str, str], tuple[TargetOutcome, ...]]:
    """Each rate-matched codec's searches on each image of ``frame`` (any codec's), replayed over its records."""
    probes: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)
    for codec, quality, image, bpp in frame[["codec", "quality", "image", "bpp"]].itertuples(index=False):
        probes[str(codec), str(image)][float(quality)] = float(bpp)
    images = sorted({str(image) for image in frame["image"]}) if len(frame) else []
    return {
        (codec, image): search(spec, matching.targets, probes.get((codec, image), {}), matching.max_probes).outcomes
        for codec, spec in sorted(matching.knobs.items())
        for image in images
    }


def per_image_table(frame: pd.DataFrame, matching: RateMatching, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per rate-matched codec, target and image (columns :data:`PER_IMAGE_COLUMNS` then
    ``metrics``): the chosen probe, its status and its values (empty when there is no probe)."""
    index = {(str(c), float(q), str(i)): n for n, (c, q, i) in enumerate(frame[["codec", "quality", "image"]]
                                                                         .itertuples(index=False))}  # fmt: skip
    rows = []
    for (codec, image), outcomes in _replayed_outcomes(frame, matching).items():
        for outcome in outcomes:
            chosen = outcome.chosen
            status = outcome.status(matching.tolerance)
            row: dict[str, Any] = {"codec": codec, "target_bpp": outcome.target, "image": image, "status": status,
                                   "reached": status == "reached", "knob": chosen[0] if chosen else math.nan,
                                   "bpp": chosen[1] if chosen else math.nan, "bpp_error": outcome.error(),
                                   "probes": len(outcome.probes)}  # fmt: skip
            found = frame.iloc[index[codec, chosen[0], image]] if chosen else None
            for name in metrics:
                row[name] = float(found[name]) if found is not None and name in found else math.nan
            rows.append(row)
    table = pd.DataFrame(rows, columns=[*PER_IMAGE_COLUMNS, *metrics])
    return table.sort_values(["codec", "target_bpp", "image"], ignore_index=True)


def _not_reached_note(group: pd.DataFrame, tolerance: float) -> str:
    """The images of one codec and target (``group``: its per-image rows) where the target was not reached,
    by reason, with the rate chosen on each."""
    parts = []
    for status in ("above", "below", "missed", "incomplete"):
        rows = group[group["status"] == status]
        if len(rows):
            names = ", ".join(
                f"{image} ({bpp:.3g} bpp)" if math.isfinite(bpp) else str(image)
                for image, bpp in zip(rows["image"], rows["bpp"], strict=True)
            )
            why = _WHY_NOT_REACHED[status].replace("the tolerance", f"+-{100 * tolerance:g}%")
            parts.append(f"{why}: {names}")
    return "; ".join(parts)


def summary_table(per_image: pd.DataFrame, matching: RateMatching, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per codec and target (columns :data:`SUMMARY_COLUMNS`, the metrics, ``note``) from
    :func:`per_image_table`'s rows."""
    rows = []
    for (codec, target), group in per_image.groupby(["codec", "target_bpp"], sort=True):
        reached = group[group["reached"].astype(bool)]
        defined = reached.dropna(subset=[m for m in metrics if m in reached])
        row: dict[str, Any] = {
            "codec": codec, "target_bpp": float(target), "tolerance": matching.tolerance, "images": len(group),
            "images_reached": len(reached),
            "bpp": defined["bpp"].mean() if len(defined) else math.nan,
            "knob_min": reached["knob"].min() if len(reached) else math.nan,
            "knob_max": reached["knob"].max() if len(reached) else math.nan,
            "probes": group["probes"].mean(),
        }  # fmt: skip
        for name in metrics:
            row[name] = defined[name].mean() if len(defined) else math.nan
        note = _not_reached_note(group, matching.tolerance)
        if len(defined) < len(reached):
            note = "; ".join(filter(None, [note, f"means over the {len(defined)} reached images with every metric "
                                                 "defined"]))  # fmt: skip
        row["note"] = note
        rows.append(row)
    return pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *metrics, "note"])


def write_target_csvs(
    frame: pd.DataFrame, matching: RateMatching, metrics: Sequence[str], folder: Path, prefix: str = ""
) -> dict[str, Path]:
    """Write ``<prefix>target_rates.csv`` and ``<prefix>target_rates_per_image.csv`` into ``folder``;
    return their paths (keys ``target_rates``, ``target_rates_per_image``)."""
    from bench.api.files import atomic_write_text

    per_image = per_image_table(frame, matching, metrics)
    summary = summary_table(per_image, matching, metrics)
    paths = {
        "target_rates": Path(folder) / f"{prefix}target_rates.csv",
        "target_rates_per_image": Path(folder) / f"{prefix}target_rates_per_image.csv",
    }
    for key, table in (("target_rates", summary), ("target_rates_per_image", per_image)):
        table = table.copy()
        for column in ("target_bpp", "knob", "knob_min", "knob_max"):
            if column in table:
                table[column] = [knob_text(v) for v in table[column]]
        atomic_write_text(paths[key], table.to_csv(index=False, lineterminator="\n"))
    return paths


def knob_text(value: float) -> str:
    """A knob value (or target) as the CSV files and tables write it (:func:`bench.api.records.format_quality`);
    empty when there is none."""
    from bench.api.records import format_quality

    return format_quality(value) if isinstance(value, (int, float)) and math.isfinite(value) else ""


def status_counts(per_image: pd.DataFrame) -> dict[tuple[str, float], dict[str, int]]:
    """Per (codec, target) of :func:`per_image_table`'s rows: how many images ended in each status that
    occurred (:data:`bench.analysis.rate_match.STATUSES`)."""
    counts = per_image.groupby(["codec", "target_bpp"])["status"].value_counts()
    found: dict[tuple[str, float], dict[str, int]] = {}
    for (codec, target, status), count in counts.items():
        found.setdefault((codec, float(target)), {})[str(status)] = int(count)
    return found


def matched_records(
    frame: pd.DataFrame, matching: RateMatching
) -> tuple[pd.DataFrame, dict[tuple[str, float, str], float]]:
    """``frame`` (per-image records of a run) with each rate-matched codec's rows replaced by its
    matched points (module docstring): the chosen record of each image, ``quality`` the target (bpp),
    ``knob`` the knob value measured; and the knob value behind each (codec, target, image)."""
    if not matching.knobs or not len(frame):
        return frame, {}
    outcomes = _replayed_outcomes(frame, matching)
    measured = frame.groupby("codec")["image"].agg(lambda names: sorted(set(map(str, names))))
    keep = ~frame["codec"].astype(str).isin(set(matching.knobs))
    parts = [frame[keep].assign(knob=frame.loc[keep, "quality"])] if keep.any() else []
    lookup = {(str(c), float(q), str(i)): n for n, (c, q, i) in
              zip(frame.index, frame[["codec", "quality", "image"]].itertuples(index=False), strict=True)}  # fmt: skip
    chosen: dict[tuple[str, float, str], float] = {}
    for codec in sorted(matching.knobs):
        images = measured.get(codec, [])
        for position, target in enumerate(matching.targets):
            picks = []
            for image in images:
                outcome = outcomes[codec, image][position]
                if outcome.status(matching.tolerance) != "reached":
                    break
                picks.append((image, outcome.chosen[0]))
            else:
                if not picks:
                    continue
                rows = frame.loc[[lookup[codec, knob, image] for image, knob in picks]]
                parts.append(rows.assign(knob=rows["quality"].to_numpy(float), quality=float(target)))
                chosen.update({(codec, float(target), image): knob for image, knob in picks})
    if not parts:
        return frame.iloc[0:0].assign(knob=[]), chosen
    return pd.concat(parts, ignore_index=True), chosen


def matched_features(features: DatasetFeatures | None, codec: str,
                     chosen: Mapping[tuple[str, float, str], float]) -> DatasetFeatures | None:  # fmt: skip
    """A codec's stored dataset-metric features keyed by (target, image) of its matched points."""
    if features is None:
        return None
    decoded = {
        space: {(target, image): arrays[knob, image] for (c, target, image), knob in chosen.items()
                if c == codec and (knob, image) in arrays}
        for space, arrays in features.decoded.items()
    }  # fmt: skip
    return replace(features, decoded=decoded)


def unreached_text(frame: pd.DataFrame, matching: RateMatching, codec: str) -> str:
    """Why a rate-matched ``codec`` of the per-image records ``frame`` has no matched point (no target
    reached on every image): per target, the images reached and why the others were not; the rates
    (bpp) its probes gave."""
    rows = frame[frame["codec"].astype(str) == codec]
    counts = status_counts(per_image_table(rows, matching, []))
    parts = []
    for target in matching.targets:
        found = counts.get((codec, float(target)), {})
        others = ", ".join(f"{status} on {n}" for status, n in sorted(found.items()) if status != "reached")
        parts.append(f"{target:g} bpp reached on {found.get('reached', 0)} of {sum(found.values())} images"
                     + (f" ({others})" if others else ""))  # fmt: skip
    rates = rows["bpp"].to_numpy(float)
    span = f"; its probes gave {rates.min():.3g}-{rates.max():.3g} bpp" if len(rates) else ""
    return f"{codec} reached no target on every image: {', '.join(parts)}{span}"
