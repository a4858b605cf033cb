"""Your own CompressAI checkpoints as a codec, no code: ``compressai:<arch>:<path>``.

``<arch>`` is an architecture of ``compressai.zoo.image.model_architectures`` (the names CompressAI's
``eval_model checkpoint -a`` takes: ``bmshj2018-factorized``, ``bmshj2018-hyperprior``, ``mbt2018-mean``,
``mbt2018``, ``cheng2020-anchor``, ``cheng2020-attn``, ...); ``<path>`` is a checkpoint file (any name), a
folder (its ``*.pth``, ``*.pth.tar``, ``*.pt``, ``*.ckpt`` and ``*.safetensors`` files, not recursive)
or a glob pattern (files with those endings). Each checkpoint is one quality.

Accepted files: what CompressAI's ``examples/train.py`` saves (a dict with ``state_dict``, ``epoch``,
``optimizer``, ...; its coding tables not yet updated), plain state dicts (the zoo's ``.pth.tar``),
safetensors files, and the keys ``network`` and ``model_state_dict`` as ``eval_model`` reads them; keys
are renamed as ``compressai.zoo.load_pretrained`` does (a DataParallel ``module.`` prefix dropped, old
entropy-bottleneck names). Files are read without running code: ``torch.load(weights_only=True)`` or
``safetensors.torch.load``; a pickle that needs anything else is refused with its file named.

The model is ``model_architectures[arch].from_state_dict(state)``, then ``net.update(force=True)``:
the entropy coder's tables are recomputed, as ``eval_model`` does by default (stored tables are
ignored). Images are padded as ``eval_model`` pads them (zeros, centred, to a multiple of 64 for every
architecture) and cropped back, so the latent strings are ``eval_model``'s own; the file adds
codec-bench's header (:mod:`bench.neural.bitstream`), whose model id is the first 4 bytes of the
checkpoint file's sha256.

**Quality order**: quality 1 is the checkpoint of lowest rate. The rate of each checkpoint is its
entropy model's estimate (``-sum(log2 likelihoods)`` of ``forward``, in bpp) on :func:`probe_image`, a
fixed synthetic 128 x 128 image, computed in float64 on the CPU and rounded to 1e-6 bpp so that every
process, thread count and device orders the same way; ties go by path. Not in the default run.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.api.codec import CodecError, Knob, register_codec_spec
from bench.neural import import_compressai
from bench.neural.codec import CompressAICodec

PREFIX = "compressai:"
USAGE = "compressai:<arch>:<checkpoint file | folder | glob>"
SUFFIXES = (".pth", ".pth.tar", ".pt", ".ckpt", ".safetensors")
STATE_KEYS = ("network", "state_dict", "model_state_dict")  # in eval_model's order: the last one present wins
ORDER_RULE = (
    "rising estimated bpp (-sum log2 likelihoods of forward) on codec-bench's 128x128 synthetic probe image, "
    "float64 on the CPU, rounded to 1e-6 bpp; ties by path"
)
UPDATE_RULE = (
    "net.update(force=True) after loading: coding tables recomputed as CompressAI's eval_model does by default"
)


def probe_image() -> np.ndarray:
    """The fixed 128 x 128 RGB image the checkpoints' rates are estimated on: gradients, a checkerboard,
    triangle waves, a sharp-edged square and an integer-hash texture; integer arithmetic only, so it is
    the same array on every machine."""
    y, x = np.mgrid[0:128, 0:128].astype(np.int64)
    texture = ((x * 73856093) ^ (y * 19349663)) % 61 - 30
    red = 40 + 120 * ((x // 16 + y // 16) % 2) + abs((3 * x) % 64 - 32)
    green = 30 + (3 * x + y) // 2
    blue = np.where((abs(x - 80) < 24) & (abs(y - 48) < 20), 220, 40 + y + abs((5 * y) % 40 - 20))
    image = np.stack([red, green, blue], axis=-1) + texture[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def match_checkpoints(path: str) -> list[str]:
    """The checkpoint files ``path`` names (a file; a folder's checkpoint files, hidden ones aside; a
    glob's checkpoint files), as given or joined with the folder given, sorted by path."""
    if not path:
        return []
    if re.search(r"[*?[]", path):
        import glob

        return sorted(p for p in glob.glob(path) if p.endswith(SUFFIXES) and os.path.isfile(p))
    if os.path.isdir(path):
        names = [n for n in os.listdir(path) if n.endswith(SUFFIXES) and not n.startswith(".")]
        return sorted(os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n)))
    return [path] if os.path.isfile(path) else []


_SHA256: dict[tuple[str, int, int], str] = {}


def _stat_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.realpath(path), st.st_size, st.st_mtime_ns


