"""Learned perceptual metrics on RGB uint8 images: LPIPS (AlexNet, v0.1) and DISTS, with their published weights.

The networks are built here in torch (the authors' packages are not imported) and compute what those
packages compute with the same weights (checked in ``tests/metrics/test_learned.py``: to 1e-5 relative
on Kodak crops). Inputs are ``H x W x 3`` ``uint8`` RGB arrays with values in [0, 255]; the first
argument is the reference, the second the decoded image. Both are distances: lower is better, 0 for
identical images. Computed in float32 on the metric's device (``bench run --device``: the CPU by default,
or a GPU with cuDNN in full float32, no TF32: :func:`exact_on`; the device is part of the metric's
description, so CPU and GPU values are never mixed in one run), one image at a time, at its own size.

* ``lpips``: LPIPS (Zhang et al. 2018), AlexNet trunk, version 0.1, exactly
  ``lpips.LPIPS(net='alex', version='0.1')(x, y)`` of the ``lpips`` package on NCHW float32 RGB scaled
  to [-1, 1] (``v / 127.5 - 1``, its ``im2tensor``; its default ``normalize=False``, ``spatial=False``):
  the input shifted by (-0.030, -0.088, -0.188) and divided by (0.458, 0.448, 0.450) per channel; the
  ReLU outputs of the five convolutions of torchvision's ImageNet AlexNet (``features[:12]``); each
  divided by its L2 norm over channels (+ 1e-10); the squared difference of the two images' maps
  weighted by the v0.1 linear layer (1 x 1 convolution, no bias), averaged over space; the sum over the
  five layers. Images with a side under 31 pixels give NaN with a warning (the package fails there:
  AlexNet's second max-pooling has no 3 x 3 window left).
* ``dists``: DISTS (Ding et al. 2020), exactly ``DISTS()(x, y)`` of the authors' ``DISTS_pytorch`` on
  NCHW float32 RGB in [0, 1] (``v / 255``, as its ``prepare_image``), **not resized**: ``DISTS()``
  never resizes, and neither does ``prepare_image`` of the PyPI package (``DISTS-pytorch`` 0.1,
  ``resize=False``); the GitHub version's ``prepare_image`` and command line resize the shorter side
  to 256 pixels first when it is longer, which gives other values. The input normalised with ImageNet's
  mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); torchvision's ImageNet VGG16 convolutions
  with its max-poolings replaced by L2 pooling (squares filtered by the 3 x 3 Hanning window
  [1 2 1]^T [1 2 1] / 16, stride 2, padding 1, + 1e-12, square root); six feature sets (the input in
  [0, 1] itself, relu1_2, relu2_2, relu3_3, relu4_3, relu5_3); per channel the structure term
  (2 mu_x mu_y + c) / (mu_x^2 + mu_y^2 + c) and texture term (2 cov_xy + c) / (var_x + var_y + c)
  of whole-map means and (biased) variances, c = 1e-6, weighted by the learned alpha and beta divided
  by the sum of both; DISTS = 1 - the weighted sum. Computed for any size, as the package (each L2
  pooling keeps at least one pixel).

**Weights** live in torch's hub cache (``$TORCH_HOME/hub/checkpoints``, by default
``~/.cache/torch/hub/checkpoints``; torchvision's files under torchvision's own names, shared with it)
and are downloaded on first use by ``bench run``, ``bench score`` (in their main process, before
measuring) and :func:`bench.metric.compute`, never with ``--offline``. Every file is checked before it
is loaded: torchvision's against the sha256 prefix its name carries (as torch hub checks it), the
others against their whole sha256. A metric whose weights are missing, or differ, is unavailable, and
its reason names the files and their URLs; it is never computed with other weights. ``run.json``
records the sha256 of every weights file a metric used. Weights are read with
``torch.load(weights_only=True)``; only the trunks' ``features`` are kept.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bench.api.files import sha256_file
from bench.api.metric import Metric, check_pair, register_metric, too_small
from bench.data.download import DownloadError, download_file, hub_checkpoints

if TYPE_CHECKING:
    import torch

__all__ = [
    "WeightsFile",
    "WeightsError",
    "verified_sha256",
    "fetch_weights",
    "weights_problem",
    "load_weights",
    "LPIPS_MIN_SIDE",
    "ALEXNET",
    "LPIPS_ALEX_V01",
    "VGG16",
    "DISTS_WEIGHTS",
    "Lpips",
    "Dists",
]


class WeightsError(RuntimeError):
    """Weights that are missing, differ from the published ones or do not fit; one line naming the file."""


@dataclass(frozen=True)
class WeightsFile:
    """One published weights file: its name in torch's hub cache, its URL and its sha256 (the whole
    digest, or for torchvision's files the prefix their names carry, as torch hub checks them)."""

    name: str
    url: str
    sha256: str
    what: str

    def __post_init__(self) -> None:
        if len(self.sha256) < 8 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"sha256 of {self.name} must be 8 or more lower-case hex digits, got {self.sha256!r}")

    @property
    def path(self) -> Path:
        return hub_checkpoints() / self.name


