"""What ``bench run`` measures and where it puts it: :class:`RunConfig`, its defaults, and the error of a
run that cannot start.

Each field of :class:`RunConfig` declares its command-line option (:mod:`bench.api.options`): the
defaults, choices and help texts of ``bench run`` are written here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.analysis.rate_match import DEFAULT_TOLERANCE, target_list, tolerance_value
from bench.api.executor import DEFAULT_TIMEOUT_S, executor_field, ray_address_field, timeout_field
from bench.api.files import portable_command, portable_path, sha256_file
from bench.api.metric import DEFAULT_METRICS
from bench.api.options import PLUGINS, comma_list, float_list, metric_list, option, positive_int
from bench.neural import DEVICES
from bench.store.provenance import available_cpus

__all__ = ["RunConfig", "RunSetupError", "dataset_list", "default_jobs", "is_given", "per_dataset", "DEFAULT_TIMEOUT_S"]

#: Worker processes by default: the CPUs this process may run on.
default_jobs = available_cpus


class RunSetupError(RuntimeError):
    """The run cannot start (unknown or unavailable codec, bad quality, missing dataset, ...)."""


class _Default(float):
    """A float option's default value, told apart from the same value given (:func:`is_given`)."""


def is_given(value: object) -> bool:
    """Whether an option's ``value`` was given rather than left at its :class:`_Default`."""
    return not isinstance(value, _Default)


@dataclass(frozen=True)
class RunConfig:
    """What to measure and where to put it. ``codecs=None`` means every codec of the default run."""

    dataset: str = field(default="kodak", metadata=option(
        "--dataset",
        help="dataset name (see `bench datasets`) or a folder of images (PNG, BMP, PPM/PGM, TIFF, lossless WebP, "
        "JPEG), or several comma-separated (kodak,tecnick,PATH: one run folder each, then a summary report) "
        "(default: kodak)"))  # fmt: skip
    codecs: tuple[str, ...] | None = field(default=None, metadata=option(
        "--codec", parse=comma_list, metavar="A,B",
        help="codecs to run (default: every available codec of the default run; see `bench codecs`)"))  # fmt: skip
    qualities: tuple[float, ...] | None = field(default=None, metadata=option(
        "--quality", parse=float_list, metavar="Q1,Q2",
        help="knob values instead of each codec's default sweep"))  # fmt: skip
    target_bpp: tuple[float, ...] | None = field(default=None, metadata=option(
        "--target-bpp", parse=target_list, metavar="T1,T2",
        help="rate matching: per image, search each codec's knob for these rates (bpp) instead of sweeping it "
        "(e.g. JPEG AI's 0.06,0.12,0.25,0.5,0.75); results in <run>/target_rates.csv (docs/guides/rate-matching.md)"))  # fmt: skip
    target_tolerance: float = field(default=_Default(DEFAULT_TOLERANCE), metadata=option(
        "--target-tolerance", parse=tolerance_value, metavar="F",
        help="a target is reached on an image when |bpp / target - 1| <= F (default: %(default)s, i.e. +-15%%)"))  # fmt: skip
    out: Path | None = field(default=None, metadata=option(
        "--out", parse=Path, help="run folder (default: results/<name>)"))  # fmt: skip
    name: str | None = field(default=None, metadata=option(
        "--name", help="run name for the default folder (default: the dataset's name)"))  # fmt: skip
    data_dir: Path | None = field(default=None, metadata=option(
        "--data-dir", parse=Path,
        help="where named datasets live (default: $BENCH_DATA, else ~/.cache/codec-bench/datasets)"))  # fmt: skip
    offline: bool = field(default=False, metadata=option(
        "--offline", help="never download: fail if the dataset is not already in the data root, or a codec's "
        "pretrained weights not already in their cache"))  # fmt: skip
    device: str = field(default="cpu", metadata=option(
        "--device", choices=DEVICES, help="where learned codecs run (default: cpu; auto = cuda "
        "when available); traditional codecs use the CPU"))  # fmt: skip
    half: bool = field(default=False, metadata=option(
        "--half", help="learned codecs in half precision (float16 weights and activations, as CompressAI's "
        "eval_model --half; meant for the GPU; not for portable models)"))  # fmt: skip
    plugins: tuple[str, ...] = field(default=(), metadata=PLUGINS)
    repeat: int = field(default=1, metadata=option(
        "--repeat", parse=positive_int,
        help="time encode/decode N times and keep the median (default: 1)"))  # fmt: skip
    jobs: int = field(default_factory=default_jobs, metadata=option(
        "-j", "--jobs", parse=positive_int,
        help="worker processes (default: CPUs available, here %(default)s)"))  # fmt: skip
    max_images: int | None = field(default=None, metadata=option(
        "--max-images", parse=positive_int, help="use only the first N images of the dataset"))  # fmt: skip
    save_reconstructions: bool = field(default=False, metadata=option(
        "--save-reconstructions", help="keep decoded images as PNG under <run>/reconstructions/"))  # fmt: skip
    save_bitstreams: bool = field(default=False, metadata=option(
        "--save-bitstreams", help="keep the coded files under <run>/bitstreams/"))  # fmt: skip
    metrics: tuple[str, ...] = field(default=DEFAULT_METRICS, metadata=option(
        "--metrics", parse=metric_list, metavar="M1,M2",
        help=f"metrics to compute, in column order (default: {','.join(DEFAULT_METRICS)}), or a preset: jpeg-ai "
        "(JPEG AI's objective metrics; the report adds their mean BD-rate); plugin files may add metrics "
        "(docs/guides/add-metric.md)"))  # fmt: skip
    timeout: float = timeout_field()
    retry_timeouts: bool = field(default=False, metadata=option(
        "--retry-timeouts", help="measure again the tasks that timed out in earlier runs into this folder (by "
        "default they are left as failures, so that a re-run does not hang on them again)"))  # fmt: skip
    executor: str = executor_field()
    ray_address: str | None = ray_address_field()
    command: str = ""

    def as_json(self) -> dict:
        return {
            "dataset": portable_path(self.dataset),
            "codecs": list(self.codecs) if self.codecs is not None else None,
            "qualities": list(self.qualities) if self.qualities is not None else None,
            **(
                {"target_bpp": list(self.target_bpp), "target_tolerance": float(self.target_tolerance)}
                if self.target_bpp
                else {}
            ),
            "plugins": [  # as given (no path of this machine), identified by content
                {"path": portable_path(p), "sha256": sha256_file(p) if Path(p).is_file() else None}
                for p in self.plugins
            ],
            "repeat": self.repeat,
            "jobs": self.jobs,
            "max_images": self.max_images,
            "save_reconstructions": self.save_reconstructions,
            "save_bitstreams": self.save_bitstreams,
            "device": self.device,
            "half": self.half,
            "metrics": list(self.metrics),
            "executor": self.executor,
            **({"ray_address": self.ray_address} if self.ray_address is not None else {}),
            "timeout_s": self.timeout,
            "retry_timeouts": self.retry_timeouts,
            "codec_threads": 1,
        }

    def recorded_command(self) -> str:
        """The command as run.json records it: paths relative to where it ran, never absolute."""
        paths = tuple(str(p) for p in (self.dataset, self.out, self.data_dir, *self.plugins) if p)
        return portable_command(self.command, paths)


