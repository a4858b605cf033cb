"""A run folder's saved files, as ``bench score`` and the report's viewer use them.

``run.json``, the reference images of the run's dataset (checked against the sha256 the run recorded),
the reconstructions (``--save-reconstructions``) and bitstreams (``--save-bitstreams``) a run saved (checked
against the size and sha256 the run recorded), the codecs that decode them (checked against the
description the store recorded) and the metric whose stored values are computed again to check that a
file still gives the pixels the run measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.api.files import file_stem, sha256_file
from bench.api.metric import Metric, MetricError
from bench.api.metric_registry import discover_metrics, resolve_metric_device
from bench.store.sqlite import describe_differences

__all__ = [
    "CHECK_METRICS",
    "RecordedCodecs",
    "RunFolderError",
    "canonical",
    "check_metric",
    "read_run_json",
    "reference_files",
    "saved_file",
    "saved_file_problem",
    "stem_candidates",
]


class RunFolderError(RuntimeError):
    """A run folder's files cannot be used: not a run folder, or reference images missing or changed."""


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def read_run_json(out: Path) -> dict[str, Any]:
    path = out / "run.json"
    if not out.is_dir() or not (out / "store.sqlite").is_file() or not path.is_file():
        raise RunFolderError(f"{out} is not a run folder (it needs store.sqlite and run.json, as bench run writes)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} cannot be read: {exc}") from None


def reference_files(meta: dict[str, Any], recorded: dict[str, str], images: set[str], *, dataset: str | None = None,
                    data_dir: Path | None = None, offline: bool = False,
                    moved: str = "give the run's dataset folder with --dataset") -> dict[str, str]:  # fmt: skip
    """Image name -> the path of its reference file here, each checked against the sha256 the run
    recorded (:class:`RunFolderError` naming the images that changed or are missing). The dataset is the
    one ``run.json`` (``meta``) records, or ``dataset`` (a name or folder) where given; ``data_dir``: where
    named datasets live; ``offline``: never download it; ``moved``: what to do when it is not where run.json says."""
    from bench.data.datasets import DatasetError, resolve_dataset

    described = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    if dataset:
        spec = dataset
    elif described.get("source") == "manifest":
        spec = described.get("name", "")
    else:
        spec = described.get("given") or (meta.get("config") or {}).get("dataset") or ""
    try:
        found_dataset = resolve_dataset(spec, data_dir, download=not offline)
    except DatasetError as exc:
        hint = "" if dataset else f" (the dataset as run.json records it; {moved} if it moved)"
        raise RunFolderError(f"{exc}{hint}") from None
    found = {item.name: item for item in found_dataset.images}
    missing = sorted(images - found.keys())
    if missing:
        raise RunFolderError(f"the reference images {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} of "
                             f"the run are not in {found_dataset.root}; {moved}")  # fmt: skip
    changed = sorted(name for name in images if recorded.get(name) and found[name].sha256 != recorded[name])
    if changed:
        first = changed[0]
        raise RunFolderError(
            f"the reference image {first}{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''} has changed "
            f"since the run measured it (sha256 {recorded[first][:12]}... then, {found[first].sha256[:12]}... now in "
            f"{found_dataset.root}): its scores would compare the decoded image with another image; restore the original"
        )
    return {name: str(found[name].path) for name in images}


def stem_candidates(image: str, shared: bool) -> list[str]:
    """File stems the run may have saved ``image``'s files under (:func:`~bench.api.files.file_stem`):
    the one the dataset as it is now gives first, then the other (the dataset may have changed)."""
    return [file_stem(image, shared), file_stem(image, not shared)]


def saved_file(folder: Path, stems: list[str], extension: str | None) -> Path | None:
    """The first file ``<stem>.<extension>`` (any extension when None) of ``folder``, or None."""
    for stem in stems:
        if extension is not None:
            if (folder / f"{stem}.{extension}").is_file():
                return folder / f"{stem}.{extension}"
            continue
        for path in sorted(folder.glob(f"{stem}.*")) if folder.is_dir() else ():
            if path.stem == stem and path.suffix != ".tmp" and path.is_file():
                return path
    return None


