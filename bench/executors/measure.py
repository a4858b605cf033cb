"""What a worker process does with one task: measure a codec at a quality on an image, or score a record.

This is what the processes that run tasks execute, whichever executor started them
(:mod:`bench.api.executor`): :meth:`Measurer.run` takes either kind of task. Measuring is
encode, decode from the bytes, metrics; scoring (``bench score``) is the metrics between a reference
image and the image a finished run decoded (its saved reconstruction, or its saved bitstream decoded
again). Timing conventions:

* ``encode_s``/``decode_s`` are wall-clock seconds (``time.perf_counter``) of the codec's
  ``encode``/``decode`` call alone, the median over ``repeat`` calls;
* each process makes one untimed encode+decode per codec before its first measurement (warm-up:
  library loading, first-call allocations), which is not recorded;
* the bytes are decoded by a second instance of the codec, not the one that encoded them, so no
  state can pass from encoder to decoder except the bytes;
* codecs and numerical libraries run single-threaded (see :func:`pin_threads`).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import statistics
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

import bench_codecs
from bench.api.codec import Codec
from bench.api.codec_registry import discover
from bench.api.files import atomic_write, atomic_write_bytes, folder_name
from bench.api.metric import DatasetMetric
from bench.api.metric_registry import BUILTIN_MODULES as BUILTIN_METRIC_MODULES
from bench.api.metric_registry import discover_metrics, feature_extractors
from bench.api.records import Failure, Record, Scores, format_quality
from bench.api.task import MeasureOptions, ScoreTask, Task
from bench.data.images import load_rgb8
from bench.executors.peak_memory import PeakMemory
from bench.store.provenance import THREAD_ENV, WORKER_THREADS

__all__ = ["Measurer", "pin_threads", "init_worker", "run_in_worker"]

# A fork server imports this module once for all its workers: load the built-in codecs and metrics here too.
for _module in (*bench_codecs.BUILTIN_MODULES, *BUILTIN_METRIC_MODULES):
    importlib.import_module(_module)

#: Reference images (bench score) and their dataset-metric features (both) a process keeps: tasks come
#: image by image, so the last few suffice and memory does not grow with the dataset.
KEPT_REFERENCES = 4


def pin_threads() -> None:
    """Make this process's numerical libraries single-threaded (``provenance.WORKER_THREADS``)."""
    for name in THREAD_ENV:
        os.environ[name] = str(WORKER_THREADS[name])
    import cv2

    cv2.setNumThreads(WORKER_THREADS["opencv"])


def _check_decoded(decoded: Any, shape: tuple[int, ...]) -> None:
    """ValueError unless ``decoded`` is a uint8 array of ``shape``."""
    if not isinstance(decoded, np.ndarray) or decoded.dtype != np.uint8 or decoded.shape != shape:
        got = f"{decoded.dtype} {decoded.shape}" if isinstance(decoded, np.ndarray) else type(decoded).__name__
        raise ValueError(f"decoded image is {got}, expected uint8 {shape}")


def _check_serialisable(extra: dict[str, Any]) -> None:
    try:
        json.dumps(extra, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"last_stats() or analyze() returned values that are not JSON-serialisable ({exc}); "
            "return Python numbers and strings (e.g. float(x) for numpy scalars)"
        ) from None