#: torchvision's ImageNet AlexNet (``AlexNet_Weights.IMAGENET1K_V1``), the LPIPS trunk.
ALEXNET = WeightsFile(
    "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79",
    "torchvision ImageNet AlexNet",
)  # fmt: skip
#: LPIPS v0.1 linear layers for AlexNet: ``lpips/weights/v0.1/alex.pth`` of the lpips package (0.1.4).
LPIPS_ALEX_V01 = WeightsFile(
    "lpips-v0.1-alex-df73285e.pth",
    "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/alex.pth",
    "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "LPIPS v0.1 AlexNet linear layers",
)
#: torchvision's ImageNet VGG16 (``VGG16_Weights.IMAGENET1K_V1``), the DISTS trunk.
VGG16 = WeightsFile(
    "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af",
    "torchvision ImageNet VGG16",
)  # fmt: skip
#: DISTS alpha and beta: ``DISTS_pytorch/weights.pt`` of the authors' package (DISTS-pytorch 0.1).
DISTS_WEIGHTS = WeightsFile(
    "dists-alpha-beta-f5e65c96.pt",
    "https://raw.githubusercontent.com/dingkeyan93/DISTS/master/DISTS_pytorch/weights.pt",
    "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
    "DISTS alpha and beta",
)

#: Both sides must be at least this for LPIPS's AlexNet (its second max-pooling needs a 3 x 3 window).
LPIPS_MIN_SIDE = 31

_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)
_ALEX_TAPS = (1, 4, 7, 9, 11)  # the ReLUs of torchvision's AlexNet().features
_DISTS_MEAN = (0.485, 0.456, 0.406)
_DISTS_STD = (0.229, 0.224, 0.225)
_VGG_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of torchvision's VGG16().features
_DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)
_DISTS_C = 1e-6

#: (path, size, mtime) -> sha256 of the weights files checked in this process
_verified: dict[tuple[str, int, int], str] = {}
#: (network class, weights files, their sha256) -> the network, loaded once per process
_networks: dict[tuple, Any] = {}


# ------------------------------------------------------------------------------------------- weights


def weights_problem(files: tuple[WeightsFile, ...]) -> str | None:
    """Why ``files`` cannot be used here (missing from the hub cache: the files and their URLs; or
    different from the published ones), or None when every one is there and checked."""
    missing = [file for file in files if not file.path.is_file()]
    if missing:
        listed = ", ".join(f"{file.name} from {file.url}" for file in missing)
        return (
            f"weights not in {missing[0].path.parent}: {listed} (downloaded on first use by bench run and "
            f"bench score, not with --offline; or place {'it' if len(missing) == 1 else 'them'} there)"
        )
    for file in files:
        try:
            verified_sha256(file)
        except WeightsError as exc:
            return str(exc)
    return None


