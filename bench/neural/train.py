"""``bench train``: the transform-coding recipe, one model per lambda, written as a model family.

Recipe (Ballé et al.; CompressAI's conventions): analysis transform g_a -> latents y; quantisation
replaced in training by additive uniform noise in [-1/2, 1/2); a learned entropy model gives the
likelihoods of the (noisy) latents; synthesis transform g_s. Loss per batch::

    L = R + lambda * 255^2 * MSE(x, x_hat),   R = sum(-log2 likelihoods) / (batch * H * W)  [bits/pixel]

with ``x`` in [0, 1], plus the entropy bottleneck's auxiliary loss (its own optimiser) that fits the
quantiles used to build the coding tables. Adam, gradient norm clipped at 1.

Data: a folder with ``train/`` (and ``test/``) subfolders trains, ``val/`` validates (BSDS500's
layout); a flat folder trains on nine images in ten and validates on every tenth (on the last one
when it has fewer than ten). Random crops with
random horizontal flips; validation on fixed centre crops, in eval mode (rounding, as when coding).

``--minutes`` gives each model a budget of wall time (training and validation): it stops at ``--steps``
or at the budget, whichever comes first, and the learning-rate schedule runs over whichever is further
along (:func:`_progress`), so a time-limited training ends with its learning rate decayed. The steps
it did are recorded (they depend on the machine's speed).

Per lambda: checkpoints every ``val_every`` steps (model, optimisers, step, random states, best
weights so far; loaded with ``torch.load(weights_only=True)``), so an interrupted command resumes
where it stopped; at the end the weights with the best validation loss are kept, their coding
tables computed (``update()``), and saved as safetensors; its family entry, written last to
``checkpoints/lambda<L>.json``, marks it finished (a resume skips it). ``family.json`` records everything, a
``MODEL_CARD.md`` and a ``plugin.py`` (``bench run --plugin <out>/plugin.py``) are written. Every file a
resume or a later command reads is written atomically (:func:`bench.api.files.atomic_write`): a kill
leaves the previous file or the new one, never half of one. A result file that cannot be read (left
truncated by an older version) is treated as absent, with a warning, when the model's checkpoint is
there (the model is finished again from it: no training step, the same weights); without the
checkpoint the command stops and says what to do, rather than retrain a model whose weights are there.
A finished model is not trained again: a command that lists its lambda with other options (more
``--steps``, another ``--lr``: :data:`_MODEL_OPTIONS`) is refused before any training, since its learning
rate has decayed and its best weights are kept, and ``family.json`` would record options it was not
trained with. A training whose loss is not a finite number stops (it diverged: a smaller ``--lr``); a
checkpoint that cannot be resumed from is named with what is wrong.

**Fine-tuning and growing a family.** ``--init WEIGHTS`` starts every model of the command from a
trained model's weights (fresh optimisers, the command's own learning-rate schedule) instead of at
random: the usual way to get the other rate points of a family for a fraction
of the training (e.g. train lambda 0.005 from scratch, then 0.0025 from it); ``--init FOLDER`` starts
each model from that family's model of the nearest lambda (in log lambda), ``--init nearest`` from the
``--out`` family's model of the nearest other lambda. A model of another architecture gives the
tensors whose names and shapes match, which must include the whole transforms ``g_a`` and ``g_s``
(a factorized prior's transforms start a hyperprior of the same widths). A command whose ``--out``
already holds a family adds its models to it (same architecture, widths and data, else refused; a
lambda trained again replaces the old model): ``family.json`` then lists every model with the command
that trained it, its initialisation (file, sha256, lambda, steps) and its steps in all.

Paths are recorded as given (``--data ../shared/datasets/train/bsds500``), never as an absolute path
of the machine that trained: an absolute ``--data`` or ``--out`` is written relative to the directory
the command ran in, in the recorded command too (:func:`bench.api.files.portable_path`). The data's
fingerprint (names and sha256 of the files) identifies it wherever it lies.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    portable_command,
    portable_path,
    sha256_file,
)
from bench.api.options import float_list, non_negative_float, option, positive_int
from bench.api.processes import die_with_parent
from bench.data.images import ImageLoadError, load_rgb8, source_problem
from bench.neural import DEVICES, DeviceError, device_name, resolve_device
from bench.neural.architectures import ARCHITECTURES, TRAIN_CHOICES, build, train_architecture
from bench.neural.family import FAMILY_FILE, FamilyError, weights_in
from bench.store.provenance import timestamp

__all__ = ["TrainConfig", "TrainError", "train_family", "load_training_data", "complexity_kmac"]

SCHEDULES = ("constant", "step", "cosine")
#: Precisions of the saved transform weights (the entropy models stay float32).
WEIGHTS_DTYPES = ("float32", "float16")


class TrainError(ValueError):
    """A training request that cannot run (no data, bad options); the message says why."""


class _Diverged(Exception):
    """The training of a model diverged (a loss that is not a finite number); the message says what was
    found. :func:`train_one` makes it a :class:`TrainError` naming the model, the step and what to do."""


def learning_rate(text: str) -> float:
    """A learning rate (``--lr``, ``--aux-lr``): a positive, finite number (0 or less trains nothing or
    climbs the loss; a rate so large that the training diverges is found while training)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