def file_sha256(path: str, content: bytes | None = None) -> str:
    """sha256 of a file, computed once per process (cached by real path, size and mtime)."""
    key = _stat_key(path)
    if key not in _SHA256:
        _SHA256[key] = hashlib.sha256(Path(path).read_bytes() if content is None else content).hexdigest()
    return _SHA256[key]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the file."""


def _one_line(text: str, limit: int = 300) -> str:
    text = "; ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_state_dict(path: str, content: bytes) -> dict[str, Any]:
    """The model state dict of a checkpoint file's ``content``, read without running code from it."""
    if path.endswith(".safetensors"):
        import safetensors.torch

        try:
            return safetensors.torch.load(content)
        except Exception as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({_one_line(exc)})") from None
    import pickle

    import torch

    try:
        checkpoint = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        needs = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if needs:
            raise CheckpointError(
                f"{path}: refused, loading it would run code named in the file ({needs.group(1)}); only tensors, "
                "numbers, strings and containers are read (torch.load weights_only=True)"
            ) from None
        reason = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:Check the documentation|$)", str(exc), re.S)
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({_one_line(reason.group(1) if reason else exc)})"
        ) from None
    except Exception as exc:
        detail = f"{type(exc).__name__}: {_one_line(exc)}" if str(exc) else f"{type(exc).__name__}: empty or truncated"
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({detail})") from None
    state = checkpoint
    if isinstance(checkpoint, dict):
        for key in STATE_KEYS:
            if key in checkpoint:
                state = checkpoint[key]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(
            f"{path}: holds no state dict of tensors (looked at the file and its keys {', '.join(STATE_KEYS)})"
        )
    return state


def build_model(arch: str, state: dict[str, Any], path: str):
    """``model_architectures[arch].from_state_dict`` of the state, keys renamed as the zoo does."""
    zoo = import_compressai().zoo.image
    try:
        return zoo.model_architectures[arch].from_state_dict(zoo.load_pretrained(state))
    except KeyError as exc:
        raise CheckpointError(f"{path}: the state dict does not fit {arch}: it has no {exc.args[0]!r}") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: the state dict does not fit {arch}: {_mismatch(exc)}") from None


def _mismatch(exc: Exception) -> str:
    """One line summing up ``load_state_dict``'s error: missing, unexpected and mis-sized entries."""
    text = str(exc)
    parts = []
    for label, pattern in (("missing", r"Missing key\(s\) in state_dict: (.*)"),
                           ("unexpected", r"Unexpected key\(s\) in state_dict: (.*)")):  # fmt: skip
        found = re.search(pattern, text)
        if found:
            keys = re.findall(r'"([^"]+)"', found.group(1))
            parts.append(f"{len(keys)} {label} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})")
    sizes = re.findall(r"size mismatch for ([^:]+): copying a param with shape (torch.Size\(\[[^]]*\]\)) from "
                       r"checkpoint, the shape in current model is (torch.Size\(\[[^]]*\]\))", text)  # fmt: skip
    if sizes:
        key, got, want = sizes[0]
        parts.append(
            f"{len(sizes)} of another shape ({key}: {got[11:-1]} instead of {want[11:-1]}{', ...' if len(sizes) > 1 else ''})"
        )
    return "; ".join(parts) if parts else _one_line(exc)


def estimated_bpp(net) -> float:
    """``net``'s estimated rate on :func:`probe_image`, float64 on the CPU, rounded to 1e-6 bpp (``net``
    is left in float64)."""
    import torch

    model = net.double().eval()
    x = torch.from_numpy(probe_image()).permute(2, 0, 1)[None].double().div_(255.0)
    with torch.inference_mode():
        likelihoods = model(x)["likelihoods"].values()
        bits = sum(float(-torch.log2(lk).sum()) for lk in likelihoods)
    return round(bits / (x.shape[2] * x.shape[3]), 6)


@dataclass(frozen=True)
class Checkpoint:
    path: str  # as given (joined with the folder given)
    sha256: str
    estimated_bpp: float
    state: dict[str, Any]


def architectures() -> list[str]:
    return list(import_compressai().zoo.image.model_architectures)