class RecordedCodecs:
    """The codecs that decode saved bitstreams, checked against what the store recorded of them."""

    def __init__(self, plugins: tuple[str, ...], recorded: dict[str, dict], device: str, half: bool, offline: bool):
        self.plugins, self.recorded, self.device, self.half, self.offline = plugins, recorded, device, half, offline
        self._registry = None
        self._codecs: dict[str, Any] = {}

    def problem(self, name: str) -> str | None:
        """Why the codec ``name`` cannot decode the run's bitstreams (or encode its images as the run did)
        here, or None."""
        try:
            self.codec(name)
        except RunFolderError as exc:
            return str(exc)
        return None

    def codec(self, name: str) -> Any:
        """The codec ``name`` (a :class:`~bench.api.codec.Codec`, made once) as the store recorded it, else
        :class:`RunFolderError` saying why not."""
        if name in self._codecs:
            return self._codecs[name]
        from bench.api.codec_registry import RegistryError, discover
        from bench.run.config import RunSetupError
        from bench.run.selection import select_codecs

        try:
            if self._registry is None:
                self._registry = discover(self.plugins)
            (codec,), _ = select_codecs(self._registry, [name], self.device, offline=self.offline, half=self.half)
        except (RegistryError, RunSetupError) as exc:
            cls = (self.recorded.get(name) or {}).get("class", "")
            hint = "; give its plugin file with --plugin" if cls.startswith("codec_bench_plugin_") else ""
            raise RunFolderError(f"cannot decode its bitstreams here: {exc}{hint}") from None
        diffs = describe_differences(self.recorded.get(name) or {}, codec.describe())
        if diffs:
            raise RunFolderError(
                f"the codec here is not the one that made its bitstreams ({'; '.join(diffs[:4])}), so they "
                "could decode to other pixels than the run measured; use the recorded versions, or re-run into a new "
                "folder with --save-reconstructions"
            )
        self._codecs[name] = codec
        return codec


#: The metrics computed again from a saved file, the first that the run stored with the code found here,
#: to check that the file still gives the pixels the run measured (cheap, and exact: same code, same pixels).
CHECK_METRICS = ("psnr_rgb", "psnr_y")


def check_metric(store, plugins: tuple[str, ...], device: str) -> Metric | None:
    """The metric of :data:`CHECK_METRICS` whose stored values a scoring computes again, or None."""
    stored = store.metric_descriptions()
    registry = discover_metrics(plugins)
    for name in CHECK_METRICS:
        if name not in store.metrics() or not stored.get(name):
            continue
        try:
            (metric,) = registry.create((name,), resolve_metric_device(registry, (name,), device))
        except MetricError:
            continue
        if canonical(stored[name]) == canonical(metric.describe()):
            return metric
    return None


def saved_file_problem(record, reconstruction: Path | None, bitstream: Path | None) -> str | None:
    """Why the saved file a record would be scored from is not the one the run saved ("stage: why",
    naming the file), from its size and the sha256 the run recorded; None when nothing says so."""
    kind, path = ("reconstruction", reconstruction) if reconstruction is not None else ("bitstream", bitstream)
    stage = "reconstruction" if kind == "reconstruction" else "decode"
    if kind == "bitstream" and path.stat().st_size != record.bytes:
        return (f"{stage}: {path} has {path.stat().st_size} bytes, the run measured {record.bytes}: not the "
                "bitstream the run measured")  # fmt: skip
    recorded = record.extra.get(f"{kind}_sha256")
    if recorded and (found := sha256_file(path)) != recorded:
        return (f"{stage}: {path} has changed since the run saved it (sha256 {found[:12]}... now, {recorded[:12]}... "
                f"then): not the {kind} the run measured")  # fmt: skip
    return None
