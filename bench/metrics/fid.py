"""Dataset metrics over 256 x 256 patches: FID and KID of Inception v3 pool3 features (``fid_patch``, ``kid_patch``).

The convention of HiFiC (Mentzer et al. 2020, "FID/256") as MS-ILLM (Muckley et al. 2023) computes it with
``neuralcompression.metrics.update_patch_fid`` (``patch_size=256``), followed exactly here:

* **Patches.** From each ``H x W x 3`` ``uint8`` RGB image, the non-overlapping 256 x 256 patches of the
  grid that starts at (0, 0), ``floor(H / 256) x floor(W / 256)`` of them in raster order (rows top to
  bottom, each left to right: ``F.unfold(image, 256, stride=256)``); then, when both sides are at least
  384 (``1.5 x 256``), those of the grid over the image cropped from (128, 128), in the same order.
  Pixels past the last whole patch are left out. A 768 x 512 Kodak image gives 6 + 2 = 8 patches; an
  image with a side under 384 gives only the first grid; one with a side under 256 gives none (n = 0
  features: the dataset value then covers fewer patches). neuralcompression gets the patches from
  images in [0, 1] rounded back to ``uint8`` (``round(x * 255)``): for 8-bit images, these values.
* **Features.** The 2048 pool3 features (``"2048"``) of torch-fidelity's ``FeatureExtractorInceptionV3``
  with the TF FID Inception weights (:data:`INCEPTION_V3_FID`), the network torchmetrics'
  ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` use: each ``uint8`` patch, as a float32
  tensor with values in [0, 255], resized to 299 x 299 by torch-fidelity's TF1-compatible bilinear resize
  (``interpolate_bilinear_2d_like_tensorflow1x``, ``align_corners=False``), scaled to [-1, 1] by
  ``(x - 128) / 128``, through the network in float32; the features are float32 (``n x 2048`` per
  image, in patch order). Note: torchmetrics' ``FrechetInceptionDistance`` (1.9) resizes with torch's
  antialiased bilinear unless given ``antialias=False`` (its default is ``True``), which gives other
  features; ours are those of ``antialias=False``, of torch-fidelity, and of the TF FID resize.
  Computed on the metric's device (``bench run --device``: the CPU, or a GPU in full float32 without
  TF32), the patches of one image in batches of :data:`BATCH`.
* ``fid_patch``: the Fréchet distance between Gaussians fitted to the reference and the decoded images'
  features of a set of images (means, and covariances with ``n - 1``, as torchmetrics and pytorch-fid),
  ``|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)``, in float64, by :func:`frechet_distance`, which
  gets ``tr sqrt(S1 S2)`` without a 2048 x 2048 matrix square root: with the centred features ``A``
  (``n x d``) and ``B`` (``m x d``), the nonzero eigenvalues of ``S1 S2`` are the squared singular
  values of ``A B^T`` divided by ``(n - 1)(m - 1)``, so the trace is the nuclear norm of ``A B^T``
  divided by ``sqrt((n - 1)(m - 1))``; a side with more rows than ``d`` is first replaced by the ``R``
  of its QR factorisation, which leaves those singular values as they are. Exact for any ``n``, ``m``,
  never negative (up to rounding) and never complex.
* ``kid_patch``: the unbiased MMD^2 between the two sets of features with the polynomial kernel
  ``k(x, y) = (x . y / d + 1)^3`` (``d = 2048``), over all of them, by :func:`polynomial_mmd2`: the
  U-statistic ``sum_{i != j} k(x_i, x_j) / (n (n - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1)) -
  2 sum_{i, j} k(x_i, y_j) / (n m)``, in float64. It is the expectation of torchmetrics'
  ``KernelInceptionDistance`` mean over random subsets, and equals it with ``subsets=1,
  subset_size=n`` (``n = m``). Reported as is, **not** multiplied by 1000 (as some papers print it).

Both are distances (lower is better; 0 for identical sets, FID up to rounding) and have no unit. A set
with fewer than 2 features on either side gives NaN with a warning.

**Weights**: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (the TF FID Inception of
``inception-2015-12-05``, converted), kept under that name in torch's hub cache
(``$TORCH_HOME/hub/checkpoints``), where torch-fidelity and torchmetrics keep it too. It is downloaded on
first use by ``bench run``, ``bench score`` and :meth:`~bench.api.metric.Metric.fetch`, never with
``--offline``, and checked before use against the sha256 prefix its name carries (``6726825d``; the whole
digest of the published file is not recorded here), as torch hub checks it. A missing or different file
makes both metrics unavailable, with a reason naming the file and its URL; nothing is computed with other
weights, and torch-fidelity never downloads anything itself (it gets the file's path). The file is read
first with ``torch.load(weights_only=True)`` (it must hold tensors only), then by torch-fidelity.
``run.json`` records the file's whole sha256. The network is loaded once per process.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bench.api.metric import DatasetMetric, register_metric
from bench.metrics.learned import (
    WeightsError,
    WeightsFile,
    exact_on,
    fetch_weights,
    load_weights,
    verified_sha256,
    weights_problem,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "PATCH",
    "BATCH",
    "FEATURES",
    "FEATURE_DIM",
    "INCEPTION_V3_FID",
    "INSTALL_HINT",
    "patch_origins",
    "patches",
    "frechet_distance",
    "polynomial_mmd2",
    "inception",
    "FidPatch",
    "KidPatch",
]

#: Side of the square patches, pixels.
PATCH = 256
#: Patches per forward pass of Inception (bounds memory on large images; about 40 MB per patch).
BATCH = 16
#: The name of the features ``fid_patch`` and ``kid_patch`` share (stored once per image).
FEATURES = "inception_v3_pool3_patch256"
#: Length of one feature vector (Inception v3 pool3).
FEATURE_DIM = 2048
#: torch-fidelity's TF FID Inception v3 weights (its ``URL_INCEPTION_V3``, torch-fidelity 0.4.0).
INCEPTION_V3_FID = WeightsFile(
    "weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "6726825d",
    "torch-fidelity's TF FID Inception v3 (inception-2015-12-05)",
)
#: How to get the optional package that computes the features.
INSTALL_HINT = "pip install 'codec-bench[metrics]'"

_PACKAGE = "torch_fidelity"
_BLOCK = 512  # rows of a kernel block in polynomial_mmd2 (bounds its memory: _BLOCK x m float64)

#: (weights file, its sha256) -> torch-fidelity's Inception, loaded once per process
_networks: dict[tuple[WeightsFile, str], Any] = {}
_networks_lock = threading.Lock()


# ------------------------------------------------------------------------------------------- patches


def patch_origins(height: int, width: int) -> list[tuple[int, int]]:
    """The (row, column) of the top-left pixel of each patch of an image of ``height x width``, in the
    order of the features: the grid from (0, 0) in raster order, then, when both sides are at least
    384, the grid from (128, 128)."""
    out = [(y, x) for y in range(0, height - PATCH + 1, PATCH) for x in range(0, width - PATCH + 1, PATCH)]
    half = PATCH // 2
    if height >= PATCH + half and width >= PATCH + half:
        out += [(y, x) for y in range(half, height - PATCH + 1, PATCH) for x in range(half, width - PATCH + 1, PATCH)]
    return out


def patches(image: np.ndarray) -> np.ndarray:
    """The patches of an ``H x W x 3`` ``uint8`` image (:func:`patch_origins`): ``n x 256 x 256 x 3`` ``uint8``."""
    _check_image(image)
    origins = patch_origins(image.shape[0], image.shape[1])
    out = np.empty((len(origins), PATCH, PATCH, 3), np.uint8)
    for k, (y, x) in enumerate(origins):
        out[k] = image[y : y + PATCH, x : x + PATCH]
    return out


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an H x W x 3 uint8 RGB array, got {got}")


# ---------------------------------------------------------------------------------------- aggregates


def _feature_pair(name: str, ref: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``ref`` and ``dist`` as float64 ``n x d`` arrays, or None (with a warning) when a side has
    fewer than 2 rows; :class:`ValueError` for arrays that are not two feature matrices of one ``d``."""
    a, b = np.asarray(ref, np.float64), np.asarray(dist, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"{name}: features must be two n x d arrays of one d, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        warnings.warn(
            f"{name} needs at least 2 features on each side, got {len(a)} of the references and {len(b)} of "
            f"the decoded images (an image with a side under {PATCH} pixels has none); returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return a, b


def _rows_reduced(x: np.ndarray) -> np.ndarray:
    """``x`` (``n x d``), or when ``n > d`` the ``d x d`` R of its QR factorisation: same ``x^T x``, so
    ``x y^T`` keeps its singular values."""
    return np.linalg.qr(x, mode="r") if x.shape[0] > x.shape[1] else x


def frechet_distance(ref: np.ndarray, dist: np.ndarray, *, name: str = "FID") -> float:
    """FID between Gaussians fitted to the rows of ``ref`` (``n x d``) and of ``dist`` (``m x d``):
    ``|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)`` with covariances over ``n - 1`` (``m - 1``), in
    float64; ``tr sqrt(S1 S2)`` as the nuclear norm of ``A B^T`` over ``sqrt((n - 1)(m - 1))`` (``A``,
    ``B``: the centred rows). NaN, with a warning naming ``name``, when a side has fewer than 2 rows."""
    pair = _feature_pair(name, ref, dist)
    if pair is None:
        return math.nan
    a, b = pair
    n, m = len(a), len(b)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    a, b = a - mean_a, b - mean_b
    trace_a = float(np.einsum("ij,ij->", a, a)) / (n - 1)
    trace_b = float(np.einsum("ij,ij->", b, b)) / (m - 1)
    singular = np.linalg.svd(_rows_reduced(a) @ _rows_reduced(b).T, compute_uv=False)
    trace_sqrt = float(singular.sum()) / math.sqrt((n - 1) * (m - 1))
    diff = mean_a - mean_b
    return float(diff @ diff) + trace_a + trace_b - 2.0 * trace_sqrt


def _kernel_sum(x: np.ndarray, y: np.ndarray) -> float:
    """The sum of ``(x_i . y_j / d + 1)^3`` over all pairs, by blocks of :data:`_BLOCK` rows of ``x``."""
    d = x.shape[1]
    total = 0.0
    for start in range(0, len(x), _BLOCK):
        total += float((((x[start : start + _BLOCK] @ y.T) / d + 1.0) ** 3).sum())
    return total


def polynomial_mmd2(ref: np.ndarray, dist: np.ndarray, *, name: str = "KID") -> float:
    """KID: the unbiased MMD^2 between the rows of ``ref`` (``n x d``) and of ``dist`` (``m x d``) with
    the kernel ``(x . y / d + 1)^3``, over all pairs (no subsets), in float64; not scaled. NaN, with a
    warning naming ``name``, when a side has fewer than 2 rows."""
    pair = _feature_pair(name, ref, dist)
    if pair is None:
        return math.nan
    a, b = pair
    n, m, d = len(a), len(b), a.shape[1]
    diag_a = float((((a * a).sum(axis=1) / d + 1.0) ** 3).sum())
    diag_b = float((((b * b).sum(axis=1) / d + 1.0) ** 3).sum())
    within_a = (_kernel_sum(a, a) - diag_a) / (n * (n - 1))
    within_b = (_kernel_sum(b, b) - diag_b) / (m * (m - 1))
    return within_a + within_b - 2.0 * _kernel_sum(a, b) / (n * m)


# ------------------------------------------------------------------------------------------- network


def inception(file: WeightsFile = INCEPTION_V3_FID, device: str = "cpu") -> Any:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` (pool3 features) with the weights ``file`` on
    ``device``, loaded once per process and device (again if the file changed); :class:`WeightsError`
    when the file is missing, differs from the published one or does not fit."""
    key = (file, verified_sha256(file), device)
    with _networks_lock:
        network = _networks.get(key)
        if network is None:
            network = _networks[key] = _load_inception(file).to(device)
    return network


def _load_inception(file: WeightsFile) -> Any:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    load_weights(file)  # hash checked, and read with weights_only=True: tensors only, no code to run
    try:
        return FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(file.path)
        )  # eval mode, no gradients, float32
    except (RuntimeError, KeyError) as exc:
        problem = " ".join(str(exc).split())
        problem = problem if len(problem) <= 300 else problem[:300] + "..."
        raise WeightsError(f"{file.path} does not fit torch-fidelity's Inception v3: {problem}") from None


def _features(network: Any, batch: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """Pool3 features (float32, on the CPU) of ``n x 256 x 256 x 3`` ``uint8`` patches, :data:`BATCH`
    at a time on ``device`` (a GPU in full float32: :func:`bench.metrics.learned.exact_on`)."""
    import torch

    x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode(), exact_on(device):
        return torch.cat([network(chunk.to(device))[0].cpu() for chunk in x.split(BATCH)])


# ------------------------------------------------------------------------------------------- metrics


class _InceptionPatchMetric(DatasetMetric):
    """Pool3 features of torch-fidelity's TF FID Inception v3 over the 256 x 256 patches of each image."""

    weights: ClassVar[WeightsFile] = INCEPTION_V3_FID
    features = FEATURES
    higher_is_better = False
    unit = ""
    packages = ("torch", "torch-fidelity", "numpy")
    uses_device = True

    @classmethod
    def fetch(cls, offline: bool) -> None:
        """Download the weights into the hub cache when missing (unless ``offline``), hash-checked."""
        if offline or _missing_package() is not None:
            return
        fetch_weights(cls.name, (cls.weights,))

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _missing_package() or weights_problem((cls.weights,))

    def describe(self) -> dict[str, Any]:
        """As :meth:`DatasetMetric.describe`, and the weights file's name and whole sha256."""
        return {**super().describe(), "weights": [{"file": self.weights.name, "sha256": verified_sha256(self.weights)}]}

    def extract(self, image: np.ndarray) -> np.ndarray:
        """Pool3 features of the patches of ``image`` (``H x W x 3`` ``uint8``): ``n x 2048`` float32,
        in :func:`patch_origins` order; ``0 x 2048`` (no network needed) for an image with a side under 256."""
        batch = patches(image)
        if len(batch) == 0:
            return np.zeros((0, FEATURE_DIM), np.float32)
        return (
            _features(inception(self.weights, self.device), batch, self.device).numpy().astype(np.float32, copy=False)
        )


def _missing_package() -> str | None:
    for module, package in (("torch", "torch"), (_PACKAGE, "torch-fidelity")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed ({INSTALL_HINT})"
    return None


_FEATURES_SAID = (
    "torch-fidelity's TF FID Inception v3 pool3 features (weights-inception-2015-12-05-6726825d.pth; uint8 patch "
    "resized to 299 x 299 by its TF1-compatible bilinear resize, scaled to [-1, 1], float32) of the 256 x 256 "
    "patches of each image (the grid from (0, 0), plus the grid from (128, 128) when both sides are >= 384: "
    "neuralcompression's update_patch_fid)"
)


@register_metric
class FidPatch(_InceptionPatchMetric):
    name = "fid_patch"
    label = "FID/256"
    axis_label = "FID/256 (Inception v3, 256 x 256 patches)"
    convention = (
        "FID (Frechet distance of Gaussians with unbiased covariances, float64, exact trace term) between "
        f"{_FEATURES_SAID} of the references and of the decoded images of a set of images"
    )

    def aggregate(self, ref: np.ndarray, dist: np.ndarray) -> float:
        """FID of the stacked features (:func:`frechet_distance`); NaN with a warning under 2 features a side."""
        return frechet_distance(ref, dist, name=self.name)


@register_metric
class KidPatch(_InceptionPatchMetric):
    name = "kid_patch"
    label = "KID/256"
    axis_label = "KID/256 (Inception v3, 256 x 256 patches)"
    convention = (
        "KID: unbiased MMD^2 with kernel (x.y/2048 + 1)^3 over all pairs (no subsets; torchmetrics "
        "KernelInceptionDistance with subsets=1, subset_size=n), float64, not x1000, between "
        f"{_FEATURES_SAID} of the references and of the decoded images of a set of images"
    )

    def aggregate(self, ref: np.ndarray, dist: np.ndarray) -> float:
        """KID of the stacked features (:func:`polynomial_mmd2`); NaN with a warning under 2 features a side."""
        return polynomial_mmd2(ref, dist, name=self.name)
