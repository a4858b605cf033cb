"""The base of learned codecs: one codec per model family written by ``bench train``, one quality per lambda.

Encoding: the RGB image (scaled to [0, 1]) is padded on the right and bottom by repeating its last
row and column up to a multiple of the architecture's stride (64 for hyperpriors, 16 for the
factorized prior), compressai's ``compress`` entropy-codes the latents with the family's stored CDF
tables, and the strings are wrapped in codec-bench's self-describing bitstream
(:mod:`bench.neural.bitstream`: model id, quality, image size). Decoding reads only those bytes,
runs ``decompress``, crops the padding, clips to [0, 1] and rounds to 8 bits.

On the CPU the codecs run on one thread (``torch.set_num_threads(1)`` in the measuring process);
on a GPU each call waits for the device (``torch.cuda.synchronize``) before returning, so the
runner's wall-clock times cover the work, and the peak GPU memory of each call is recorded.

:class:`CompressAICodec` is the shared base of codecs made of compressai models (the families
trained by ``bench train`` and CompressAI's zoo, :mod:`bench_codecs.compressai_zoo`);
:class:`NeuralFamilyCodec` is one backed by a family folder, and any family folder becomes a
registered codec with :func:`make_family_codec`, which is what the ``plugin.py`` written by
``bench train`` calls. The family shipped with codec-bench (``factorized-small``) is registered in
:mod:`bench_codecs.neural`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.codec import Codec, CodecError, Knob, check_rgb8, register_codec
from bench.neural import device_name, import_compressai, resolve_device
from bench.neural.bitstream import Header, pack, unpack
from bench.neural.family import FamilyError, NeuralFamily

__all__ = ["CompressAICodec", "NeuralFamilyCodec", "make_family_codec"]


class CompressAICodec(Codec):
    """Shared encode/decode of codecs made of compressai models (subclasses give the models).

    Subclasses implement :meth:`model` (the eval-mode model of a quality on this codec's device),
    :meth:`model_id` (4 bytes naming that model's weights) and set ``stride``.
    """

    kind = "neural"
    extension = "cbn"
    uses_device: ClassVar[bool] = True
    threads: ClassVar[int] = 1
    stride: int = 64

    def __init__(self, device: str = "cpu") -> None:
        self.device = resolve_device(device)
        self._stats: dict[str, Any] = {}
        self._threads_set = False

    @staticmethod
    def _import_problem(*extra: str) -> str | None:
        """Why torch, compressai or the ``extra`` modules cannot be imported; None when they can."""
        import importlib

        try:
            for module in ("torch", *extra):
                importlib.import_module(module)
            import_compressai()
        except ImportError as exc:
            needs = ", ".join(("torch", "compressai", *extra))
            return f"needs {needs} ({exc}); pip install codec-bench installs them"
        return None

    def model(self, quality: int):
        raise NotImplementedError

    def model_id(self, quality: int) -> bytes:
        raise NotImplementedError

    def _model(self, quality: int):
        if self.device == "cpu" and not self._threads_set:
            import torch

            torch.set_num_threads(self.threads)  # per process: measuring workers run one codec thread
            self._threads_set = True
        return self.model(quality)

    def _start_call(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()

    def _end_call(self, what: str) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            self._stats[f"{what}_peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20

    def _padded_tensor(self, image: np.ndarray):
        import torch
        import torch.nn.functional as F

        pixels = np.ascontiguousarray(image)
        if not pixels.flags.writeable:  # images staged by the runner are read-only memory maps
            pixels = pixels.copy()
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div_(255.0)
        h, w = image.shape[:2]
        pad_h, pad_w = -h % self.stride, -w % self.stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x.to(self.device)

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        import torch

        check_rgb8(image)
        q = self.knob.check(quality)
        model = self._model(q)
        self._start_call()
        with torch.inference_mode():
            out = model.compress(self._padded_tensor(image))
        self._end_call("encode")
        groups = [[strings[0]] for strings in out["strings"]]  # a batch of one image
        return pack(Header(self.model_id(q), q, image.shape[0], image.shape[1]), groups)

    def decode(self, data: bytes) -> np.ndarray:
        import torch

        header, groups = unpack(data)
        if not self.knob.low <= header.quality <= self.knob.high:
            raise CodecError(
                f"bitstream asks for quality {header.quality}; {self.name} has {self.knob.low:g}..{self.knob.high:g}"
            )
        if self.model_id(header.quality) != header.model_id:
            raise CodecError(
                f"bitstream was made by model {header.model_id.hex()}, but {self.name} quality {header.quality} "
                f"is {self.model_id(header.quality).hex()}: different weights"
            )
        shape = (math.ceil(header.height / self.stride), math.ceil(header.width / self.stride))
        model = self._model(header.quality)
        self._start_call()
        with torch.inference_mode():
            x_hat = model.decompress(groups, shape)["x_hat"]
            x_hat = x_hat[0, :, : header.height, : header.width].clamp(0, 1).mul(255).round()
            pixels = x_hat.to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        self._end_call("decode")
        return np.ascontiguousarray(pixels)

    def last_stats(self) -> dict[str, Any]:
        stats, self._stats = self._stats, {}
        return stats

    def analyze(self, image: np.ndarray, quality: float) -> dict[str, Any]:
        """The entropy model's estimate of the coded size: -sum(log2 likelihoods) of the quantised
        latents (the rate term of the training loss, without the header and the coder's overhead)."""
        import torch

        model = self._model(self.knob.check(quality))
        with torch.inference_mode():
            out = model(self._padded_tensor(image))
        bits = sum(float(-torch.log2(lk).sum()) for lk in out["likelihoods"].values())
        return {"estimated_bits": bits, "estimated_bpp": bits / (image.shape[0] * image.shape[1])}

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__, "compressai": import_compressai().__version__}

    def _device_settings(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "device_name": device_name(self.device),
            "threads": self.threads if self.device == "cpu" else None,
            "padding": f"replicate, right/bottom, to a multiple of {self.stride}",
        }


class NeuralFamilyCodec(CompressAICodec):
    """A codec backed by a model family folder written by ``bench train`` (``family_dir``)."""

    family_dir: ClassVar[Path]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        problem = cls._import_problem("safetensors")
        if problem:
            return problem
        try:
            missing = NeuralFamily(cls.family_dir).missing_files()
        except FamilyError as exc:
            return str(exc)
        return f"weights missing: {', '.join(str(p) for p in missing)}" if missing else None

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.family = NeuralFamily(self.family_dir)
        self.stride = self.family.stride

    def model(self, quality: int):
        return self.family.model(quality, self.device)

    def model_id(self, quality: int) -> bytes:
        return self.family.models[quality].model_id

    def settings(self) -> dict[str, Any]:
        info = self.family.info
        return {
            "family": self.family.name,
            "architecture": self.family.architecture,
            "N": self.family.N,
            "M": self.family.M,
            "lambdas": [m.lmbda for m in self.family.models.values()],
            "weights_sha256": [m.sha256 for m in self.family.models.values()],
            "distortion": info.get("distortion", "mse"),
            "kmac_per_pixel": info.get("kmac_per_pixel"),
            **self._device_settings(),
        }


def make_family_codec(
    folder: str | Path, name: str | None = None, module: str | None = None
) -> type[NeuralFamilyCodec]:
    """A registered codec class for the family in ``folder`` (named after the family by default).

    ``module`` is the module the class is found in (the caller's, by default), so that the
    registry collects it from a plugin file that calls this function.
    """
    folder = Path(folder).resolve()
    module = module or sys._getframe(1).f_globals["__name__"]
    try:
        family = NeuralFamily(folder)
        count, family_name = len(family.models), family.name
    except FamilyError:
        count, family_name = 1, folder.name  # registered anyway; unavailable_reason says what is wrong
    codec_name = (name or family_name).lower()
    cls = type(
        f"NeuralFamily_{codec_name.replace('-', '_')}",
        (NeuralFamilyCodec,),
        {
            "name": codec_name,
            "family_dir": folder,
            "knob": Knob(
                "quality", 1, count, tuple(range(1, count + 1)), description="model of the family (1 = lowest rate)"
            ),
            "__module__": module,
        },
    )
    return register_codec(cls)