def fetch_weights(metric: str, files: tuple[WeightsFile, ...]) -> None:
    """Download those of ``files`` missing from the hub cache, each checked against its sha256
    (:class:`DownloadError`, one line naming the file and URL, when it cannot be had)."""
    missing = [file for file in files if not file.path.is_file()]
    if missing:
        print(f"{metric}: downloading {len(missing)} weights file(s) into {missing[0].path.parent}", file=sys.stderr)
    for file in missing:
        try:
            download_file(file.url, file.path, sha256=file.sha256, desc=f"{metric} {file.name}")
        except DownloadError as exc:
            raise DownloadError(f"{exc}; or place {file.name} in {file.path.parent} by hand") from None


def verified_sha256(file: WeightsFile) -> str:
    """The whole sha256 of ``file`` in the hub cache, once it is checked against the published one
    (once per process and file version); :class:`WeightsError` when missing or different."""
    path = file.path
    try:
        stat = path.stat()
    except OSError:
        raise WeightsError(f"{file.name} is not in {path.parent} (download it from {file.url})") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _verified.get(key)
    if digest is None:
        digest = sha256_file(path)
        if not digest.startswith(file.sha256):
            raise WeightsError(
                f"{path} has sha256 {digest[:16]}..., not {file.sha256[:16]}...: not the {file.what} published at "
                f"{file.url}; delete it (it is downloaded again on first use)"
            )
        _verified[key] = digest
    return digest


def load_weights(file: WeightsFile) -> dict[str, torch.Tensor]:
    """The tensors of ``file`` (checked by :func:`verified_sha256` first), read without unpickling code."""
    import torch

    verified_sha256(file)
    try:
        state = torch.load(file.path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read {file.path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{file.path} is not a state dict of tensors")
    return state


def _load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], file: WeightsFile) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        problem = " ".join(str(exc).split())
        raise WeightsError(f"{file.path} does not fit: {problem}") from None
    module.eval().requires_grad_(False)


