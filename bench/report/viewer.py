"""The report page's image viewer: which decoded images it shows, where they come from, how they are kept.

For a few images of the run (``bench report --viewer-images``: a number, spread evenly over the images in
name order, or names) and a few rates (``--viewer-bpp``), each run curve's decode nearest to each rate is
shown: per image, the record whose bpp is nearest the rate (the lower one on a tie); a rate-matched run's
curves (``bench run --target-bpp``) are shown at their own targets, each image at the knob the rate
matching chose for it (the curve's points, :func:`bench.analysis.curves.curves_from_run`).

Each decoded image comes from, in this order of preference:

1. the run's saved reconstruction (``--save-reconstructions``), which must have the sha256 the run recorded;
2. its saved bitstream (``--save-bitstreams``), which must have the size and sha256 the run recorded,
   decoded by the codec as the store recorded it (:class:`bench.run.saved.RecordedCodecs`);
3. the reference image encoded again by that codec at the recorded knob, whose bytes must have the size the
   run recorded.

And where the run stored ``psnr_rgb`` (else ``psnr_y``) computed by the code found here, the value computed
again on the decoded image must be the stored one. A decode that fails a check is refused, never shown: the
page lists it with why. The reference images must have the sha256 the run recorded.

Images are kept as lossless WebP (the exact pixels; never a lossy re-encode), each as a data URI inside a
small script ``viewer/<key>.js`` that the page loads when it shows the image: a page opened from
``file://`` may read the pixels of a data URI (its error map needs them) but not those of an image file
beside it. A Kodak image takes about 0.5 MB as lossless WebP and 0.7 MB in its script, so the default (2
images, 3 rates) of the default Kodak run (9 codecs) stays under about 40 MB; :func:`build_viewer` returns
the bytes written, which the page states.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.analysis.curves import Curve
from bench.api.files import atomic_write_text, folder_name
from bench.api.metric import Column
from bench.api.records import format_quality

__all__ = [
    "DEFAULT_BPPS",
    "DEFAULT_IMAGES",
    "VIEWER_DIR",
    "ViewerChoice",
    "build_viewer",
    "chosen_images",
    "viewer_images",
]

VIEWER_DIR = "viewer"
DEFAULT_IMAGES = 2
DEFAULT_BPPS = (0.25, 0.5, 1.0)
#: lossless WebP at its fastest effort: 0.04 s and about 0.54 MB for a Kodak image (PNG: 0.11 s, 0.78 MB)
_WEBP = {"lossless": True, "quality": 0, "method": 0}
_WEBP_MAX_SIDE = 16383


@dataclass(frozen=True)
class ViewerChoice:
    """What the viewer shows: ``images`` (a count spread over the images, or names; 0: no viewer) at the
    rates ``bpps`` (bits per pixel; a rate-matched run's own targets replace them)."""

    images: int | tuple[str, ...] = DEFAULT_IMAGES
    bpps: tuple[float, ...] = DEFAULT_BPPS


@dataclass
class _Viewer:
    """The viewer's part of the page's JSON document, and the files written."""

    images: list[dict[str, Any]] = field(default_factory=list)
    targets: list[float] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    refused_keys: set[str] = field(default_factory=set)
    files: list[Path] = field(default_factory=list)

    def refuse(self, where: str, why: str) -> None:
        """Say that the decode ``where`` (codec, knob, image) is not shown, and ``why``."""
        self.refused.append(f"{where}: {why}")

    def document(self) -> dict[str, Any]:
        written = sum(path.stat().st_size for path in self.files)
        return {"images": self.images, "targets": self.targets, "entries": self.entries,
                "refused": _grouped(self.refused), "bytes": written, "folder": VIEWER_DIR}  # fmt: skip


def _grouped(refusals: list[str]) -> list[str]:
    """Refusals ("where: why") with the same why said once: "N decodes (first where, ...): why" (a run whose
    dataset is not here refuses every decode for one reason)."""
    by_why: dict[str, list[str]] = {}
    for refusal in refusals:
        where, _, why = refusal.partition(": ")
        by_why.setdefault(why, []).append(where)
    return [f"{wheres[0]}: {why}" if len(wheres) == 1 else f"{len(wheres)} decodes ({wheres[0]}, ...): {why}"
            for why, wheres in by_why.items()]  # fmt: skip


def viewer_images(text: str) -> int | tuple[str, ...]:
    """``--viewer-images``: ``2`` -> 2 (0: no viewer), ``kodim04.png,kodim23.png`` -> the names."""
    import argparse

    from bench.api.options import comma_list

    if text.strip().isdigit():
        return int(text)
    try:
        return comma_list(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a number of images or their names, got {text!r}") from None


def chosen_images(names: Sequence[str], choice: int | tuple[str, ...]) -> list[str]:
    """The images the viewer shows: the names given that the run has (in their order), or ``choice`` of
    ``names`` spread evenly over them in name order (the first always among them)."""
    if isinstance(choice, tuple):
        return [name for name in choice if name in set(names)]
    ordered = sorted(names)
    count = min(choice, len(ordered))
    return [ordered[(i * len(ordered)) // count] for i in range(count)] if count else []


def _key(*parts: str) -> str:
    """A file stem for the viewer from ``parts``: readable (letters, digits, ``._`` kept) and unique (8 hex
    digits of their sha256: ``a b`` and ``a_b`` differ)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:8]
    return "-".join(re.sub(r"[^A-Za-z0-9._]+", "_", part).strip("_") or "_" for part in parts) + "-" + digest


def _lossless_script(pixels: np.ndarray, key: str, folder: Path) -> Path:
    """Write ``pixels`` (H x W x 3 uint8) as lossless WebP in a data URI handed to the page's
    ``benchViewerImage(key, uri)``; return the script's path."""
    from PIL import Image

    buffer = io.BytesIO()
    kind = "webp" if max(pixels.shape[:2]) <= _WEBP_MAX_SIDE else "png"  # WebP's limit; PNG is lossless too
    Image.fromarray(pixels, "RGB").save(buffer, kind.upper(), **(_WEBP if kind == "webp" else {"compress_level": 1}))
    uri = f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    path = folder / f"{key}.js"
    atomic_write_text(path, f'benchViewerImage("{key}", "{uri}");\n')
    return path


def _nearest_rows(per_image: Any, image: str, targets: Sequence[float]) -> dict[float, Any]:
    """Target -> the record (a row of ``per_image``) of ``image`` whose bpp is nearest it."""
    rows = per_image[(per_image["image"] == image) & per_image["bpp"].notna()].sort_values(["bpp", "quality"])
    found = {}
    for target in targets:
        if len(rows):
            found[target] = rows.iloc[int(np.argmin(np.abs(rows["bpp"].to_numpy(dtype=float) - target)))]
    return found


class _RunFolder:
    """One run folder's store, recorded codecs, reference images and check metric, opened when first needed."""

    def __init__(self, folder: Path, offline: bool):
        from bench.api.plugins import recorded_plugin_files
        from bench.run.saved import RecordedCodecs, read_run_json
        from bench.store.sqlite import Store

        self.folder = folder
        self.meta = read_run_json(folder)
        self.offline = offline
        self.store = Store(folder / "store.sqlite", read_only=True)
        self.records = {(r.codec, r.quality, r.image): r for r in self.store.records()}
        config = self.meta.get("config") or {}
        self.device = str(config.get("device", "cpu"))
        self.plugins = tuple(recorded_plugin_files(self.meta))
        self.codecs = RecordedCodecs(self.plugins, self.store.codec_descriptions(), self.device,
                                     bool(config.get("half", False)), offline)  # fmt: skip
        self.hashes = dict((self.store.get_meta("dataset") or {}).get("images", {}))
        self._references: dict[str, np.ndarray] = {}
        self._paths: dict[str, str] | Exception | None = None  # the run's reference files, found once
        self._check: Any = False

    def name_of(self, sha256: str | None, fallback: str) -> str:
        """The run's own name of the image with ``sha256`` (curves from several runs may rename images)."""
        return next((name for name, sha in self.hashes.items() if sha == sha256), fallback)

    def reference(self, image: str) -> np.ndarray:
        from bench.data.images import load_rgb8
        from bench.run.saved import reference_files

        if image not in self._references:
            if self._paths is None:  # the dataset is found and checked once for all the run's images
                try:
                    self._paths = reference_files(self.meta, self.hashes, set(self.hashes) | {image},
                                                  offline=self.offline,
                                                  moved="make the report where the run's images are")  # fmt: skip
                except Exception as exc:  # every decode of this run is refused with it, without trying again
                    self._paths = exc
            if isinstance(self._paths, Exception):
                raise self._paths
            self._references[image] = load_rgb8(self._paths[image]).pixels
        return self._references[image]

    def check_metric(self) -> Any:
        from bench.run.saved import check_metric

        if self._check is False:
            self._check = check_metric(self.store, self.plugins, self.device)
        return self._check

    def close(self) -> None:
        self.store.close()


def _open_run(folder: Path, offline: bool) -> _RunFolder | str:
    """The run folder opened for the viewer, or why it cannot be (a run without its store: records.csv alone)."""
    from bench.run.saved import RunFolderError
    from bench.store.sqlite import StoreError

    try:
        return _RunFolder(folder, offline)
    except (RunFolderError, StoreError, OSError) as exc:
        return f"no decoded image can be had: {exc}"


def _decoded(run: _RunFolder, record: Any) -> tuple[np.ndarray, str]:
    """The pixels the run measured for ``record`` and where they came from; ValueError saying why not."""
    from PIL import Image

    from bench.run.saved import RunFolderError, saved_file, saved_file_problem, stem_candidates

    sub = Path(folder_name(record.codec), format_quality(record.quality))
    stems = stem_candidates(record.image, shared=False)
    reconstruction = saved_file(run.folder / "reconstructions" / sub, stems, "png")
    bitstream = None if reconstruction else saved_file(run.folder / "bitstreams" / sub, stems, None)
    if reconstruction or bitstream:
        if problem := saved_file_problem(record, reconstruction, bitstream):
            raise ValueError(problem)
    try:
        if reconstruction:
            with Image.open(reconstruction) as im:
                return np.asarray(im.convert("RGB")), "saved reconstruction"
        codec = run.codecs.codec(record.codec)
        if bitstream:
            return codec.decode(bitstream.read_bytes()), "saved bitstream, decoded again"
        data = codec.encode(run.reference(record.image), record.quality)
    except RunFolderError as exc:
        raise ValueError(str(exc)) from None
    if len(data) != record.bytes:
        raise ValueError(f"encoded again, it takes {len(data)} bytes, the run measured {record.bytes}: not the "
                         "bitstream the run measured (keep the run's --save-bitstreams or --save-reconstructions)")  # fmt: skip
    return codec.decode(data), "encoded again (same size)"


def _checked(run: _RunFolder, record: Any, pixels: np.ndarray, source: str) -> str:
    """``source`` with the check made; ValueError when the decode is not what the run measured."""
    reference = run.reference(record.image)
    if pixels.shape != reference.shape:
        raise ValueError(f"the decoded image is {pixels.shape[1]}x{pixels.shape[0]}, the run measured "
                         f"{reference.shape[1]}x{reference.shape[0]}")  # fmt: skip
    metric = run.check_metric()
    stored = record.metrics.get(metric.name) if metric is not None else None
    if stored is None or not math.isfinite(stored):
        if source.startswith("encoded again"):
            raise ValueError("the run stored no PSNR computed by the code here to check a decode made again with")
        return source
    value = float(metric.compute(reference, pixels))
    if value != stored:
        raise ValueError(f"{metric.name} of this decode is {value!r}, the run measured {stored!r}")
    return f"{source}, {metric.name} equal to the run's"


def _values(row: Any, columns: Sequence[Column]) -> dict[str, float | None]:
    found = {}
    for column in columns:
        value = row.get(column.name)
        found[column.name] = float(value) if value is not None and math.isfinite(float(value)) else None
    return found


def build_viewer(curves: Sequence[Curve], columns: Sequence[Column], choice: ViewerChoice, out: Path,
                 offline: bool = False) -> dict[str, Any] | None:  # fmt: skip
    """Write the viewer's images into ``out/viewer/`` (emptied first) and return the page's ``viewer``
    document (module docstring), or None when it shows nothing (``choice.images`` is 0, or no run curve)."""
    folder = out / VIEWER_DIR
    for stale in folder.glob("*.js") if folder.is_dir() else ():
        stale.unlink()
    run_curves = [c for c in curves if c.per_image is not None and c.kind != "published" and len(c.per_image)]
    names = sorted({str(n) for c in run_curves for n in c.per_image["image"]})
    images = chosen_images(names, choice.images)
    unknown = [name for name in choice.images if name not in images] if isinstance(choice.images, tuple) else []
    if not images and not unknown:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    viewer = _Viewer(refused=[f"{name}: not an image of the report's runs (--viewer-images)" for name in unknown])
    runs: dict[str, _RunFolder | str] = {}
    try:
        for curve in run_curves:
            if curve.source not in runs:
                runs[curve.source] = _open_run(Path(curve.source), offline)
            run = runs[curve.source]
            if isinstance(run, str):
                viewer.refuse(curve.label, run)
            else:
                _add_curve(viewer, curve, run, images, choice, columns, folder)
    finally:
        for run in runs.values():
            if not isinstance(run, str):
                run.close()
    viewer.targets = sorted({t for entry in viewer.entries for t in entry["targets"]})
    return viewer.document()


def _add_curve(viewer: _Viewer, curve: Curve, run: _RunFolder, images: list[str], choice: ViewerChoice,
               columns: Sequence[Column], folder: Path) -> None:  # fmt: skip
    """Add ``curve``'s decodes of ``images`` nearest each rate (a rate-matched curve: at each of its targets, the
    decode its rate matching chose) to ``viewer``."""
    per_image = curve.per_image
    matched = "knob" in per_image.columns  # a rate-matched curve: one point per target, its knob per image
    for image in images:
        own = run.name_of(curve.image_sha256.get(image), image)
        if matched:
            rows = {float(row["quality"]): row for _, row in per_image[per_image["image"] == image].iterrows()}
        else:
            rows = _nearest_rows(per_image, image, choice.bpps)
        for target, row in rows.items():
            knob = float(row["knob"] if matched else row["quality"])
            if math.isfinite(knob):
                _add_entry(viewer, curve, run, image, own, float(target), knob, row, columns, folder)


def _add_entry(viewer: _Viewer, curve: Curve, run: _RunFolder, image: str, own: str, target: float, knob: float,
               row: Any, columns: Sequence[Column], folder: Path) -> None:  # fmt: skip
    """Add the decode of ``image`` by ``curve``'s codec at ``knob`` (``row``: its per-image values), shown for
    ``target``, or its refusal."""
    key = _key(image, curve.label, format_quality(knob))
    for entry in viewer.entries:
        if entry["key"] == key:  # the same decode is the nearest to several rates
            entry["targets"].append(target)
            return
    if key in viewer.refused_keys:
        return
    record = run.records.get((curve.codec, knob, own))
    where = f"{curve.label} at {format_quality(knob)} on {image}"
    if record is None:
        viewer.refuse(where, f"no record of it in {run.folder / 'store.sqlite'}")
        return
    try:
        reference = run.reference(own)
        pixels, source = _decoded(run, record)
        source = _checked(run, record, pixels, source)
    except Exception as exc:  # a codec or file that cannot give the measured pixels: refused, said on the page
        viewer.refuse(where, str(exc))
        viewer.refused_keys.add(key)
        return
    if not any(entry["name"] == image for entry in viewer.images):
        viewer.files.append(_lossless_script(reference, _key(image, "original"), folder))
        viewer.images.append({"name": image, "width": int(reference.shape[1]), "height": int(reference.shape[0]),
                              "key": _key(image, "original")})  # fmt: skip
    viewer.files.append(_lossless_script(np.ascontiguousarray(pixels), key, folder))
    viewer.entries.append({
        "image": image, "curve": curve.label, "targets": [target], "quality": knob,
        "bpp": float(record.bpp), "bytes": int(record.bytes), "values": _values(row, columns), "key": key,
        "source": source,
    })  # fmt: skip