def _combined_stats(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """One set of a codec's ``last_stats`` from those of each repeated call: memory (keys ending in ``_mb``)
    the highest, other numbers (the time split) the median, anything else the last call's."""
    combined: dict[str, Any] = {}
    for key in dict.fromkeys(key for call in calls for key in call):
        values = [call[key] for call in calls if key in call]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numbers and key.endswith("_mb"):
            combined[key] = max(values)
        elif numbers:
            combined[key] = statistics.median(values)
        else:
            combined[key] = values[-1]
    return combined


def _memory(encode: list[tuple[float | None, float | None]], decode: list[tuple[float | None, float | None]]):
    """From each call's (resident memory at its start, peak during it), in MiB: ``encode_peak_rss_mb``
    and ``decode_peak_rss_mb`` (the highest peak over repeats) and ``encode_rss_start_mb`` and
    ``decode_rss_start_mb`` (the start of that call); nothing where memory cannot be measured."""
    found = {}
    for what, calls in (("encode", encode), ("decode", decode)):
        if calls and all(None not in call for call in calls):
            start_mb, peak_mb = max(calls, key=lambda call: call[1])
            found.update({f"{what}_peak_rss_mb": peak_mb, f"{what}_rss_start_mb": start_mb})
    return found


def _error_text(exc: BaseException, culprit: str) -> str:
    """One line on ``exc``; ``culprit`` (``the codec``, ...) named when it exited instead of raising."""
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return f"{culprit} raised {type(exc).__name__} ({exc!r}); codecs and metrics must raise exceptions, not exit"
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


class Measurer:
    """Runs tasks in one process: keeps one encoding and one decoding instance per codec it measures,
    one decoding instance per codec whose saved bitstreams it scores, and the last reference images."""

    def __init__(self, options: MeasureOptions) -> None:
        self.options = options
        self.registry = discover(options.plugins)
        metrics = discover_metrics(options.plugins).create(options.metrics, options.metric_device)
        self.metrics = [m for m in metrics if m.per_image]
        self.extractors = feature_extractors(metrics)  # dataset metrics (FID, ...), by feature name
        self._metrics_by_name = {m.name: m for m in metrics}
        self._codecs: dict[str, tuple[Codec, Codec]] = {}
        self._decoders: dict[str, Codec] = {}
        self._images: dict[str, np.ndarray] = {}
        self._references: dict[str, np.ndarray] = {}
        self._reference_features: dict[str, dict[str, np.ndarray]] = {}
        self._memory = PeakMemory()

    def reference_features(
        self, name: str, image: np.ndarray, extractors: dict[str, DatasetMetric] | None = None
    ) -> dict[str, np.ndarray]:
        """The features of the reference image ``name`` by feature name, for ``extractors`` (default:
        every dataset metric's); each extracted once per image in this process (for the last
        ``KEPT_REFERENCES`` images: tasks come image by image)."""
        extractors = self.extractors if extractors is None else extractors
        found = self._reference_features.get(name)
        if found is None:  # tasks come image by image: keep the last few images' features only
            if len(self._reference_features) >= KEPT_REFERENCES:
                self._reference_features.pop(next(iter(self._reference_features)))
            found = self._reference_features[name] = {}
        for space, extractor in extractors.items():
            if space not in found:
                found[space] = extractor.extract(image)
        return {space: found[space] for space in extractors}

    def _pixels(self, task: Task) -> np.ndarray:
        """The task's image, mapped read-only from the file the runner staged (once per image)."""
        pixels = self._images.get(task.image)
        if pixels is None:
            pixels = self._images[task.image] = np.asarray(np.load(task.source, mmap_mode="r"))
        return pixels

    def _codec_pair(self, name: str, warm_up_on: np.ndarray, quality: float) -> tuple[Codec, Codec]:
        pair = self._codecs.get(name)
        if pair is None:
            entry = self.registry.get(name)
            pair = tuple(entry.create(self.options.device, self.options.half) for _ in range(2))
            try:  # warm-up, not recorded; a failure here shows up again in the measurement
                pair[1].decode(pair[0].encode(warm_up_on, quality))
            except BaseException:  # noqa: B036 (a codec calling sys.exit must not end the worker)
                pass
            self._codecs[name] = pair
        return pair

    def codec_versions(self, name: str) -> dict[str, str] | None:
        """The library versions of the codec ``name`` as this process runs it (``versions()`` of its
        encoding instance, or of its decoding one when it only decodes); None before its first task here."""
        pair = self._codecs.get(name)
        codec = pair[0] if pair is not None else self._decoders.get(name)
        return None if codec is None else dict(codec.versions())

    def run(self, task: Task | ScoreTask, pixels: np.ndarray | None = None) -> Record | Scores | Failure:
        """Run ``task`` whatever its kind: measure a :class:`~bench.api.task.Task` (:meth:`measure`), score
        a :class:`~bench.api.task.ScoreTask` (:meth:`score`). Executors call this one method."""
        if isinstance(task, ScoreTask):
            return self.score(task)
        return self.measure(task, pixels)

    def measure(self, task: Task, pixels: np.ndarray | None = None) -> Record | Failure:
        """Measure ``task``: its image's ``pixels`` when the executor hands them over (H x W x 3
        uint8; Ray: from the object store), else mapped from the file ``task.source``."""
        stage = "setup"
        try:
            image = self._pixels(task) if pixels is None else pixels
            encoder, decoder = self._codec_pair(task.codec, image, task.quality)
            repeat = max(1, self.options.repeat)

            stage = "encode"
            encode_runs, streams, encode_memory, encode_stats = self._timed(
                lambda: encoder.encode(image, task.quality), encoder, repeat
            )
            data = streams[0]
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"encode returned {type(data).__name__}, expected bytes")
            data = bytes(data)
            if not data:
                raise ValueError("encode returned no bytes")

            stage = "decode"
            decode_runs, decoded_images, decode_memory, decode_stats = self._timed(
                lambda: decoder.decode(data), decoder, repeat
            )
            decoded = decoded_images[-1]
            _check_decoded(decoded, image.shape)

            stage = "metrics"
            start = time.perf_counter()
            values = {metric.name: float(metric.compute(image, decoded)) for metric in self.metrics}
            features = {space: extractor.extract(decoded) for space, extractor in self.extractors.items()}
            reference_features = self.reference_features(task.image, image) if features else {}
            metrics_s = time.perf_counter() - start

            stage = "analyze"
            analysis = dict(encoder.analyze(image, task.quality))

            stage = "stats"
            extra = {"metrics_s": metrics_s, **_memory(encode_memory, decode_memory), **encode_stats, **decode_stats,
                     **analysis}  # fmt: skip
            if repeat > 1:
                extra.update(
                    encode_runs=encode_runs,
                    decode_runs=decode_runs,
                    repeat_identical=all(s == streams[0] for s in streams),
                )
            _check_serialisable(extra)

            stage = "save"
            extra.update(self._save(task, encoder, data, decoded))
        except BaseException as exc:  # noqa: B036 (sys.exit or KeyboardInterrupt from a codec fails this task only)
            return Failure(task.codec, task.quality, task.image, stage, _error_text(exc, "the codec"))

        height, width = image.shape[:2]
        return Record(
            codec=task.codec,
            quality=float(task.quality),
            image=task.image,
            width=width,
            height=height,
            bytes=len(data),
            bpp=8.0 * len(data) / (width * height),
            metrics=values,
            encode_s=statistics.median(encode_runs),
            decode_s=statistics.median(decode_runs),
            extra=extra,
            features=features,
            reference_features=reference_features,
        )

    def _timed(self, call: Callable[[], Any], codec: Codec, repeat: int):
        """Run ``call`` (one of ``codec``'s calls) ``repeat`` times: (each call's seconds, each call's result,
        each call's (resident memory at its start, peak during it) in MiB, ``codec``'s ``last_stats``
        combined over the calls); the clock covers the call alone, the memory probe runs around it."""
        runs, results, memory, stats = [], [], [], []
        for _ in range(repeat):
            start_mb = self._memory.reset()
            start = time.perf_counter()
            results.append(call())
            runs.append(time.perf_counter() - start)
            peak_mb = self._memory.read_mb()
            # Linux's resident-size counters lag by a few pages: the peak is at least what the call started with
            memory.append((start_mb, None if peak_mb is None or start_mb is None else max(peak_mb, start_mb)))
            stats.append(dict(codec.last_stats()))
        return runs, results, memory, _combined_stats(stats)

    def score(self, task: ScoreTask) -> Scores | Failure:
        """Score ``task``: its metrics between its reference image and the image the run decoded (its
        saved reconstruction, else its saved bitstream decoded by the codec as the run did); a
        :class:`~bench.api.records.Failure` of stage ``reference``, ``reconstruction``, ``decode`` or
        ``metrics`` when that step fails."""
        stage = "reference"
        try:
            reference = self._reference(task)
            stage = "reconstruction" if task.reconstruction else "decode"
            decoded = self._saved_reconstruction(task) if task.reconstruction else self._decoded_bitstream(task)
            _check_decoded(decoded, reference.shape)
            stage = "metrics"
            metrics = [self._metrics_by_name[name] for name in task.metrics]
            values = {m.name: float(m.compute(reference, decoded)) for m in metrics if m.per_image}
            extractors = feature_extractors(metrics)
            features = {space: extractor.extract(decoded) for space, extractor in extractors.items()}
            reference_features = self.reference_features(task.image, reference, extractors)
        except BaseException as exc:  # noqa: B036 (a codec or metric calling sys.exit fails this task only)
            return Failure(task.codec, task.quality, task.image, stage, _error_text(exc, "the codec or a metric"))
        return Scores(task.codec, float(task.quality), task.image, values, features, reference_features)

    def _reference(self, task: ScoreTask) -> np.ndarray:
        """The task's reference image (the last ``KEPT_REFERENCES`` kept decoded), of the size the run measured."""
        pixels = self._references.get(task.image)
        if pixels is None:
            if len(self._references) >= KEPT_REFERENCES:
                self._references.pop(next(iter(self._references)))
            pixels = self._references[task.image] = load_rgb8(task.reference).pixels
        if pixels.shape != (task.height, task.width, 3):
            raise ValueError(f"the reference image is {pixels.shape[1]}x{pixels.shape[0]}, the run measured "
                             f"{task.width}x{task.height}")  # fmt: skip
        return pixels

    @staticmethod
    def _saved_reconstruction(task: ScoreTask) -> np.ndarray:
        with Image.open(task.reconstruction) as im:
            if im.mode != "RGB":
                raise ValueError(f"{task.reconstruction} is a {im.mode} image, not the RGB one the run saved")
            return np.asarray(im)

    def _decoded_bitstream(self, task: ScoreTask) -> Any:
        """The task's saved bitstream, of the size the run measured, decoded by a decoding instance of its codec."""
        data = Path(task.bitstream).read_bytes()
        if len(data) != task.bytes:
            raise ValueError(f"{task.bitstream} has {len(data)} bytes, the run measured {task.bytes}: not the "
                             "bitstream the run measured")  # fmt: skip
        decoder = self._decoders.get(task.codec)
        if decoder is None:
            decoder = self._decoders[task.codec] = self.registry.get(task.codec).create(
                self.options.device, self.options.half
            )
        return decoder.decode(data)

    def _save(self, task: Task, codec: Codec, data: bytes, decoded: np.ndarray) -> dict[str, str]:
        """Save what the options ask for (the decoding check's files, the bitstream, the reconstruction as
        PNG); the sha256 of each saved bitstream and reconstruction (``bitstream_sha256``,
        ``reconstruction_sha256``), which ``bench score`` checks before using them."""
        if task.check_path:

            def save_pixels(tmp: Path) -> None:
                with open(tmp, "wb") as fh:
                    np.save(fh, decoded)

            atomic_write_bytes(task.check_path + ".bits", data)
            atomic_write(task.check_path + ".npy", save_pixels)
        stem = task.stem or Path(task.image).stem
        sub = Path(folder_name(task.codec), format_quality(task.quality))
        saved = {}
        if self.options.bitstreams_dir is not None:
            atomic_write_bytes(self.options.bitstreams_dir / sub / f"{stem}.{codec.extension}", data)
            saved["bitstream_sha256"] = hashlib.sha256(data).hexdigest()
        if self.options.reconstructions_dir is not None:
            png = io.BytesIO()
            Image.fromarray(decoded).save(png, format="PNG")
            atomic_write_bytes(self.options.reconstructions_dir / sub / f"{stem}.png", png.getvalue())
            saved["reconstruction_sha256"] = hashlib.sha256(png.getvalue()).hexdigest()
        return saved


_measurer: Measurer | None = None  # one per worker process, set by init_worker


def init_worker(options: MeasureOptions) -> None:
    """Process-pool initializer: single-threaded libraries and a Measurer for this process."""
    global _measurer
    pin_threads()
    _measurer = Measurer(options)


def run_in_worker(task: Task | ScoreTask) -> Record | Scores | Failure:
    """Run ``task`` (measure it, or score it: :meth:`Measurer.run`) in a process that :func:`init_worker`
    prepared."""
    assert _measurer is not None, "init_worker was not called in this process"
    return _measurer.run(task)