def _features(state: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
    """The parameters of torchvision's ``features[:count]`` in a whole model's state dict, renamed."""
    out = {}
    for key, value in state.items():
        index, _, rest = key.removeprefix("features.").partition(".")
        if key.startswith("features.") and index.isdigit() and int(index) < count:
            out[f"{index}.{rest}"] = value
    return out


def _heads(
    state: dict[str, torch.Tensor], names: tuple[str, ...], shapes: list[tuple[int, ...]], file: WeightsFile
) -> list[torch.Tensor]:
    """The tensors ``names`` of ``state``, float32, each checked to have its shape."""
    for name, shape in zip(names, shapes, strict=True):
        if name not in state or tuple(state[name].shape) != shape:
            got = tuple(state[name].shape) if name in state else "missing"
            raise WeightsError(f"{file.path} does not fit: {name} should have shape {shape}, got {got}")
    return [state[name].float() for name in names]


# ------------------------------------------------------------------------------------------ networks


def _alexnet_features() -> torch.nn.Sequential:
    """torchvision's ``AlexNet().features[:12]`` (up to its fifth ReLU), same layer indices."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )  # fmt: skip


def _vgg16_features() -> torch.nn.Sequential:
    """torchvision's ``VGG16().features[:30]``, same layer indices; its max-poolings are ``Identity``
    placeholders (DISTS pools with :func:`_l2_pool` there)."""
    from torch import nn

    layers: list[nn.Module] = []
    channels = 3
    for width in (64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512):
        if width == 0:
            layers.append(nn.Identity())
        else:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
    return nn.Sequential(*layers)


def _l2_pool(x: torch.Tensor) -> torch.Tensor:
    """DISTS_pytorch's ``L2pooling``: squares filtered by the 3 x 3 Hanning window, stride 2, padding 1."""
    import torch
    import torch.nn.functional as F

    a = np.hanning(5)[1:-1]
    g = torch.Tensor(a[:, None] * a[None, :])
    g = g / torch.sum(g)
    out = F.conv2d(x**2, g[None, None].repeat(x.shape[1], 1, 1, 1), stride=2, padding=1, groups=x.shape[1])
    return (out + 1e-12).sqrt()


def _taps(features: torch.nn.Sequential, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
    """The outputs of the layers ``taps`` of ``features`` on ``x`` (``Identity`` layers: L2 pooling)."""
    from torch import nn

    out = []
    for index, layer in enumerate(features):
        x = _l2_pool(x) if isinstance(layer, nn.Identity) else layer(x)
        if index in taps:
            out.append(x)
    return out


def _minus_one_to_one(image: np.ndarray) -> torch.Tensor:
    """``v / 127.5 - 1`` as a 1 x 3 x H x W float32 tensor, computed in float64 (lpips's ``im2tensor``)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray((image / 127.5 - 1.0).transpose(2, 0, 1)[None])).float()


def _zero_to_one(image: np.ndarray) -> torch.Tensor:
    """``v / 255`` as a 1 x 3 x H x W float32 tensor, computed in float32 (torchvision's ``ToTensor``)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None])).float().div(255)


def exact_on(device: str) -> Any:
    """The context a metric's network computes in on ``device``: on a GPU, cuDNN in full float32
    (no TF32, which rounds convolution inputs to 10-bit mantissas) with deterministic algorithms, so
    that the values are those of float32 arithmetic, as on the CPU; nothing on the CPU."""
    import contextlib

    import torch

    if not str(device).startswith("cuda"):
        return contextlib.nullcontext()
    return torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False)


class _LpipsNet:
    def __init__(self, trunk: WeightsFile, head: WeightsFile, device: str = "cpu") -> None:
        import torch

        self.device = device
        self.features = _alexnet_features()
        _load_into(self.features, _features(load_weights(trunk), len(self.features)), trunk)
        self.features.to(device)
        names = tuple(f"lin{k}.model.1.weight" for k in range(5))
        shapes = [(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
        self.lins = [lin.to(device) for lin in _heads(load_weights(head), names, shapes, head)]
        self.shift = torch.tensor(_LPIPS_SHIFT, device=device)[None, :, None, None]
        self.scale = torch.tensor(_LPIPS_SCALE, device=device)[None, :, None, None]

    def __call__(self, ref: np.ndarray, dist: np.ndarray) -> float:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode(), exact_on(self.device):
            feats = [_taps(self.features, (_minus_one_to_one(img).to(self.device) - self.shift) / self.scale,
                           _ALEX_TAPS) for img in (ref, dist)]  # fmt: skip
            value = 0
            for a, b, lin in zip(*feats, self.lins, strict=True):
                a = a / (torch.sqrt(torch.sum(a**2, dim=1, keepdim=True)) + 1e-10)
                b = b / (torch.sqrt(torch.sum(b**2, dim=1, keepdim=True)) + 1e-10)
                value = value + F.conv2d((a - b) ** 2, lin).mean([2, 3], keepdim=True)
            return float(value.item())


class _DistsNet:
    def __init__(self, trunk: WeightsFile, head: WeightsFile, device: str = "cpu") -> None:
        import torch

        self.device = device
        self.features = _vgg16_features()
        _load_into(self.features, _features(load_weights(trunk), len(self.features)), trunk)
        self.features.to(device)
        shape = (1, sum(_DISTS_CHANNELS), 1, 1)
        alpha, beta = _heads(load_weights(head), ("alpha", "beta"), [shape, shape], head)
        self.alpha, self.beta = alpha.to(device), beta.to(device)
        self.mean = torch.tensor(_DISTS_MEAN, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(_DISTS_STD, device=device).view(1, -1, 1, 1)

    def __call__(self, ref: np.ndarray, dist: np.ndarray) -> float:
        import torch

        with torch.inference_mode(), exact_on(self.device):
            feats = []
            for img in (ref, dist):
                x = _zero_to_one(img).to(self.device)
                feats.append([x, *_taps(self.features, (x - self.mean) / self.std, _VGG_TAPS)])
            w_sum = self.alpha.sum() + self.beta.sum()
            alphas = torch.split(self.alpha / w_sum, _DISTS_CHANNELS, dim=1)
            betas = torch.split(self.beta / w_sum, _DISTS_CHANNELS, dim=1)
            dist1 = dist2 = 0
            for x, y, alpha, beta in zip(*feats, alphas, betas, strict=True):
                x_mean = x.mean([2, 3], keepdim=True)
                y_mean = y.mean([2, 3], keepdim=True)
                s1 = (2 * x_mean * y_mean + _DISTS_C) / (x_mean**2 + y_mean**2 + _DISTS_C)
                dist1 = dist1 + (alpha * s1).sum(1, keepdim=True)
                x_var = ((x - x_mean) ** 2).mean([2, 3], keepdim=True)
                y_var = ((y - y_mean) ** 2).mean([2, 3], keepdim=True)
                xy_cov = (x * y).mean([2, 3], keepdim=True) - x_mean * y_mean
                s2 = (2 * xy_cov + _DISTS_C) / (x_var + y_var + _DISTS_C)
                dist2 = dist2 + (beta * s2).sum(1, keepdim=True)
            return float((1 - (dist1 + dist2).squeeze()).item())


# ------------------------------------------------------------------------------------------- metrics


class _LearnedMetric(Metric):
    """A metric computed by a network with published weights: ``trunk`` and ``head`` files."""

    trunk: ClassVar[WeightsFile]
    head: ClassVar[WeightsFile]
    network: ClassVar[type]
    higher_is_better = False
    packages = ("torch",)
    uses_device = True

    @classmethod
    def weights_files(cls) -> tuple[WeightsFile, ...]:
        return (cls.trunk, cls.head)

    @classmethod
    def fetch(cls, offline: bool) -> None:
        """Download the weights files missing from the hub cache (unless ``offline``), each checked."""
        if offline or importlib.util.find_spec("torch") is None:
            return
        fetch_weights(cls.name, cls.weights_files())

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return "torch is not installed"
        return weights_problem(cls.weights_files())

    def describe(self) -> dict[str, Any]:
        """As :meth:`Metric.describe`, and each weights file's name and sha256."""
        return {
            **super().describe(),
            "weights": [{"file": file.name, "sha256": verified_sha256(file)} for file in self.weights_files()],
        }

    def _network(self) -> Any:
        """The network with its weights on the metric's device, loaded once per process and device
        (again if a file changed), each file checked."""
        files = self.weights_files()
        key = (self.network, *files, *(verified_sha256(file) for file in files), self.device)
        if key not in _networks:
            _networks[key] = self.network(self.trunk, self.head, self.device)
        return _networks[key]


@register_metric
class Lpips(_LearnedMetric):
    name = "lpips"
    label = "LPIPS"
    axis_label = "LPIPS (AlexNet, v0.1)"
    convention = (
        "lpips.LPIPS(net='alex', version='0.1')(x, y) of the lpips package on RGB scaled to [-1, 1]: ImageNet "
        "AlexNet features (torchvision alexnet-owt-7be5be79.pth), channel-normalised, v0.1 linear layers "
        "(lpips weights/v0.1/alex.pth), spatial average, sum over 5 layers; float32; NaN if a side < 31"
    )
    trunk = ALEXNET
    head = LPIPS_ALEX_V01
    network = _LpipsNet

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        """LPIPS (AlexNet, v0.1), the lpips package's conventions (see module docstring); NaN if a side < 31."""
        check_pair(ref, dist)
        if min(ref.shape[:2]) < LPIPS_MIN_SIDE:
            return too_small("lpips", ref.shape, LPIPS_MIN_SIDE, "AlexNet's second max-pooling needs a 3 x 3 window")
        return self._network()(ref, dist)


@register_metric
class Dists(_LearnedMetric):
    name = "dists"
    label = "DISTS"
    axis_label = "DISTS"
    convention = (
        "DISTS_pytorch.DISTS()(x, y) of the authors' package on RGB in [0, 1], not resized: ImageNet VGG16 "
        "(torchvision vgg16-397923af.pth) with L2 pooling, structure and texture terms of the input and 5 "
        "stages weighted by alpha and beta (DISTS_pytorch weights.pt); float32"
    )
    trunk = VGG16
    head = DISTS_WEIGHTS
    network = _DistsNet

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        """DISTS, ``DISTS_pytorch.DISTS()`` conventions, not resized (see module docstring)."""
        check_pair(ref, dist)
        return self._network()(ref, dist)
