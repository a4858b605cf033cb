"""Portable entropy coding: hyperprior models whose probability tables are bit-identical everywhere.

**The problem.** In compressai's ``ScaleHyperprior`` and ``MeanScaleHyperprior`` the decoder picks
each latent's CDF table from scales (and means) that the float hyper-synthesis transform ``h_s``
computes from the decoded hyper-latents. Float convolutions round differently on another device,
with another number of threads, with oneDNN on or off, or with another convolution algorithm; a
scale that lands on the other side of a table boundary selects another table, and the range decoder
desynchronises: the rest of the image decodes as noise.

**The design** (after Ballé, Johnston and Minnen, "Integer networks for data compression with
latent-variable models", ICLR 2019): ``h_s`` is an *integer network*, computed in exact integer
arithmetic by encoder and decoder alike, and its integer outputs *are* the table indices.

- Every tensor the decoder's ``h_s`` touches is integer-valued, and each is read as a fixed-point
  number with a power-of-two scale: the input is the hyper-latent's integer symbols
  ``round(z - median)`` (clamped to ``±(2^15 - 1)``, scale 1); weights are integers ``W`` read as
  ``W / 2^16`` (``|W| < 2^20``); hidden activations are integers in ``[0, 2^16 - 1]`` read as
  ``a / 2^8`` (a ReLU clamped at 256, "QReLU"); a layer's biases are integers at its accumulator's
  scale (``|B| <= 2^40``).
- A layer computes ``acc = sum(a * W) + B`` in **float64**, where every product and every partial sum
  is an integer of magnitude below 2^53 (checked for every layer when it is built, from the fan-in
  and the bounds above): float64 represents all of them exactly, so the result is the same exact
  integer in any summation order, blocking, thread count or FMA use, on the CPU and on the GPU. To
  rule out algorithms that are not sums of products (Winograd, FFT convolutions), the layers are
  computed as im2col (``unfold``) + matrix product + ``fold``, never with a convolution routine, and
  each accumulator is checked to be integer-valued (an inexact float64 unit raises
  :class:`PortableError` rather than writing a file no one can decode). (int64 tensors would be exact
  too, but torch's matrix products and folds are not available for them on every device.)
- Rescaling to the next layer is a division by a power of two with a deterministic rounding,
  ``floor((acc + 2^(s-1)) / 2^s)`` (exact in float64), then the clamp.
- The last layer's scale outputs are rounded to integers and clamped to ``[0, 63]``: that integer
  **is** the index into compressai's 64 log-spaced scales from 0.11 to 256 (the same table as the
  float models; its CDF tables are computed once by ``update()`` and stored with the weights). The
  mean-scale model's mean outputs are rounded to multiples of 1/16 (``t / 2^4``, ``|t| < 2^15``),
  exact dyadic numbers in float32, so ``symbol = round(y - mean)`` and ``y_hat = symbol + mean`` are
  the same on both sides (one correctly rounded IEEE subtraction and addition).
- The hyper-latent ``z`` is coded with the entropy bottleneck's stored CDF tables and offsets as the
  integer symbols ``round(z - median)`` (the encoder computes them once and codes them as they are);
  the decoder reads those integers and feeds them to ``h_s`` directly, so no float ``median`` is used
  on the decoding side at all.
- The integer weights are computed once from the trained float weights by ``update()`` (with the CDF
  tables) and stored as integer tensors in the safetensors file (a layer's weights in int16 when every
  one fits, else int32; biases int64), so they load exactly (also with
  ``--weights-dtype float16``, which only rounds the float copies kept for further training). Once
  frozen, the exact path uses only the stored integers (``update(force=True)`` recomputes them after
  further training); before, it rounds the current float weights (validation during training).

**Training** is quantisation-aware from the first step: in training mode ``h_s`` runs in float32
with the same fixed-point grid, rounding weights, biases and activations with straight-through
estimators (rounding forward, identity backward) and clamping with a gradient that passes where it
pushes a value back into range; its scale output is the (rounded) index, turned into the scale
``exp(log 0.11 + index * step)``, so the entropy model trains with the very scales it codes with.
The scale head's weights and biases are reparametrised (``IntegerConv``'s ``gain`` and ``offset``:
times ``1 / step``, plus the index of the scale 1) so that it learns log-scales at the speed a float
model learns its scales; without that, the indices (about 8 per unit of log-scale) took so many steps
to reach that a short training cost about 25% more rate.
``h_s`` takes the rounded ``z`` symbols (straight-through), while the entropy bottleneck's
likelihood keeps additive noise. In eval mode (validation, ``bench run``'s rate estimate) ``h_s`` is
the exact integer network, so estimates match the coded files.

**What stays float**: the analysis transforms ``g_a`` and ``h_a`` (encoder only: a difference
changes the file, which any decoder still decodes) and the synthesis ``g_s``: ``y_hat`` is
bit-identical on every decoder, but ``g_s(y_hat)`` is a float network, so a reconstruction decoded on
another device (or thread count, or oneDNN setting) can differ by one 8-bit level in a few samples
(measured CPU <-> H200 on 6 Kodak images: at most one level, in 0.4% of the samples with cuDNN's
default TF32 convolutions, 0.001% with TF32 off; on the CPU, oneDNN on/off or 1/2 threads: a few
samples per image).
``h_s`` uses QReLU where ``mbt2018-mean`` uses LeakyReLU. float64 is required on the decoding device
(CPUs and CUDA GPUs have it).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.neural import import_compressai
from bench.neural.bitstream import ENTROPY_PORTABLE_V1

__all__ = [
    "PortableError",
    "IntegerConv",
    "IntegerHyperSynthesis",
    "PortableScaleHyperprior",
    "PortableMeanScaleHyperprior",
    "SCALE_LEVELS",
]

compressai = import_compressai()
from compressai.entropy_models import EntropyModel  # noqa: E402
from compressai.models import MeanScaleHyperprior, ScaleHyperprior  # noqa: E402

#: compressai's scale table (``get_scale_table()``): 64 log-spaced scales from 0.11 to 256.
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64
WEIGHT_FRAC = 16  # weights are W / 2^16
WEIGHT_MAX = 2**20 - 1
ACT_FRAC = 8  # hidden activations are a / 2^8, a in [0, ACT_MAX]
ACT_MAX = 2**16 - 1
INPUT_MAX = 2**15 - 1  # the hyper-latent symbols fed to h_s are clamped to +-INPUT_MAX
BIAS_MAX = 2**40
MEAN_FRAC = 4  # means are t / 2^4
MEAN_MAX = 2**15 - 1
EXACT_LIMIT = 2**53
#: Elements of one im2col block (float64): bounds the exact path's memory for large images.
BLOCK_ELEMENTS = 2**24


class PortableError(RuntimeError):
    """The exact integer path cannot run exactly here (float64 arithmetic that is not exact)."""


class _Bounded(torch.autograd.Function):
    """``clamp(x, lo, hi)`` whose gradient also passes outside the range where it pushes ``x`` back in."""

    @staticmethod
    def forward(ctx, x, lo: float, hi: float):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passes = ((x >= ctx.lo) & (x <= ctx.hi)) | ((x < ctx.lo) & (grad < 0)) | ((x > ctx.hi) & (grad > 0))
        return grad * passes, None, None


def bounded(x, lo: float, hi: float):
    return _Bounded.apply(x, lo, hi)


def ste_round(x):
    """Rounding forward, identity backward (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def shift_round(acc, shift: int):
    """``round(acc / 2^shift)``, halves rounded up, exact for integer-valued float64 ``acc``."""
    if shift == 0:
        return acc
    return torch.floor((acc + 2.0 ** (shift - 1)) * 2.0**-shift)


def _check_integral(acc, what: str) -> None:
    if not bool(torch.equal(acc, torch.round(acc))):
        raise PortableError(
            f"{what}: float64 arithmetic on {acc.device} gave a non-integer result; the exact entropy-model "
            "path cannot run on this device"
        )


class IntegerConv(nn.Module):
    """A convolution (``kernel``x``kernel``, stride 1, "same" padding) or a stride-2 transposed
    convolution (compressai's ``deconv``: 5x5, output twice the input) with integer weights.

    The input is integer-valued with ``in_frac`` fractional bits (real value ``a / 2^in_frac``);
    weights are ``W / 2^16``; the accumulator has ``in_frac + 16`` fractional bits. ``weight`` and
    ``bias`` are the float parameters that training updates; :meth:`freeze` stores their integer
    versions in ``weight_int``/``bias_int``, which the exact path uses from then on.

    ``gain`` and ``offset`` (per output channel, constants) reparametrise the layer for training: its
    weights are ``gain * weight`` and its biases ``gain * bias + offset``. The integer layer is the
    same kind of layer; only the optimiser's steps are scaled (the scale head's outputs are table
    indices, 1/0.123 per unit of log-scale, which plain parameters would take many steps to reach).
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        transposed: bool,
        in_frac: int,
        in_max: int,
        gain: torch.Tensor | None = None,
        offset: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.cin, self.cout, self.kernel, self.transposed = cin, cout, kernel, transposed
        self.in_frac = in_frac
        self.acc_frac = in_frac + WEIGHT_FRAC
        # the layers compressai's conv()/deconv() make, for their initialisation
        ref = (
            nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=kernel // 2, output_padding=1)
            if transposed
            else nn.Conv2d(cin, cout, kernel, stride=1, padding=kernel // 2)
        )
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone())
        self.register_buffer("weight_int", torch.zeros(self.weight.shape, dtype=torch.int32))
        self.register_buffer("bias_int", torch.zeros(cout, dtype=torch.int64))
        gain = torch.ones(cout, dtype=torch.float64) if gain is None else gain.to(torch.float64)
        offset = torch.zeros(cout, dtype=torch.float64) if offset is None else offset.to(torch.float64)
        self.register_buffer("gain", gain, persistent=False)
        self.register_buffer("offset", offset, persistent=False)
        # the largest accumulator: every tap of every input channel at its extreme, plus the bias
        bound = cin * kernel * kernel * in_max * WEIGHT_MAX + BIAS_MAX + 2 ** (self.acc_frac)
        if bound >= EXACT_LIMIT:
            raise ValueError(f"integer layer {cin}->{cout} (kernel {kernel}) is too wide for exact float64 sums")

    def integer_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, B) as integer-valued float64 tensors, computed from the float parameters."""
        weight, bias = self.weight.detach().double() * self._gain_shape(self.gain), self.bias.detach().double()
        w = torch.round(weight * 2.0**WEIGHT_FRAC).clamp_(-WEIGHT_MAX, WEIGHT_MAX)
        b = torch.round((bias * self.gain + self.offset) * 2.0**self.acc_frac).clamp_(-BIAS_MAX, BIAS_MAX)
        return w, b

    def _gain_shape(self, gain):
        """``gain`` shaped to multiply the weight's output-channel dimension."""
        return gain.view(1, -1, 1, 1) if self.transposed else gain.view(-1, 1, 1, 1)

    @torch.no_grad()
    def freeze(self) -> None:
        w, b = self.integer_weights()
        self.weight_int.copy_(w.to(torch.int32))
        self.bias_int.copy_(b.to(torch.int64))

    def stored_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.weight_int.double(), self.bias_int.double()

    def float_from_stored(self, weight_int: torch.Tensor, bias_int: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The float parameters (float32) whose integer versions are ``weight_int``/``bias_int``: the
        points of the fixed-point grid themselves, so :meth:`integer_weights` gives those integers
        back and training resumes from exactly the stored layer."""
        w = weight_int.double() * 2.0**-WEIGHT_FRAC / self._gain_shape(self.gain.cpu())
        b = (bias_int.double() * 2.0**-self.acc_frac - self.offset.cpu()) / self.gain.cpu()
        return w.float(), b.float()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # files saved by bench train hold only the integer weights of a frozen layer (the float ones
        # are the same numbers, so they are not stored twice): derive the float parameters from them
        w, b, wi, bi = (prefix + k for k in ("weight", "bias", "weight_int", "bias_int"))
        if w not in state_dict and b not in state_dict and wi in state_dict and bi in state_dict:
            state_dict[w], state_dict[b] = self.float_from_stored(state_dict[wi], state_dict[bi])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def train_forward(self, x):
        """Float32 on the fixed-point grid: the real-valued accumulator ``acc / 2^acc_frac``."""
        gain, offset = self.gain.to(self.weight.dtype), self.offset.to(self.weight.dtype)
        w = self.weight * self._gain_shape(gain)
        w = bounded(ste_round(w * 2.0**WEIGHT_FRAC), -WEIGHT_MAX, WEIGHT_MAX) * 2.0**-WEIGHT_FRAC
        b = bounded(ste_round((self.bias * gain + offset) * 2.0**self.acc_frac), -BIAS_MAX, BIAS_MAX)
        b = b * 2.0**-self.acc_frac
        if self.transposed:
            return F.conv_transpose2d(x, w, b, stride=2, padding=self.kernel // 2, output_padding=1)
        return F.conv2d(x, w, b, padding=self.kernel // 2)

    def exact_forward(self, x, w, b):
        """The integer accumulator (float64, integer-valued) for the integer-valued float64 input ``x``."""
        k = self.kernel
        n, c, h, width = x.shape
        if self.transposed:  # matrix product to per-tap contributions, then fold (col2im) sums them
            out = x.new_empty(n, self.cout, 2 * h, 2 * width)
            wm = w.reshape(c, self.cout * k * k).t()
            flat = x.reshape(n, c, h * width)
            step = max(1, BLOCK_ELEMENTS // max(1, k * k * h * width * n))
            for o in range(0, self.cout, step):
                cols = torch.matmul(wm[o * k * k : (o + step) * k * k], flat)
                out[:, o : o + step] = F.fold(cols, (2 * h, 2 * width), k, padding=k // 2, stride=2)
        else:  # im2col over blocks of rows, then a matrix product
            p = k // 2
            padded = F.pad(x, (p, p, p, p))
            wm = w.reshape(self.cout, c * k * k)
            out = x.new_empty(n, self.cout, h, width)
            rows = max(1, BLOCK_ELEMENTS // max(1, c * k * k * width * n))
            for r in range(0, h, rows):
                r1 = min(h, r + rows)
                cols = F.unfold(padded[:, :, r : r1 + k - 1], k)
                out[:, :, r:r1] = torch.matmul(wm, cols).reshape(n, self.cout, r1 - r, width)
        out += b.view(1, -1, 1, 1)
        _check_integral(out, f"integer layer {self.cin}->{self.cout}")
        return out


class IntegerHyperSynthesis(nn.Module):
    """The integer ``h_s``: integer layers with QReLU between them; the last layer's first
    ``scale_channels`` outputs are scale-table indices, the next ``mean_channels`` means (t / 2^4)."""

    #: the methods that run this transform (:mod:`bench.neural.complexity` times and counts them)
    network_methods = ("forward", "exact")

    def __init__(self, layers: list[tuple[int, int, int, bool]], scale_channels: int, mean_channels: int = 0) -> None:
        super().__init__()
        if layers[-1][1] != scale_channels + mean_channels:
            raise ValueError("the last layer must output the scale and mean channels")
        self.scale_channels, self.mean_channels = scale_channels, mean_channels
        # the scale head learns log-scales (the index is log(scale / 0.11) / step): gain 1 / step, and
        # offset such that a zero output is the scale 1 (index 17.9); the means are as they are
        step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
        gain = torch.ones(scale_channels + mean_channels, dtype=torch.float64)
        offset = torch.zeros(scale_channels + mean_channels, dtype=torch.float64)
        gain[:scale_channels] = 1 / step
        offset[:scale_channels] = -math.log(SCALE_MIN) / step
        modules = []
        for i, (cin, cout, kernel, transposed) in enumerate(layers):
            in_frac, in_max = (0, INPUT_MAX) if i == 0 else (ACT_FRAC, ACT_MAX)
            last = i == len(layers) - 1
            modules.append(
                IntegerConv(
                    cin, cout, kernel, transposed, in_frac, in_max, gain if last else None, offset if last else None
                )
            )
        self.layers = nn.ModuleList(modules)
        self.register_buffer("frozen", torch.zeros(1, dtype=torch.int32))

    @property
    def is_frozen(self) -> bool:
        return bool(self.frozen.item())

    @torch.no_grad()
    def freeze(self, force: bool = False) -> bool:
        """Store the integer weights (once, or again with ``force``); True if they were (re)computed."""
        if self.is_frozen and not force:
            return False
        for layer in self.layers:
            layer.freeze()
        self.frozen.fill_(1)
        return True

    def train_forward(self, q):
        """Training: (continuous scale index, means or None) from the rounded symbols ``q`` (float32,
        straight-through), on the same fixed-point grid as the exact path."""
        x = q
        for layer in self.layers[:-1]:
            x = bounded(ste_round(layer.train_forward(x) * 2.0**ACT_FRAC), 0, ACT_MAX) * 2.0**-ACT_FRAC
        out = self.layers[-1].train_forward(x)
        index = bounded(ste_round(out[:, : self.scale_channels]), 0, SCALE_LEVELS - 1)
        if not self.mean_channels:
            return index, None
        means = out[:, self.scale_channels :] * 2.0**MEAN_FRAC
        return index, bounded(ste_round(means), -MEAN_MAX, MEAN_MAX) * 2.0**-MEAN_FRAC

    @torch.no_grad()
    def exact(self, q) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(scale indices as int32, means as float32 or None) from the integer symbols ``q``: exact
        integer arithmetic, bit-identical on every device and thread count."""
        x = q.to(torch.float64).clamp(-INPUT_MAX, INPUT_MAX)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            w, b = layer.stored_weights() if self.is_frozen else layer.integer_weights()
            acc = layer.exact_forward(x, w.to(x.device), b.to(x.device))
            if i < last:
                x = shift_round(acc, layer.acc_frac - ACT_FRAC).clamp_(0, ACT_MAX)
        index = shift_round(acc[:, : self.scale_channels], layer.acc_frac).clamp_(0, SCALE_LEVELS - 1)
        if not self.mean_channels:
            return index.to(torch.int32), None
        means = shift_round(acc[:, self.scale_channels :], layer.acc_frac - MEAN_FRAC).clamp_(-MEAN_MAX, MEAN_MAX)
        return index.to(torch.int32), (means * 2.0**-MEAN_FRAC).to(torch.float32)


def scale_of_index(index):
    """The scale of (continuous) table index ``index``: compressai's log-spaced table, interpolated."""
    step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    return torch.exp(math.log(SCALE_MIN) + index * step)


def default_scale_table() -> torch.Tensor:
    from compressai.models.google import get_scale_table

    return get_scale_table(SCALE_MIN, SCALE_MAX, SCALE_LEVELS)


class _Portable:
    """What both portable models share (mixed into compressai's classes)."""

    h_s: IntegerHyperSynthesis
    #: the bitstream code of this entropy model (written in every file's header)
    entropy_model = ENTROPY_PORTABLE_V1

    def _h_a_input(self, y):
        raise NotImplementedError

    def _z_symbols(self, z):
        """The hyper-latent's integer symbols ``round(z - median)`` (float tensor)."""
        medians = self.entropy_bottleneck._get_medians().detach()  # (C, 1, 1)
        return torch.round(z - medians)

    def _y_model(self, q, training: bool):
        """(scales, means or None) for the likelihoods; exact indices in eval mode."""
        if training:
            index, means = self.h_s.train_forward(q.clamp(-INPUT_MAX, INPUT_MAX))
            return scale_of_index(index), means
        index, means = self.h_s.exact(q)
        return scale_of_index(index.to(q.dtype)), means

    def forward(self, x):
        y = self.g_a(x)
        z = self.h_a(self._h_a_input(y))
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        if self.training:  # h_s sees the rounded symbols (straight-through), the likelihood the noisy z
            medians = self.entropy_bottleneck._get_medians().detach()
            scales, means = self._y_model(ste_round(z - medians), training=True)
        else:
            scales, means = self._y_model(self._z_symbols(z), training=False)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def update(self, scale_table: Any = None, force: bool = False, update_quantiles: bool = False) -> bool:
        """Freeze the integer ``h_s`` weights and compute the CDF tables (always compressai's default
        scale table: the integer ``h_s`` outputs indices into it)."""
        table = default_scale_table()
        if scale_table is not None and not torch.equal(torch.as_tensor(scale_table, dtype=table.dtype), table):
            raise ValueError("portable models code with compressai's default scale table only")
        updated = self.h_s.freeze(force)
        return super().update(table, force=force, update_quantiles=update_quantiles) or updated

    def compress(self, x):
        y = self.g_a(x)
        z = self.h_a(self._h_a_input(y))
        eb = self.entropy_bottleneck
        q = self._z_symbols(z)
        z_strings = EntropyModel.compress(eb, q, eb._build_indexes(q.size()))
        index, means = self.h_s.exact(q)
        y_strings = self.gaussian_conditional.compress(y, index, means=means)
        return {"strings": [y_strings, z_strings], "shape": z.size()[-2:]}

    def decompress(self, strings, shape):
        if not isinstance(strings, (list, tuple)) or len(strings) != 2:
            raise ValueError("expected the y and z strings")
        eb = self.entropy_bottleneck
        size = (len(strings[1]), eb._quantized_cdf.size(0), *shape)
        indexes = eb._build_indexes(size).to(eb._quantized_cdf.device)
        q = EntropyModel.decompress(eb, strings[1], indexes)  # the integer symbols, no median added
        index, means = self.h_s.exact(q)
        y_hat = self.gaussian_conditional.decompress(strings[0], index, means=means)
        x_hat = self.g_s(y_hat).clamp_(0, 1)
        return {"x_hat": x_hat, "y_hat": y_hat}


class PortableScaleHyperprior(_Portable, ScaleHyperprior):
    """bmshj2018-hyperprior with the integer ``h_s`` (deconv N->N, deconv N->N, conv 3x3 N->M)."""

    def __init__(self, N: int, M: int, **kwargs: Any) -> None:
        super().__init__(N=N, M=M, **kwargs)
        self.h_s = IntegerHyperSynthesis([(N, N, 5, True), (N, N, 5, True), (N, M, 3, False)], scale_channels=M)

    def _h_a_input(self, y):
        return torch.abs(y)


class PortableMeanScaleHyperprior(_Portable, MeanScaleHyperprior):
    """mbt2018-mean with the integer ``h_s`` (deconv N->M, deconv M->3M/2, conv 3x3 3M/2->2M; QReLU)."""

    def __init__(self, N: int, M: int, **kwargs: Any) -> None:
        super().__init__(N=N, M=M, **kwargs)
        mid = M * 3 // 2
        self.h_s = IntegerHyperSynthesis(
            [(N, M, 5, True), (M, mid, 5, True), (mid, 2 * M, 3, False)], scale_channels=M, mean_channels=M
        )

    def _h_a_input(self, y):
        return y