@dataclass(frozen=True)
class TrainConfig:
    """A family to train; the fields with an :func:`~bench.api.options.option` are those of ``bench train``."""

    data: Path = field(metadata=option(
        "--data", parse=Path, help="image folder (train/, test/, val/ subfolders, or flat)"))  # fmt: skip
    out: Path = field(metadata=option("--out", parse=Path, help="family folder to write (and resume from)"))
    lambdas: tuple[float, ...] = field(metadata=option(
        "--lambdas", parse=float_list, metavar="L1,L2", help="one model per lambda"))  # fmt: skip
    arch: str = field(default="hyperprior", metadata=option(
        "--arch", choices=TRAIN_CHOICES,
        help="hyperprior and mean-scale (default: hyperprior) are the portable models, recorded as "
        "portable-hyperprior/portable-mean-scale (integer hyper-synthesis: bitstreams decode on any device); "
        "hyperprior-float/mean-scale-float are compressai's float models"))  # fmt: skip
    N: int = field(default=64, metadata=option(
        "--N", parse=positive_int, help="hidden width of the transforms (default: 64)"))  # fmt: skip
    M: int = field(default=96, metadata=option("--M", parse=positive_int, help="latent channels (default: 96)"))
    steps: int = field(default=20000, metadata=option(
        "--steps", parse=positive_int, help="optimiser steps per model (default: 20000)"))  # fmt: skip
    batch_size: int = field(default=8, metadata=option("--batch-size", parse=positive_int))
    crop: int = field(default=128, metadata=option(
        "--crop", parse=positive_int, help="random crop size in pixels (default: 128)"))  # fmt: skip
    lr: float = field(default=1e-4, metadata=option(
        "--lr", parse=learning_rate, help="learning rate (default: 1e-4)"))  # fmt: skip
    lr_schedule: str = field(default="step", metadata=option(
        "--lr-schedule", choices=SCHEDULES,
        help="step: x0.1 for the last 15%% of the steps (default); cosine: down to 1%%"))  # fmt: skip
    aux_lr: float = field(default=1e-3, metadata=option("--aux-lr", parse=learning_rate))
    # 0: no limit. A budget in wall time, so a machine lent for a fixed time is used to its end: the
    # learning-rate schedule follows whichever of steps and time is further along
    minutes: float = field(default=0.0, metadata=option(
        "--minutes", parse=non_negative_float,
        help="time limit per model in minutes (training and validation; 0: none): the model stops at "
        "--steps or at this limit, whichever comes first, and its learning-rate schedule runs to the end "
        "of whichever is further along"))  # fmt: skip
    val_every: int = field(default=1000, metadata=option(
        "--val-every", parse=positive_int, help="validate and checkpoint every N steps"))  # fmt: skip
    val_crop: int = 256
    seed: int = field(default=0, metadata=option("--seed", parse=int))
    device: str = field(default="auto", metadata=option("--device", choices=DEVICES))
    threads: int = field(default=0, metadata=option(  # 0: torch's default
        "--threads", parse=int, help="torch CPU threads per model (default: torch's)"))  # fmt: skip
    jobs: int = field(default=1, metadata=option(
        "-j", "--jobs", parse=positive_int, help="models trained at once, in processes"))  # fmt: skip
    # float16: the transforms are stored in half precision (the entropy models stay float32)
    weights_dtype: str = field(default="float32", metadata=option(
        "--weights-dtype", choices=WEIGHTS_DTYPES,
        help="precision of the saved transform weights (float16 halves the files)"))  # fmt: skip
    name: str | None = field(default=None, metadata=option(
        "--name", help="family (and codec) name (default: the --out folder's name)"))  # fmt: skip
    init: Path | None = field(default=None, metadata=option(
        "--init", parse=Path, metavar="WEIGHTS",
        help="start every model from trained weights instead of at random: a .safetensors file; a family "
        "folder (each lambda from its model of the nearest lambda); or 'nearest' (each from the --out "
        "family's model of the nearest other lambda); a model of another architecture gives its g_a and g_s"))  # fmt: skip
    command: str = ""
    progress: bool = field(default=True, metadata=option("--no-progress", action="store_false"))

    def family_name(self) -> str:
        return self.name or self.out.name


@dataclass
class _Data:
    train: list[np.ndarray]
    val: list[np.ndarray]
    description: dict[str, Any] = field(default_factory=dict)


def _images_in(folder: Path) -> list[Path]:
    """The image files of ``folder`` a folder dataset would take (bench.data.datasets), sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and source_problem(p) is None
    )


def load_training_data(folder: Path, crop: int) -> _Data:
    """Training and validation images (H x W x 3 uint8) of ``folder`` (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainError(f"training data folder {folder} does not exist")
    if (folder / "train").is_dir():
        train_paths = _images_in(folder / "train") + (_images_in(folder / "test") if (folder / "test").is_dir() else [])
        if not (folder / "val").is_dir():
            raise TrainError(f"{folder} has train/ but no val/ to validate on")
        val_paths = _images_in(folder / "val")
        layout = "train/ + test/ for training, val/ for validation"
    else:
        paths = _images_in(folder)
        held_out = set(range(9, len(paths), 10)) or {len(paths) - 1}
        train_paths = [p for i, p in enumerate(paths) if i not in held_out]
        val_paths = [p for i, p in enumerate(paths) if i in held_out]
        layout = (
            "every tenth image (sorted by name; the last one if fewer than ten) for validation, the rest for training"
        )

    def load(paths: list[Path]) -> list[np.ndarray]:
        images = []
        for path in paths:
            try:
                image = load_rgb8(path).pixels
            except ImageLoadError as exc:
                raise TrainError(str(exc)) from exc
            if min(image.shape[:2]) >= crop:
                images.append(image)
        return images

    train, val = load(train_paths), load(val_paths)
    if not train or not val:
        raise TrainError(f"{folder}: need training and validation images of at least {crop}x{crop} pixels")
    digest = sha256_file_list([*train_paths, *val_paths])
    return _Data(train, val, {"folder": portable_path(folder), "layout": layout, "train_images": len(train),
                              "val_images": len(val), "files_sha256": digest})  # fmt: skip


def sha256_file_list(paths: list[Path]) -> str:
    """One sha256 over the names and sha256 of the files: a fingerprint of the training data."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.parent.name}/{path.name} {sha256_file(path)}\n".encode())
    return digest.hexdigest()


def _batch(images: list[np.ndarray], rng: np.random.Generator, size: int, crop: int) -> np.ndarray:
    out = np.empty((size, crop, crop, 3), np.uint8)
    for i in range(size):
        image = images[rng.integers(len(images))]
        y = rng.integers(image.shape[0] - crop + 1)
        x = rng.integers(image.shape[1] - crop + 1)
        patch = image[y : y + crop, x : x + crop]
        out[i] = patch[:, ::-1] if rng.random() < 0.5 else patch
    return out


def _center_crops(images: list[np.ndarray], crop: int, stride: int) -> list[np.ndarray]:
    """Centre crops of at most crop x crop pixels, sides a multiple of the model's stride."""
    crops = []
    for image in images:
        h, w = image.shape[:2]
        c = min(crop, h, w) // stride * stride
        y, x = (h - c) // 2, (w - c) // 2
        crops.append(np.ascontiguousarray(image[y : y + c, x : x + c]))
    return crops


def _to_tensor(batch: np.ndarray, device):
    import torch

    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0).to(device)


def _rd_loss(out: dict, x, lmbda: float) -> tuple[Any, Any, Any]:
    """(loss, bpp, mse) with CompressAI's scaling: lambda * 255^2 * MSE + bpp."""
    import torch

    n, _, h, w = x.shape
    bpp = sum(torch.log(lk).sum() for lk in out["likelihoods"].values()) / (-math.log(2) * n * h * w)
    mse = torch.mean((out["x_hat"] - x) ** 2)
    return lmbda * 255**2 * mse + bpp, bpp, mse