class CompressAICheckpointCodec(CompressAICodec):
    """CompressAI checkpoints of one architecture, one quality each; subclasses (made by
    :func:`checkpoint_codec` for each spec) set ``name``, ``arch``, ``path``, ``files`` and ``knob``."""

    arch: ClassVar[str]
    path: ClassVar[str]
    files: ClassVar[tuple[str, ...]]
    in_default_run = False
    stride = 2**6  # eval_model pads every architecture to a multiple of 64
    padding = "compressai"
    _catalog: ClassVar[list[Checkpoint] | str | None] = None

    @classmethod
    def checkpoints(cls) -> list[Checkpoint]:
        """The checkpoints in quality order (index 0 is quality 1); :class:`CodecError` if unusable."""
        if cls.__dict__.get("_catalog") is None:
            cls._catalog = cls._read_checkpoints()
        if isinstance(cls._catalog, str):
            raise CodecError(cls._catalog)
        return cls._catalog

    @classmethod
    def _read_checkpoints(cls) -> list[Checkpoint] | str:
        """The checkpoints ordered by rate, or what is wrong (one line naming the file)."""
        if cls.arch not in architectures():
            return f"unknown CompressAI architecture '{cls.arch}' in '{cls.name}'; one of: {', '.join(architectures())}"
        if not cls.path:
            return f"'{cls.name}' names no checkpoint: write {USAGE}"
        if not cls.files:
            if not re.search(r"[*?[]", cls.path) and not os.path.exists(cls.path):
                return f"{cls.path}: no such file or folder"
            return f"{cls.path}: no checkpoint there (files ending in {', '.join(SUFFIXES)})"
        found = []
        for path in cls.files:
            try:
                content = Path(path).read_bytes()
            except OSError as exc:
                return f"{path}: cannot be read ({exc.strerror or exc})"
            try:
                state = load_state_dict(path, content)
                net = build_model(cls.arch, state, path)
                bpp = estimated_bpp(net)
            except CheckpointError as exc:
                return str(exc)
            except Exception as exc:
                return f"{path}: {type(exc).__name__}: {_one_line(exc)}"
            found.append(Checkpoint(path, file_sha256(path, content), bpp, state))
        return sorted(found, key=lambda c: (c.estimated_bpp, c.path))

    @classmethod
    def unavailable_reason(cls) -> str | None:
        problem = cls._import_problem(*(("safetensors",) if any(f.endswith(".safetensors") for f in cls.files) else ()))
        if problem:
            return problem
        try:
            cls.checkpoints()
        except CodecError as exc:
            return str(exc)
        return None

    def __init__(self, device: str = "cpu", half: bool = False) -> None:
        super().__init__(device, half)
        self._models: dict[int, Any] = {}

    def model(self, quality: int):
        if quality not in self._models:
            checkpoint = self.checkpoints()[quality - 1]
            net = build_model(self.arch, checkpoint.state, checkpoint.path)
            net.update(force=True)  # as eval_model does by default
            self._models[quality] = net.to(self.device).eval()
        return self._models[quality]

    def model_id(self, quality: int) -> bytes:
        return bytes.fromhex(self.checkpoints()[quality - 1].sha256[:8])

    def settings(self) -> dict[str, Any]:
        return {
            "architecture": self.arch,
            "checkpoints": [
                {"quality": q, "path": c.path, "sha256": c.sha256, "estimated_bpp": c.estimated_bpp}
                for q, c in enumerate(self.checkpoints(), start=1)
            ],
            "order": ORDER_RULE,
            "update": UPDATE_RULE,
            **self._device_settings(),
        }


_CLASSES: dict[tuple, type[CompressAICheckpointCodec]] = {}


@register_codec_spec(PREFIX, usage=USAGE)
def checkpoint_codec(name: str) -> type[CompressAICheckpointCodec] | None:
    """The codec of ``compressai:<arch>:<path>``; None for names without a path part (the zoo's
    ``compressai:<arch>`` codecs are registered by :mod:`bench_codecs.compressai_zoo`).

    The class is ``bench_codecs.compressai_checkpoint.Checkpoints_<arch>`` in every process; one per name
    and set of files (path, size, mtime) per process, so its checkpoints are read once."""
    arch, sep, path = name[len(PREFIX) :].partition(":")
    if not name.startswith(PREFIX) or not sep:
        return None
    files = tuple(match_checkpoints(path))
    stats = []
    for f in files:
        try:
            stats.append(_stat_key(f))
        except OSError:
            stats.append((f, -1, -1))
    key = (name, tuple(stats))
    if key not in _CLASSES:
        qualname = "Checkpoints_" + re.sub(r"\W", "_", arch)
        count = max(len(files), 1)
        _CLASSES[key] = type(
            qualname,
            (CompressAICheckpointCodec,),
            {
                "name": name,
                "arch": arch,
                "path": path,
                "files": files,
                "knob": Knob(
                    "quality",
                    1,
                    count,
                    tuple(range(1, len(files) + 1)),
                    description="checkpoint, by rising estimated rate (1 = lowest)",
                ),  # fmt: skip
                "__module__": __name__,
                "__qualname__": qualname,
            },
        )
    return _CLASSES[key]