def dataset_list(spec: str) -> list[str]:
    """The datasets ``--dataset`` names: ``spec`` itself when it is one dataset name or an existing path
    (a folder whose name has a comma included), else its comma-separated items; :class:`RunSetupError`
    when two of them would share a run folder name."""
    from bench.data.datasets import known_datasets

    if spec in known_datasets() or Path(spec).expanduser().exists() or "," not in spec:
        return [spec]
    items = [item.strip() for item in spec.split(",") if item.strip()]
    names: dict[str, str] = {}
    for item in items:
        name = dataset_folder_name(item)
        if name in names:
            raise RunSetupError(f"--dataset: {names[name]} and {item} would share the run folder '{name}'; "
                                "give each dataset once (rename or link one folder)")  # fmt: skip
        names[name] = item
    return items


def dataset_folder_name(spec: str) -> str:
    """The name of a dataset's run folder: the dataset's name, or the folder's name."""
    from bench.data.datasets import known_datasets

    return spec if spec in known_datasets() else Path(spec).expanduser().resolve().name


def per_dataset(config: RunConfig, spec: str) -> RunConfig:
    """``config`` for one dataset of several, its folder set: ``<--out>/<dataset>``, else
    ``results/<--name>/<dataset>``, else ``results/<dataset>`` (as for one dataset), ``<dataset>`` being
    :func:`dataset_folder_name` (the name :func:`dataset_list` checks for clashes)."""
    parent = Path(config.out) if config.out else Path("results") / (config.name or "")
    return replace(config, dataset=spec, out=parent / dataset_folder_name(spec))