def _psnr(mse: float) -> float:
    """The PSNR in dB of a mean squared error of pixels in [0, 1] (NaN for a diverged model's inf or NaN)."""
    return 10 * math.log10(1 / max(mse, 1e-12)) if math.isfinite(mse) else math.nan


def _progress(config: TrainConfig, step: int, seconds: float) -> float:
    """How far the model's training is, in [0, 1]: its share of --steps, or of --minutes when that is
    further along."""
    done = step / config.steps
    if config.minutes > 0:
        done = max(done, seconds / (60 * config.minutes))
    return min(done, 1.0)


def _lr_at(config: TrainConfig, progress: float) -> float:
    """The learning rate at ``progress`` (:func:`_progress`) through the training."""
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "step":  # x0.1 for the last 15% of the training
        return config.lr * (0.1 if progress >= 0.85 else 1.0)
    return config.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def _validate(net, crops: list[np.ndarray], lmbda: float, device) -> dict[str, float]:
    import torch

    net.eval()
    losses, bpps, psnrs = [], [], []
    with torch.no_grad():
        for crop in crops:
            x = _to_tensor(crop[None], device)
            out = net(x)
            out["x_hat"] = out["x_hat"].clamp(0, 1)
            loss, bpp, mse = _rd_loss(out, x, lmbda)
            losses.append(float(loss))
            bpps.append(float(bpp))
            psnrs.append(_psnr(float(mse)))
    net.train()
    return {"loss": float(np.mean(losses)), "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))}


def _device(requested: str):
    import torch

    try:
        return torch.device(resolve_device(requested))
    except DeviceError as exc:
        raise TrainError(str(exc)) from None


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return device_name(str(device))
    return f"{device_name('cpu')} ({torch.get_num_threads()} threads)"


#: What a per-lambda result file must hold to be used as it is (the keys the family file and the model
#: card read); one without them is treated as unreadable.
_RESULT_KEYS = ("lambda", "weights", "sha256", "steps", "best_step", "val_bpp", "val_psnr", "train_seconds", "device")


@dataclass(frozen=True)
class _ModelFiles:
    """Where the model of one lambda lives in the family folder ``out``."""

    tag: str  # ``lambda0.005``
    weights: Path  # <out>/<tag>.safetensors: the final weights
    checkpoint: Path  # <out>/checkpoints/<tag>.pt: the training state, written every --val-every steps
    result: Path  # <out>/checkpoints/<tag>.json: the model's family entry, written last

    @classmethod
    def of(cls, out: Path, lmbda: float) -> _ModelFiles:
        tag = f"lambda{lmbda:g}"
        checkpoints = out / "checkpoints"
        return cls(tag, out / f"{tag}.safetensors", checkpoints / f"{tag}.pt", checkpoints / f"{tag}.json")


@dataclass
class _Model:
    """One lambda's model while it trains: the network on its device, its two optimisers, the random
    generator of its batches, where it started (``--init``) and ``state``, what a checkpoint keeps:
    ``step``, ``best`` (the best weights so far, on the CPU), ``best_val``, ``best_step``,
    ``history`` (one entry per validation), ``seconds`` (wall time of the training so far, resumed runs
    included) and ``val_seconds`` (its validations')."""

    lmbda: float
    seed: int
    device: Any
    net: Any
    main_params: list[Any]
    optimizer: Any
    aux_optimizer: Any
    rng: np.random.Generator
    init_path: Path | None
    init_modules: list[str] | None
    state: dict[str, Any]


def train_one(config: TrainConfig, index: int, data: _Data) -> dict[str, Any]:
    """Train (or resume, or skip if finished) the model of ``config.lambdas[index]``; its family entry,
    also written (atomically) to ``checkpoints/<tag>.json``, which marks the model finished."""
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    lmbda = config.lambdas[index]
    files = _ModelFiles.of(config.out, lmbda)
    finished = _finished_result(config, files)
    if finished is not None:
        return finished
    model = _start_model(config, lmbda, seed=config.seed + index)
    _resume(config, model, files)
    try:
        _train_steps(config, model, data, index, files.checkpoint)
    except _Diverged as exc:
        raise _divergence(config, model, files, str(exc)) from None
    _save_weights(config, model, files.weights)
    result = _result(config, model, files.weights)
    atomic_write_text(files.result, json.dumps(result, indent=2) + "\n")
    return result


def _divergence(config: TrainConfig, model: _Model, files: _ModelFiles, what: str) -> TrainError:
    """What to say when the training of ``model`` diverged at its current step (``what``: the loss found)."""
    advice = f"lower --lr (now {config.lr:g})"
    if files.checkpoint.is_file():  # written before it diverged, with this learning rate
        advice += f" and delete {files.checkpoint} (or use another --out) to train {files.tag} again"
    return TrainError(f"{config.family_name()} {files.tag}: the training diverged at step {model.state['step']} "
                      f"({what}); {advice}")  # fmt: skip


def _finished_result(config: TrainConfig, files: _ModelFiles) -> dict[str, Any] | None:
    """The family entry of a model trained to the end (its weights and result file there), else None.

    A result file that cannot be read (one an older version left truncated when killed while writing
    it) counts as absent, with a warning, when the model's checkpoint is there: finishing the model from
    it takes no training step and gives the same weights. Without the checkpoint, :class:`TrainError`:
    training again from scratch could take hours and replace weights that may already be in use."""
    if not (files.weights.is_file() and files.result.is_file()):
        return None
    result, problem = _read_result(files.result)
    if result is not None:
        return result
    if not files.checkpoint.is_file():
        raise TrainError(f"{files.result} cannot be read ({problem}) and {files.checkpoint} is gone: delete "
                         f"{files.weights} to train that model again, or use another --out")  # fmt: skip
    print(f"{config.family_name()} {files.tag}: {files.result} cannot be read ({problem}); finishing the model "
          f"again from {files.checkpoint}", file=sys.stderr, flush=True)  # fmt: skip
    return None


#: The options of a model's training that ``family.json`` and the model card state: a command listing the
#: lambda of a finished model must ask for the same, since it trains nothing and records its own options.
_MODEL_OPTIONS = ("steps", "minutes", "lr", "lr_schedule", "aux_lr", "batch_size", "crop", "seed", "val_every",
                  "weights_dtype")  # fmt: skip


def _model_options(config: TrainConfig) -> dict[str, Any]:
    return {key: getattr(config, key) for key in _MODEL_OPTIONS}


def _check_same_options(config: TrainConfig, files: _ModelFiles, result: dict[str, Any]) -> None:
    """:class:`TrainError` when the finished model of ``result`` was trained with other options than
    ``config`` asks for (e.g. more ``--steps``). It is not trained on: its learning rate has decayed and
    its best weights are kept, so training on would not give what the command says; nor re-described."""
    theirs, ours = result.get("options"), _model_options(config)
    if theirs is None:  # (result files written before they recorded their options: the steps they did)
        if config.minutes:
            return
        theirs, ours = {"steps": result["steps"]}, {"steps": config.steps}
    changed = [k for k in ours if theirs.get(k) != ours[k]]
    if changed:
        trained = ", ".join(f"--{k.replace('_', '-')} {theirs.get(k)}" for k in changed)
        asked = ", ".join(f"--{k.replace('_', '-')} {ours[k]}" for k in changed)
        raise TrainError(f"{files.result}: {files.tag} is finished, trained with {trained}; this command asks for "
                         f"{asked}, but a finished model is not trained again: leave lambda {result['lambda']:g} out "
                         f"of --lambdas, or train it on into another --out with --init {files.weights}")  # fmt: skip


def _check_finished_models(config: TrainConfig) -> None:
    """:func:`_check_same_options` for every finished model the command lists, before any trains."""
    for lmbda in config.lambdas:
        files = _ModelFiles.of(config.out, lmbda)
        result = _read_result(files.result)[0] if files.weights.is_file() and files.result.is_file() else None
        if result is not None:
            _check_same_options(config, files, result)


def _read_result(path: Path) -> tuple[dict[str, Any] | None, str]:
    """(the per-lambda result in ``path``, "") or (None, why it cannot be read)."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, exc.strerror or str(exc)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not valid JSON, truncated? {exc}"
    if not isinstance(result, dict):
        return None, "not a JSON object"
    missing = [key for key in _RESULT_KEYS if key not in result]
    if missing:
        return None, f"no {', '.join(missing)}"
    return result, ""


def _start_model(config: TrainConfig, lmbda: float, seed: int) -> _Model:
    """The model of ``lmbda`` at step 0: random from ``seed`` or loaded from its ``--init`` weights, on
    the configured device, with fresh optimisers and batch generator."""
    import torch

    device = _device(config.device)
    torch.manual_seed(seed)
    init_path = initial_weights(config, lmbda)
    net = build(config.arch, config.N, config.M)
    # (also when resuming: the modules the file gives are recorded)
    init_modules = _load_init(net, config, init_path) if init_path is not None else None
    net = net.to(device)
    main_params = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    optimizer = torch.optim.Adam(main_params, lr=config.lr)
    aux_optimizer = torch.optim.Adam(aux_params, lr=config.aux_lr)
    state = {"step": 0, "best": None, "best_val": math.inf, "history": [], "seconds": 0.0, "val_seconds": 0.0}
    return _Model(lmbda, seed, device, net, main_params, optimizer, aux_optimizer, np.random.default_rng(seed),
                  init_path, init_modules, state)  # fmt: skip


#: What a checkpoint holds (:func:`_write_checkpoint`).
_CHECKPOINT_KEYS = ("config", "model", "optimizer", "aux_optimizer", "numpy_rng", "torch_rng", "state")


def _resume(config: TrainConfig, model: _Model, files: _ModelFiles) -> None:
    """Restore ``model`` from its checkpoint, when there is one: weights, optimisers, random states and
    ``state``; :class:`TrainError` when it was written by another training setup, or cannot be used
    (:func:`_read_checkpoint`)."""
    import torch

    if not files.checkpoint.is_file():
        return
    saved = _read_checkpoint(files, model.device)
    ours = _checkpoint_key(config, model.lmbda, model.init_path)
    if saved["config"] != ours:
        raise TrainError(f"{files.checkpoint} was written by a different training setup "
                         f"({_differences(saved['config'], ours)}); {_restart_advice(files)}")  # fmt: skip
    try:
        model.net.load_state_dict(saved["model"])
        model.optimizer.load_state_dict(saved["optimizer"])
        model.aux_optimizer.load_state_dict(saved["aux_optimizer"])
        model.rng.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
    except Exception as exc:  # tensors of another model, states of another kind
        raise TrainError(f"{files.checkpoint} cannot be resumed from ({_first_line(exc)}); "
                         f"{_restart_advice(files)}") from None  # fmt: skip
    model.state = {"val_seconds": 0.0, **saved["state"]}  # (checkpoints written before it was recorded)
    print(f"{config.family_name()} {files.tag}: resuming from step {model.state['step']}", file=sys.stderr, flush=True)


def _read_checkpoint(files: _ModelFiles, device) -> dict[str, Any]:
    """The checkpoint of ``files``, loaded with ``weights_only=True``; :class:`TrainError` when it cannot
    be read (truncated, refused by ``weights_only``) or lacks what :func:`_write_checkpoint` writes."""
    import torch

    try:
        saved = torch.load(files.checkpoint, map_location=device, weights_only=True)
    except pickle.UnpicklingError:  # (torch's message is a page of advice on loading it unsafely)
        why = "it holds objects that loading with weights_only refuses"
        raise TrainError(f"{files.checkpoint} cannot be read ({why}); {_restart_advice(files)}") from None
    except Exception as exc:  # a truncated or damaged file
        why = _first_line(exc).split(". ")[0]
        raise TrainError(f"{files.checkpoint} cannot be read ({why}); {_restart_advice(files)}") from None
    if not isinstance(saved, dict):
        missing = "not a dict"
    else:
        missing = ", ".join(k for k in _CHECKPOINT_KEYS if k not in saved)
        if not missing and not (isinstance(saved["state"], dict) and "step" in saved["state"]):
            missing = "no step in its state"
        missing = missing and (missing if missing.startswith("no ") else f"no {missing}")
    if missing:
        raise TrainError(f"{files.checkpoint} is not a checkpoint of bench train ({missing}); "
                         f"{_restart_advice(files)}")  # fmt: skip
    return saved


def _restart_advice(files: _ModelFiles) -> str:
    return f"delete it to train {files.tag} again from the start, or use another --out"


def _differences(theirs: Any, ours: dict[str, Any]) -> str:
    """``lr 0.001, not 0.0001``: the options a checkpoint's key (``theirs``) has other than ``ours``."""
    theirs = theirs if isinstance(theirs, dict) else {}
    keys = [k for k in ours if theirs.get(k) != ours[k]] + [k for k in theirs if k not in ours]
    return ", ".join(f"{k} {theirs.get(k)}, not {ours.get(k)}" for k in keys)


def _first_line(exc: BaseException) -> str:
    """The first line of what ``exc`` says (its type's name when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _train_steps(config: TrainConfig, model: _Model, data: _Data, index: int, checkpoint: Path) -> None:
    """Train ``model`` until its progress (:func:`_progress`) reaches 1, validating and writing the
    ``checkpoint`` every ``--val-every`` steps and at the last one."""
    from tqdm import tqdm

    state = model.state
    val_crops = _center_crops(data.val, config.val_crop, ARCHITECTURES[config.arch].stride)
    bar = tqdm(total=config.steps, initial=state["step"], desc=f"{config.family_name()} lambda{model.lmbda:g}",
               disable=not config.progress, position=index if config.jobs > 1 else None, leave=True,
               dynamic_ncols=True)  # fmt: skip
    running: list[tuple[float, float, float]] = []  # (loss, bpp, PSNR) of the last 100 steps
    started = time.perf_counter() - state["seconds"]
    model.net.train()
    while (progress := _progress(config, state["step"], time.perf_counter() - started)) < 1:
        running = (running + [_train_step(config, model, data.train, progress)])[-100:]
        if not math.isfinite(running[-1][0]):
            raise _Diverged(f"training loss {running[-1][0]}")
        bar.update(1)
        if state["step"] % 20 == 0:
            mean = np.mean(running, axis=0)
            bar.set_postfix_str(f"loss {mean[0]:.3f} bpp {mean[1]:.3f} PSNR {mean[2]:.2f}", refresh=False)
        last = _progress(config, state["step"], time.perf_counter() - started) >= 1
        if state["step"] % config.val_every == 0 or last:
            _validate_and_keep_best(model, val_crops, train_loss=float(np.mean([r[0] for r in running])))
            state["seconds"] = time.perf_counter() - started
            _write_checkpoint(config, model, checkpoint)
    bar.close()


def _train_step(
    config: TrainConfig, model: _Model, images: list[np.ndarray], progress: float
) -> tuple[float, float, float]:
    """One optimiser step of both losses on a random batch of ``images``; its (loss, bpp, PSNR in dB)."""
    import torch

    for group in model.optimizer.param_groups:
        group["lr"] = _lr_at(config, progress)
    x = _to_tensor(_batch(images, model.rng, config.batch_size, config.crop), model.device)
    out = model.net(x)
    loss, bpp, mse = _rd_loss(out, x, model.lmbda)
    model.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.main_params, 1.0)
    model.optimizer.step()
    aux_loss = model.net.aux_loss()
    model.aux_optimizer.zero_grad(set_to_none=True)
    aux_loss.backward()
    model.aux_optimizer.step()
    model.state["step"] += 1
    return loss.item(), bpp.item(), _psnr(mse.item())


def _validate_and_keep_best(model: _Model, val_crops: list[np.ndarray], train_loss: float) -> None:
    """Validate ``model`` at its current step: the result into its history, its weights kept when they
    are the best so far; :class:`_Diverged` when the validation loss is not a finite number."""
    from bench.neural.portable import PortableError

    state = model.state
    validation_started = time.perf_counter()
    try:
        val = _validate(model.net, val_crops, model.lmbda, model.device)
    except PortableError as exc:  # the integer hyper-synthesis overflows float64's exact integers
        raise _Diverged(f"validation: {exc}") from None
    if not math.isfinite(val["loss"]):
        raise _Diverged(f"validation loss {val['loss']}")
    state["val_seconds"] += time.perf_counter() - validation_started
    state["history"].append({"step": state["step"], **val, "train_loss": train_loss})
    if val["loss"] < state["best_val"]:
        state["best_val"] = val["loss"]
        state["best"] = {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()}
        state["best_step"] = state["step"]


def _write_checkpoint(config: TrainConfig, model: _Model, path: Path) -> None:
    """Write everything a resume needs to ``path``, atomically (loaded with ``weights_only=True``)."""
    import torch

    checkpoint = {"config": _checkpoint_key(config, model.lmbda, model.init_path), "model": model.net.state_dict(),
                  "optimizer": model.optimizer.state_dict(), "aux_optimizer": model.aux_optimizer.state_dict(),
                  "numpy_rng": model.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                  "state": model.state}  # fmt: skip
    atomic_write(path, partial(torch.save, checkpoint))  # torch.save(checkpoint, tmp)


def _save_weights(config: TrainConfig, model: _Model, path: Path) -> None:
    """The best weights of ``model`` with their coding tables (``update()``) as a safetensors file at
    ``path``, written atomically, its header's keys sorted (:func:`_canonical_header`)."""
    from safetensors.torch import save

    final = build(config.arch, config.N, config.M)
    final.load_state_dict(model.state["best"])
    final.update(force=True)  # the coding tables, computed once and stored with the weights
    state_dict = final.state_dict()
    # a portable model's integer h_s is stored once, as integers (its float parameters are derived from
    # them when loaded: bench.neural.portable.IntegerConv)
    redundant = {k.removesuffix("_int") for k in state_dict if k.endswith(("weight_int", "bias_int"))}
    tensors = {k: _stored(k, v, config.weights_dtype) for k, v in state_dict.items() if k not in redundant}
    raw = save(tensors, metadata={"family": config.family_name(), "lambda": repr(model.lmbda)})
    atomic_write_bytes(path, _canonical_header(raw, path))  # (with the folder's usual permissions)


def _result(config: TrainConfig, model: _Model, weights: Path) -> dict[str, Any]:
    """The family entry of the trained ``model`` (its weights in ``weights``), with its validation history."""
    state = model.state
    best = next(h for h in state["history"] if h["step"] == state["best_step"])
    init = init_record(model.init_path, model.init_modules)
    # steps in all, those of the --init model's lineage included (None when they are unknown)
    total_steps = None if init and not init["total_steps"] else state["step"] + (init["total_steps"] if init else 0)
    return {
        "lambda": model.lmbda,
        "weights": weights.name,
        "sha256": sha256_file(weights),
        # the steps it trained: --steps, or fewer when --minutes ran out first
        "steps": state["step"],
        "init": init,
        "total_steps": total_steps,
        "command": _command(config),
        "best_step": state["best_step"],
        "val_loss": best["loss"],
        "val_bpp": best["bpp"],
        "val_psnr": best["psnr"],
        "train_seconds": round(state["seconds"], 1),
        "val_seconds": round(state["val_seconds"], 1),
        # optimiser steps per second of training, validation left out (data, forward, backward, both optimisers)
        "steps_per_second": round(state["step"] / max(state["seconds"] - state["val_seconds"], 1e-9), 2),
        "device": _device_name(model.device),
        "seed": model.seed,
        "options": _model_options(config),
        "history": state["history"],
    }


def _canonical_header(raw: bytes, path: Path) -> bytes:
    """A safetensors file's bytes (``raw``, to be written to ``path``) with its JSON header's keys
    sorted. The library writes them in hash-map order, so identical weights could give files with
    different bytes (and sha256)."""
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if len(canonical) > size:
        raise RuntimeError(f"{path}: canonical safetensors header longer than the original")
    return raw[:8] + canonical.ljust(size, b" ") + raw[8 + size :]


def _stored(name: str, tensor, dtype: str):
    """The tensor as saved: float16 for the transforms' weights when asked (halves the files); the
    entropy models (quantiles, coding tables) always keep their own precision; a portable model's
    integer weights (``weight_int``, up to 21 bits) in int16 when every one of a layer's fits (weights
    below 0.5 after the layer's gain; the scale head's large gain keeps it in int32): the same integers
    in half the bytes, widened again when loaded."""
    import torch

    tensor = tensor.detach().contiguous().clone()
    entropy = name.startswith(("entropy_bottleneck", "gaussian_conditional"))
    if dtype == "float16" and tensor.dtype == torch.float32 and not entropy:
        tensor = tensor.half()
    if name.endswith("weight_int") and tensor.numel() and int(tensor.abs().max()) <= torch.iinfo(torch.int16).max:
        tensor = tensor.to(torch.int16)
    return tensor


def _checkpoint_key(config: TrainConfig, lmbda: float, init: Path | None) -> dict[str, Any]:
    """What a checkpoint must share with the command that resumes it (steps may grow)."""
    keys = ("arch", "N", "M", "batch_size", "crop", "lr", "lr_schedule", "aux_lr", "seed")
    key = {**{k: getattr(config, k) for k in keys}, "lambda": lmbda}
    if init is not None:
        key["init_sha256"] = sha256_file(init)
    return key


def initial_weights(config: TrainConfig, lmbda: float) -> Path | None:
    """The weights the model of ``lmbda`` starts from: None (random), the ``--init`` file, for a
    family folder its model whose lambda is nearest (in log lambda), for ``--init nearest`` the model
    of another lambda of the ``--out`` family whose lambda is nearest."""
    if config.init is None:
        return None
    nearest = _init_is_nearest(config)
    folder = config.out if nearest else Path(config.init)
    if not nearest and not folder.is_dir():
        return config.init
    path = folder / FAMILY_FILE
    models = json.loads(path.read_text(encoding="utf-8")).get("models", []) if path.is_file() else []
    models = [m for m in models if not nearest or m["lambda"] != lmbda]
    if not models:
        what = "no trained model of another lambda" if nearest else f"no {FAMILY_FILE} listing models"
        raise TrainError(f"--init {config.init}: {folder} holds {what} to start from")
    closest = min(models, key=lambda m: (abs(math.log(m["lambda"] / lmbda)), m["lambda"]))
    try:
        return weights_in(folder, closest["weights"], path)
    except FamilyError as exc:
        raise TrainError(f"--init {config.init}: {exc}") from None


def _init_family_commands(config: TrainConfig) -> list[str]:
    """The commands that trained the ``--init`` family, when ``--init`` is a family folder or a model
    its ``family.json`` lists (its weights' history: a model trained on from them is reproduced by
    running those first); else none."""
    if config.init is None or _init_is_nearest(config):
        return []
    init = Path(config.init)
    path = (init if init.is_dir() else init.parent) / FAMILY_FILE
    family = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if not init.is_dir() and init.name not in {m.get("weights") for m in family.get("models", [])}:
        return []
    training = family.get("training", {})
    return list(training.get("commands") or ([training["command"]] if training.get("command") else []))


def _init_is_nearest(config: TrainConfig) -> bool:
    return config.init is not None and str(config.init) == "nearest"


def _command(config: TrainConfig) -> str:
    """The command as recorded: its paths as given, never absolute."""
    init = () if config.init is None or _init_is_nearest(config) else (config.init,)
    return portable_command(config.command, (config.data, config.out) + init)


#: The transforms a model of another architecture must give for ``--init`` to start from it.
TRANSFORMS = ("g_a", "g_s")


def _load_init(net, config: TrainConfig, path: Path) -> list[str] | None:
    """Load the ``--init`` weights into ``net`` (a fresh model of the configured architecture) for
    further training; None when the whole model came from the file, else the modules that did, ``g_a``
    and ``g_s`` (the others keep their random initialisation). A file of the same architecture and
    widths loads whole; of another architecture, only the transforms ``g_a`` and ``g_s`` load, and
    every one of their tensors must be in the file with its shape (a factorized prior's transforms
    into a hyperprior of the same widths; its entropy models describe other latents). Float tensors in float32; a portable model's frozen integer h_s is thawed (its integers
    are computed again by ``update()`` at the end)."""
    from safetensors.torch import load_file

    def refuse(why: str) -> TrainError:
        return TrainError(f"--init {path}: not the weights of a {config.arch} model with N={config.N}, M={config.M} "
                          f"({why})")  # fmt: skip

    try:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    except Exception as exc:  # not a safetensors file
        raise refuse(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    try:
        net.load_state_dict(state)
        modules = None
    except Exception as exc:  # another architecture or other widths: its transforms, if they fit
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        own = net.state_dict()
        transforms = {k: v for k, v in own.items() if k.split(".")[0] in TRANSFORMS}
        if any(k not in state or state[k].shape != v.shape for k, v in transforms.items()):
            raise refuse(first) from None
        net.load_state_dict({**own, **{k: state[k] for k in transforms}})
        modules = list(TRANSFORMS)
    frozen = getattr(getattr(net, "h_s", None), "frozen", None)
    if frozen is not None:
        frozen.fill_(0)
    return modules


def init_record(path: Path | None, modules: list[str] | None = None) -> dict[str, Any] | None:
    """What ``--init`` started from: the file (as given), its sha256, and the lambda and steps in all of
    the model it holds when its folder's family.json (or the safetensors metadata) says."""
    if path is None:
        return None
    path = Path(path)
    sha = sha256_file(path)
    record: dict[str, Any] = {"weights": portable_path(path), "sha256": sha, "lambda": None, "total_steps": None,
                              "modules": modules}  # fmt: skip
    family = path.parent / FAMILY_FILE
    if family.is_file():
        for model in json.loads(family.read_text()).get("models", []):
            if model.get("sha256") == sha:
                record["lambda"] = model["lambda"]
                record["total_steps"] = model.get("total_steps", model.get("steps"))
    if record["lambda"] is None:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as fh:
            value = (fh.metadata() or {}).get("lambda")
        record["lambda"] = float(value) if value else None
    return record


def complexity_kmac(arch: str, N: int, M: int, height: int = 512, width: int = 768) -> dict[str, float]:
    """Thousands of multiply-accumulates per pixel of encoding and decoding an image of this size (a
    Kodak image by default) with ``compress``/``decompress`` on the CPU, counted as
    :func:`bench.neural.complexity.count_macs` counts (the arithmetic coder itself is not counted)."""
    import torch

    from bench.neural.complexity import count_macs

    net = build(arch, N, M).eval()
    net.update(force=True)
    x = torch.zeros(1, 3, height, width)
    enc = count_macs(net, lambda: net.compress(x))
    dec = count_macs(net, lambda: net.decompress(enc.result["strings"], enc.result["shape"]))
    pixels = height * width
    return {"encoder": enc.total / pixels / 1000, "decoder": dec.total / pixels / 1000}


def _recorded_config(config: TrainConfig) -> dict[str, Any]:
    """The training options as family.json records them: paths as given, never absolute."""
    recorded = {}
    for key, value in asdict(config).items():
        if key in ("command", "progress"):
            continue
        recorded[key] = portable_path(value) if isinstance(value, Path) else value
    return recorded


def _write_family(config: TrainConfig, data: _Data, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the family's ``family.json``, ``plugin.py`` and ``MODEL_CARD.md``: the models of this command
    (``results``) with those of other lambdas the ``--out`` family already had. Each file atomically:
    a later command (and a resume) reads them back."""
    earlier = _earlier_family(config, data)
    family = _family_record(config, data, _merged_models(earlier, results), earlier)
    atomic_write_text(config.out / FAMILY_FILE, json.dumps(family, indent=2) + "\n")
    atomic_write_text(config.out / "plugin.py", plugin_source(config.family_name()))
    atomic_write_text(config.out / "MODEL_CARD.md", model_card(family))
    return family


def _merged_models(earlier: dict[str, Any] | None, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The family's models: this command's ``results`` (without their validation histories) and the
    ``earlier`` family's models of other lambdas, numbered by ``quality`` (1: the lowest lambda)."""
    new = [{k: v for k, v in r.items() if k not in ("history", "options")} for r in results]
    lambdas = {r["lambda"] for r in new}
    kept = [m for m in (earlier or {}).get("models", []) if m["lambda"] not in lambdas]
    for model in kept:  # (families written before models recorded their own command)
        model.setdefault("command", earlier["training"].get("command", ""))
        model.setdefault("init", None)
        model.setdefault("total_steps", model["steps"] if model["init"] is None else None)
    merged = sorted([{k: v for k, v in m.items() if k != "quality"} for m in kept] + new, key=lambda m: m["lambda"])
    return [{"quality": q, **m} for q, m in enumerate(merged, 1)]


def _family_record(
    config: TrainConfig, data: _Data, models: list[dict[str, Any]], earlier: dict[str, Any] | None
) -> dict[str, Any]:
    """What ``family.json`` holds: the architecture, the ``models`` and how they were trained."""
    import torch

    from bench.neural import import_compressai

    compressai = import_compressai()
    commands = [m["command"] for m in models if m.get("command")]
    # every command that trained a model of the family, in the order they ran, with those that trained
    # the --init family before them
    earlier_commands = (earlier or {}).get("training", {}).get("commands", [])
    history = list(dict.fromkeys([*earlier_commands, *_init_family_commands(config), *commands]))
    return {
        "format": "codec-bench neural family",
        "format_version": 1,
        "name": config.family_name(),
        "architecture": config.arch,
        "paper": ARCHITECTURES[config.arch].paper,
        "N": config.N,
        "M": config.M,
        "distortion": "mse",
        "loss": "lambda * 255^2 * MSE + bpp (CompressAI scaling), plus the entropy bottleneck's aux loss",
        "kmac_per_pixel": complexity_kmac(config.arch, config.N, config.M),
        "models": models,
        "training": {
            "command": _command(config),
            "commands": history,
            "data": data.description,
            "config": _recorded_config(config),
            "torch": torch.__version__,
            "compressai": compressai.__version__,
            "finished": timestamp("seconds"),
        },
    }


def plugin_source(family_name: str) -> str:
    """The ``plugin.py`` of a family folder: the family as a codec named ``family_name`` in lower case."""
    name = family_name.lower()
    return (
        f'"""This family as a codec: bench run --plugin <this file> --codec {name}"""\n'
        "from pathlib import Path\n\nfrom bench.neural.codec import make_family_codec\n\n"
        f"FamilyCodec = make_family_codec(Path(__file__).parent, name={name!r})\n"
    )


def _earlier_family(config: TrainConfig, data: _Data) -> dict[str, Any] | None:
    """The family already in ``--out`` (None if there is none); refused when it is not of the same
    architecture, widths and training data, whose models could not sit in one family with these."""
    path = config.out / FAMILY_FILE
    if not path.is_file():
        return None
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrainError(f"{path} is not valid JSON ({exc}); use another --out") from None
    theirs = (earlier.get("architecture"), earlier.get("N"), earlier.get("M"))
    if theirs != (config.arch, config.N, config.M):
        raise TrainError(f"{path} is a family of {theirs[0]} N={theirs[1]} M={theirs[2]}, not {config.arch} "
                         f"N={config.N} M={config.M}; use another --out")  # fmt: skip
    if earlier.get("training", {}).get("data", {}).get("files_sha256") != data.description["files_sha256"]:
        raise TrainError(f"{path} was trained on other data than {portable_path(config.data)}; use another --out")
    return earlier


def model_card(family: dict[str, Any]) -> str:
    """A model card with everything the family's training recorded."""
    t = family["training"]
    cfg = t["config"]
    commands = t.get("commands") or [t["command"]]
    if len(commands) > 1:
        optimiser = (
            f"- Adam, gradient norm clipped at 1, random crops with random horizontal flips; trained by "
            f"{len(commands)} commands (below, in the order they ran): the table gives each model's steps and "
            "starting point, the commands their learning rates, schedules, batches and crops."
        )
    else:
        optimiser = (
            f"- Adam, learning rate {cfg['lr']:g} ({cfg['lr_schedule']} schedule), aux learning rate "
            f"{cfg['aux_lr']:g}, gradient norm clipped at 1; batch {cfg['batch_size']} of random "
            f"{cfg['crop']}x{cfg['crop']} crops with random horizontal flips; {cfg['steps']} steps per model"
            f"{_time_limit_text(cfg)}; seed {cfg['seed']} (+ model index)."
        )
    lines = [
        f"# Model card: {family['name']}",
        "",
        f"Learned image codec family trained with codec-bench's `bench train`: **{family['architecture']}** "
        f"({family['paper']}), N={family['N']}, M={family['M']}, one model per lambda, optimised for MSE.",
        "",
        "## Recipe",
        "",
        f"- Loss: {family['loss']}; additive uniform noise for quantisation in training, rounding when coding.",
        optimiser,
        f"- Validation every {cfg['val_every']} steps on {cfg['val_crop']}x{cfg['val_crop']} centre crops in eval mode; "
        "the weights with the lowest validation loss are kept.",
        "",
        "## Data",
        "",
        f"- {t['data']['folder']}: {t['data']['layout']} ({t['data']['train_images']} training, "
        f"{t['data']['val_images']} validation images); fingerprint sha256 {t['data']['files_sha256']}.",
        "",
        "## Models",
        "",
        "| quality | lambda | steps | best step | val bpp | val PSNR (dB) | training time | device | weights sha256 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in family["models"]:
        lines.append(
            f"| {m['quality']} | {m['lambda']:g} | {_steps_text(m)} | {m['best_step']} | {m['val_bpp']:.3f} | "
            f"{m['val_psnr']:.2f} | {_time_text(m)} | {m['device']} | `{m['sha256'][:16]}...` |"
        )
    k = family["kmac_per_pixel"]
    lines += [
        "",
        f"Complexity (768x512 image, torch FLOP counter): encoder {k['encoder']:.1f} kMAC/pixel, decoder {k['decoder']:.1f} kMAC/pixel.",
        "",
        "## Reproduce",
        "",
        "```bash",
        *[c or "(command not recorded)" for c in commands],
        "```",
        "",
        f"torch {t['torch']}, compressai {t['compressai']}; finished {t['finished']}.",
        "",
    ]
    return "\n".join(lines)


def _time_limit_text(cfg: dict[str, Any]) -> str:
    if not cfg.get("minutes"):
        return ""
    return f" or {cfg['minutes']:g} minutes, whichever came first (the schedule followed the one further along)"


def _time_text(model: dict[str, Any]) -> str:
    """``12.0 min``, and the training steps per second when recorded: ``12.0 min (4.46 steps/s)``."""
    rate = model.get("steps_per_second")
    return f"{model['train_seconds'] / 60:.1f} min" + (f" ({rate:g} steps/s)" if rate else "")


def _steps_text(model: dict[str, Any]) -> str:
    """``9000``, or for a fine-tuned model ``3000 from lambda 0.005 (12000 in all)``."""
    init = model.get("init")
    if not init:
        return str(model["steps"])
    source = f"lambda {init['lambda']:g}" if init.get("lambda") is not None else f"`{init['sha256'][:12]}`"
    if init.get("modules"):  # a model of another architecture: the modules that came from it
        source = f"{Path(init['weights']).parent.name} {source} ({', '.join(init['modules'])})"
    total = model.get("total_steps")
    return f"{model['steps']} from {source}" + (f" ({total} in all)" if total else "")


def _train_in_worker(args: tuple[TrainConfig, int]) -> dict[str, Any]:
    die_with_parent()  # a terminated or killed bench train leaves no training behind
    config, index = args
    data = load_training_data(config.data, config.crop)
    return train_one(config, index, data)


def train_family(config: TrainConfig) -> dict[str, Any]:
    """Train every lambda of ``config`` (resuming what was interrupted) and write the family."""
    config = _checked(config)
    _device(config.device)  # before loading the data: a missing GPU fails at once
    _make_out(config.out)
    data = load_training_data(config.data, config.crop)
    _earlier_family(config, data)  # refuse a mismatched --out before training, not after
    _check_finished_models(config)
    for lmbda in config.lambdas if config.init is not None else ():  # a wrong file fails now, not after training
        _load_init(build(config.arch, config.N, config.M), config, initial_weights(config, lmbda))
    indices = range(len(config.lambdas))
    if config.jobs > 1:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=config.jobs, mp_context=ctx) as pool:
            results = list(pool.map(_train_in_worker, [(config, i) for i in indices]))
    else:
        results = [train_one(config, i, data) for i in indices]
    return _write_family(config, data, results)


def _checked(config: TrainConfig) -> TrainConfig:
    """``config`` with its architecture's recorded name, once its options are checked (:class:`TrainError`
    says which one is wrong)."""
    if config.arch not in TRAIN_CHOICES:
        raise TrainError(f"unknown architecture '{config.arch}'; choose one of {', '.join(TRAIN_CHOICES)}")
    # --arch hyperprior / mean-scale train the portable models (bench.neural.architectures.TRAIN_ALIASES)
    config = replace(config, arch=train_architecture(config.arch))
    if not (0 < config.lr < math.inf and 0 < config.aux_lr < math.inf):
        raise TrainError("--lr and --aux-lr must be positive numbers")
    if config.weights_dtype not in WEIGHTS_DTYPES:
        raise TrainError("--weights-dtype must be float32 or float16")
    if config.lr_schedule not in SCHEDULES:
        raise TrainError(f"unknown schedule '{config.lr_schedule}'; choose one of {', '.join(SCHEDULES)}")
    if not config.lambdas or len(set(config.lambdas)) != len(config.lambdas) or min(config.lambdas) <= 0:
        raise TrainError("give one or more distinct positive lambdas")
    if min(config.steps, config.batch_size, config.crop, config.val_every, config.jobs) < 1:
        raise TrainError("steps, batch size, crop, val-every and jobs must be at least 1")
    stride = ARCHITECTURES[config.arch].stride
    if config.crop % stride:
        raise TrainError(f"--crop must be a multiple of {stride} for '{config.arch}'")
    if config.init is not None and not _init_is_nearest(config) and not Path(config.init).exists():
        raise TrainError(f"--init {config.init}: no such file or folder")
    return config


def _make_out(out: Path) -> None:
    """Make the family folder ``out`` (and its parents) when it is not there; :class:`TrainError` when
    it cannot be: a file of that name, or a file, a permission or a full disk in its way."""
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file, not a folder; give a folder for the family")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"--out {out}: cannot make the folder ({exc.strerror or exc})") from None
