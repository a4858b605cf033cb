"""The base of learned codecs: one codec per model family written by ``bench train``, one quality per lambda.

Encoding: the RGB image (scaled to [0, 1]) is padded up to a multiple of the architecture's stride
(64 for hyperpriors, 16 for the factorized prior) as the codec's ``padding`` says: ``replicate``
(codec-bench's families: the last row and column repeated to the right and bottom) or
``compressai`` (CompressAI's ``eval_model``: zeros, centred, ``compressai.ops.compute_padding``);
compressai's ``compress`` entropy-codes the latents with the model's stored CDF tables, and the
strings are wrapped in codec-bench's self-describing bitstream (:mod:`bench.neural.bitstream`:
format version, model id, quality, entropy model and padding, image size). Decoding reads only those
bytes, refuses a file of another model, entropy model, padding or an unknown format version with a
message saying which, runs ``decompress``, crops the padding, clips to [0, 1] and rounds to 8 bits.

On the CPU the codecs run on one thread (``torch.set_num_threads(1)`` in the measuring process);
on a GPU each call waits for the device (``torch.cuda.synchronize``) before returning, so the
runner's wall-clock times cover the work, and the peak GPU memory of each call is recorded. The
runner's ``encode_s`` / ``decode_s`` cover the whole call: the RGB-to-tensor conversion and padding,
the model's ``compress`` / ``decompress``, the bitstream's header, and cropping, clamping and
rounding the reconstruction (never model loading, which happens before the untimed warm-up call).
Each call also records the split of the model's call (:mod:`bench.neural.complexity`'s
``PartWatch``): ``encode_network_s`` / ``decode_network_s``, the time inside its network parts,
and ``encode_coding_s`` / ``decode_coding_s``, the rest of the model's call (quantisation, CDF
indexes, rANS, an autoregressive loop's own work); the wrapping costs the timed call two
``perf_counter`` calls per part call (``tests/perf/time_split_overhead.py``). The GPU
runs cuDNN's deterministic algorithms with TF32 off (in the codec's process), so the same bytes decode
to the same pixels in every process.

:class:`CompressAICodec` is the shared base of codecs made of compressai models (the families
trained by ``bench train`` and CompressAI's zoo, :mod:`bench_codecs.compressai_zoo`);
:class:`NeuralFamilyCodec` is one backed by a family folder, and any family folder becomes a
registered codec with :func:`make_family_codec`, which is what the ``plugin.py`` written by
``bench train`` calls. The families shipped with codec-bench (``mean-scale-small``, ``factorized-small``) are
registered in :mod:`bench_codecs.neural`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.api.codec import Codec, CodecError, Knob, check_rgb8, register_codec
from bench.neural import device_name, module_version, resolve_device
from bench.neural.bitstream import ENTROPY_FLOAT, ENTROPY_MODELS, Header, pack, unpack
from bench.neural.complexity import MacCount, PartWatch, count_macs, parameters_by_part
from bench.neural.family import FamilyError, NeuralFamily

__all__ = ["CompressAICodec", "NeuralFamilyCodec", "make_family_codec"]


class CompressAICodec(Codec):
    """Shared encode/decode of codecs made of compressai models (subclasses give the models).

    Subclasses implement :meth:`model` (the eval-mode model of a quality on this codec's device),
    :meth:`model_id` (4 bytes naming that model's weights) and set ``stride`` and ``padding``
    (``replicate`` or ``compressai``, see the module docstring).
    """

    kind = "neural"
    extension = "cbn"
    uses_device: ClassVar[bool] = True
    threads: ClassVar[int] = 1
    stride: int = 64
    padding: ClassVar[str] = "replicate"
    #: count the MACs of every image (a model whose work depends on the pixels), not once per size
    count_each_image: ClassVar[bool] = False

    def __init__(self, device: str = "cpu", half: bool = False) -> None:
        self.device = resolve_device(device)
        #: half precision (float16 weights and activations, as CompressAI's ``eval_model --half``)
        self.half = half
        self._stats: dict[str, Any] = {}
        self._threads_set = False
        self._halved: set[int] = set()
        #: (quality, padded tensor shape) -> MAC counts of compress and decompress (see complexity)
        self._counted: dict[tuple, tuple[MacCount, MacCount]] = {}

    @staticmethod
    def _import_problem(*extra: str) -> str | None:
        """Why torch, compressai or the ``extra`` modules are not installed; None when they are. Found, not
        imported (importing torch and compressai takes seconds: ``bench codecs`` lists codecs without it); an
        installation that is found but fails to import says so when the codec is made."""
        from importlib.util import find_spec

        missing = [module for module in ("torch", "compressai", *extra) if find_spec(module) is None]
        if missing:
            needs = ", ".join(("torch", "compressai", *extra))
            return f"needs {needs} (no module named {', '.join(missing)}); pip install codec-bench installs them"
        return None

    def model(self, quality: int):
        raise NotImplementedError

    def model_id(self, quality: int) -> bytes:
        raise NotImplementedError

    def _model(self, quality: int):
        if not self._threads_set:
            import torch

            if self.device == "cpu":
                torch.set_num_threads(self.threads)  # per process: measuring workers run one codec thread
            else:  # the same bytes decode to the same pixels in every process on this GPU
                torch.backends.cudnn.deterministic = True
                torch.backends.cudnn.benchmark = False
                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cuda.matmul.allow_tf32 = False
            self._threads_set = True
        model = self.model(quality)
        if self.half and id(model) not in self._halved:
            if self.entropy_model(model) != ENTROPY_FLOAT:
                raise CodecError(
                    f"{self.name}: half precision is for compressai's float models; a portable model's "
                    "entropy model computes exactly in integers and its transforms in float32"
                )
            model.half()
            self._halved.add(id(model))
        return model

    def _start_call(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()

    def _record_split(self, what: str, started_s: float, watch: PartWatch) -> None:
        """Record the model call's time split: ``<what>_network_s`` (inside its network parts) and
        ``<what>_coding_s`` (the rest of the call); ``started_s``: the ``perf_counter`` time it started."""
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        call_s = time.perf_counter() - started_s
        self._stats[f"{what}_network_s"] = watch.network_s
        self._stats[f"{what}_coding_s"] = max(0.0, call_s - watch.network_s)

    def _end_call(self, what: str) -> None:
        """On a GPU, record the call's peak memory (``<what>_peak_gpu_mb``, MiB) once all its work is done."""
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            self._stats[f"{what}_peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20

    def _latent_shape(self, model, height: int, width: int) -> tuple[int, int]:
        """The shape compressai's ``decompress`` needs: the padded image's size over the model's
        ``downsampling_factor`` (16 for the factorized prior, 64 for hyperpriors' hyper-latents;
        ``stride`` for a model that does not say), which can be less than the padding's ``stride``."""
        down = getattr(model, "downsampling_factor", self.stride)
        return (
            math.ceil(height / self.stride) * self.stride // down,
            math.ceil(width / self.stride) * self.stride // down,
        )

    def _offsets(self, height: int, width: int) -> tuple[int, int]:
        """(top, left): where the image lies in the padded tensor."""
        if self.padding == "compressai":  # compressai.ops.compute_padding: the extra half rounded down on top/left
            return (-height % self.stride) // 2, (-width % self.stride) // 2
        return 0, 0

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
            if self.padding == "compressai":
                top, left = self._offsets(h, w)
                x = F.pad(x, (left, pad_w - left, top, pad_h - top), mode="constant", value=0.0)
            else:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x.to(self.device, torch.float16 if self.half else torch.float32)

    @staticmethod
    def entropy_model(model) -> int:
        """The bitstream code of ``model``'s entropy model (:data:`bench.neural.bitstream.ENTROPY_MODELS`)."""
        return getattr(model, "entropy_model", ENTROPY_FLOAT)

    def encode(self, image: np.ndarray, quality: float) -> bytes:
        import torch

        check_rgb8(image)
        q = self.knob.check(quality)
        model = self._model(q)
        self._start_call()
        with torch.inference_mode(), PartWatch(model, self.device) as watch:
            x = self._padded_tensor(image)
            start = time.perf_counter()
            out = model.compress(x)
            self._record_split("encode", start, watch)
        self._end_call("encode")
        groups = [[strings[0]] for strings in out["strings"]]  # a batch of one image
        header = Header(self.model_id(q), q, image.shape[0], image.shape[1], self.entropy_model(model), self.padding)
        return pack(header, groups)

    def decode(self, data: bytes) -> np.ndarray:
        return self.decode_with_latents(data, latents=False)[0]

    def decode_with_latents(self, data: bytes, latents: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The 8-bit reconstruction of ``data`` and (if ``latents``) what the entropy decoder read
        before the synthesis transform: ``y_hat``, the input of ``g_s`` (float32, as decoded; None for
        a model without a ``g_s`` module).
        ``bench verify`` compares the latents across processes and settings: equal latents mean the
        decoder did not desynchronise, whatever the synthesis transform then computes."""
        import torch

        header, groups, model = self._read(data)
        top, left = self._offsets(header.height, header.width)
        shape = self._latent_shape(model, header.height, header.width)
        seen: list = []
        g_s = getattr(model, "g_s", None) if latents else None  # compressai's models all have one
        hook = g_s.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach())) if g_s else None
        self._start_call()
        try:
            with torch.inference_mode():
                with PartWatch(model, self.device) as watch:
                    start = time.perf_counter()
                    x_hat = model.decompress(groups, shape)["x_hat"]
                    self._record_split("decode", start, watch)
                x_hat = x_hat[0, :, top : top + header.height, left : left + header.width].float()
                x_hat = x_hat.clamp(0, 1).mul(255).round()
                pixels = x_hat.to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        finally:
            if hook is not None:
                hook.remove()
        self._end_call("decode")
        y_hat = seen[0].float().cpu().numpy() if seen else None
        return np.ascontiguousarray(pixels), y_hat

    def _read(self, data: bytes):
        """(header, string groups, model) of ``data``, after checking it is one of this codec's files."""
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
        model = self._model(header.quality)
        if header.entropy is not None and header.entropy != self.entropy_model(model):
            raise CodecError(
                f"bitstream was coded with {ENTROPY_MODELS[header.entropy]}, but {self.name} quality {header.quality} "
                f"decodes with {ENTROPY_MODELS[self.entropy_model(model)]}"
            )
        if header.padding is not None and header.padding != self.padding:
            raise CodecError(f"bitstream was padded '{header.padding}', {self.name} pads '{self.padding}'")
        return header, groups, model

    def last_stats(self) -> dict[str, Any]:
        stats, self._stats = self._stats, {}
        return stats

    def analyze(self, image: np.ndarray, quality: float) -> dict[str, Any]:
        """The entropy model's estimate of the coded size: -sum(log2 likelihoods) of the quantised
        latents (the rate term of the training loss, without the header and the coder's overhead),
        and the complexity of coding ``image`` (:meth:`complexity`)."""
        import torch

        model = self._model(self.knob.check(quality))
        with torch.inference_mode():
            out = model(self._padded_tensor(image))
        bits = sum(float(-torch.log2(lk.double()).sum()) for lk in out["likelihoods"].values())
        estimate = {"estimated_bits": bits, "estimated_bpp": bits / (image.shape[0] * image.shape[1])}
        try:  # a model the counter cannot follow loses its complexity columns, never the measurement
            counted = self.complexity(image, quality)
        except Exception as exc:  # noqa: BLE001 (any failure of the extra, untimed counting run)
            counted = {"complexity_error": f"{type(exc).__name__}: {exc}"[:300]}
        return {**estimate, **counted}

    def complexity(self, image: np.ndarray, quality: float) -> dict[str, Any]:
        """MACs and parameters of coding ``image`` at ``quality`` (:mod:`bench.neural.complexity`'s
        conventions), per pixel of the image (padding included in the work, not in the pixels):
        ``enc_kmac_px`` and ``dec_kmac_px`` (thousands of MACs per pixel of ``compress`` and
        ``decompress``), the same by part (``enc_kmac_px_by_part``, ``dec_kmac_px_by_part``),
        ``params`` (all the model's parameters), ``enc_params`` and ``dec_params`` (those of the
        parts each side uses: calls, or reads the parameters of) and ``params_by_part``.

        Counted once per quality and padded size in each process (the counts of these operators
        depend only on the tensors' shapes), or for every image when ``count_each_image`` is set (a
        model whose work depends on the pixels). :meth:`analyze` records ``complexity_error`` instead
        when the counting run fails."""
        q = self.knob.check(quality)
        model = self._model(q)
        x = self._padded_tensor(image)
        key = (q, tuple(x.shape))
        counted = self._counted.get(key)
        if counted is None or self.count_each_image:
            encoding = count_macs(model, lambda: model.compress(x), self.device)
            out = encoding.result
            decoding = count_macs(model, lambda: model.decompress(out["strings"], out["shape"]), self.device)
            # keep the numbers only: the calls' results (a decoded image) would pile up per size and quality
            counted = self._counted[key] = (replace(encoding, result=None), replace(decoding, result=None))
        encoding, decoding = counted
        per_pixel = 1000.0 * image.shape[0] * image.shape[1]
        params = parameters_by_part(model)
        return {
            "enc_kmac_px": encoding.total / per_pixel,
            "dec_kmac_px": decoding.total / per_pixel,
            "enc_kmac_px_by_part": {part: n / per_pixel for part, n in encoding.by_part.items()},
            "dec_kmac_px_by_part": {part: n / per_pixel for part, n in decoding.by_part.items()},
            "params": sum(params.values()),
            "enc_params": sum(params.get(part, 0) for part in encoding.parts),
            "dec_params": sum(params.get(part, 0) for part in decoding.parts),
            "params_by_part": params,
        }

    def versions(self) -> dict[str, str]:
        return {"torch": module_version("torch"), "compressai": module_version("compressai")}

    def _device_settings(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "device_name": device_name(self.device),
            "threads": self.threads if self.device == "cpu" else None,
            "precision": "float16" if self.half else "float32",
            "gpu_algorithms": None if self.device == "cpu" else "cuDNN deterministic, no benchmark, TF32 off",
            "padding": (
                f"zeros, centred, to a multiple of {self.stride} (CompressAI's eval_model)"
                if self.padding == "compressai"
                else f"replicate, right/bottom, to a multiple of {self.stride}"
            ),
        }


class NeuralFamilyCodec(CompressAICodec):
    """A codec backed by a model family folder written by ``bench train`` (``family_dir``)."""

    family_dir: ClassVar[Path]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        problem = cls._import_problem("safetensors")
        if problem:
            return problem
        try:  # what loading a model checks: the weights' files and their sha256 (computed once per file)
            return NeuralFamily(cls.family_dir).weights_problem()
        except (FamilyError, OSError) as exc:
            return str(exc)

    def __init__(self, device: str = "cpu", half: bool = False) -> None:
        super().__init__(device, half)
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
