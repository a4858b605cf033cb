"""The default metrics on RGB uint8 images: PSNR-RGB, Y-PSNR and MS-SSIM (and its dB form).

Conventions (CompressAI's, so numbers are comparable with its published results):

* Inputs are ``H x W x 3`` ``uint8`` arrays with values in [0, 255]; the peak value is 255.
* ``psnr``: one MSE over all pixels and all three channels, ``10 * log10(255**2 / MSE)`` in dB.
* ``psnr_y``: PSNR of the luma plane ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` (BT.709 weights on the
  full-range [0, 255] RGB values, no studio-range offset), in dB.
* ``ms_ssim``: RGB MS-SSIM exactly as ``pytorch_msssim.ms_ssim(x, y, data_range=255)``: 5 scales with
  weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), an 11-tap Gaussian window with sigma 1.5 applied
  as a "valid" convolution, K1 = 0.01, K2 = 0.03, 2x2 average pooling between scales (odd sizes are
  zero-padded, padding counted in the average), computed per channel, then averaged over channels.
  A linear value in [0, 1]; ``ms_ssim_db`` converts it to -10 log10(1 - MS-SSIM).

Identical images give a PSNR of ``inf``. Images whose shorter side is 160 pixels or less are too
small for five scales: ``ms_ssim`` warns and returns NaN.

The functions are registered as the metrics ``psnr_rgb``, ``psnr_y`` and ``ms_ssim_rgb`` (with its dB
form ``ms_ssim_db``) at the bottom of this module (see :mod:`bench.api.metric`).
"""

from __future__ import annotations

import math
import threading
import warnings

import cv2
import numpy as np

from bench.api.metric import DbForm, Metric, check_pair, register_metric

__all__ = ["psnr", "psnr_y", "ms_ssim", "ms_ssim_db", "MS_SSIM_MIN_SIDE", "PsnrRgb", "PsnrY", "MsSsimRgb"]

PEAK = 255.0
BT709_LUMA = np.array([0.2126, 0.7152, 0.0722])
_LUMA_ROW = BT709_LUMA[None, :]

_WIN_SIZE = 11
_WIN_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
_SCALE_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
#: The shorter side must be larger than this for five scales (pytorch_msssim's own limit).
MS_SSIM_MIN_SIDE = (_WIN_SIZE - 1) * 2 ** (len(_SCALE_WEIGHTS) - 1)


def _psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(PEAK**2 / mse)


def psnr(ref: np.ndarray, dist: np.ndarray) -> float:
    """RGB PSNR in dB: one MSE over all pixels and channels, peak 255. ``inf`` when identical."""
    check_pair(ref, dist)
    squared_error = cv2.norm(ref, dist, cv2.NORM_L2SQR)  # exact: integer differences summed in double
    return _psnr_from_mse(squared_error / ref.size)


def psnr_y(ref: np.ndarray, dist: np.ndarray) -> float:
    """PSNR in dB of BT.709 luma computed from full-range RGB (see module docstring)."""
    check_pair(ref, dist)
    diff = cv2.subtract(ref, dist, dtype=cv2.CV_64F)
    luma_diff = cv2.transform(diff, _LUMA_ROW)  # Y(ref) - Y(dist), one channel
    return _psnr_from_mse(cv2.norm(luma_diff, cv2.NORM_L2SQR) / luma_diff.size)


def gaussian_window() -> np.ndarray:
    coords = np.arange(_WIN_SIZE, dtype=np.float64) - _WIN_SIZE // 2
    g = np.exp(-(coords**2) / (2 * _WIN_SIGMA**2))
    return (g / g.sum()).astype(np.float32)


def _blur(img: np.ndarray, window: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter of an H x W x 3 float32 array into ``out`` (same size; borders invalid)."""
    return cv2.sepFilter2D(img, cv2.CV_32F, window, window, dst=out, borderType=cv2.BORDER_REPLICATE)


class _Scratch(threading.local):
    """Float32 work arrays per thread and image size, reused from call to call.

    Allocating ~5 MB arrays afresh for every map costs page faults that take as long as the
    filtering itself; the buffers are private to each thread, so concurrent calls stay correct.
    """

    def get(self, shape: tuple[int, ...], count: int) -> list[np.ndarray]:
        cache = self.__dict__.setdefault("by_shape", {})
        if (shape, count) not in cache:
            if len(cache) >= 2 * len(_SCALE_WEIGHTS):  # the scales of the current image size
                cache.clear()
            cache[shape, count] = [np.empty(shape, np.float32) for _ in range(count)]
        return cache[shape, count]


scratch_arrays = _Scratch()


def ssim_and_cs(
    s: np.ndarray, d: np.ndarray, window: np.ndarray, ssim: bool = True
) -> tuple[np.ndarray | None, np.ndarray]:
    """Per-channel mean SSIM (None when ``ssim`` is False: MS-SSIM's finer scales use only the other) and
    contrast-structure terms at one scale.

    Takes s = x + y - 255 and d = x - y (H x W x 3 float32; both are overwritten) instead of the two
    images: four filtered maps instead of five, since mu_x mu_y = (mu_s^2 - mu_d^2) / 4,
    sigma_xy = (var_s - var_d) / 4 and sigma_x^2 + sigma_y^2 = (var_s + var_d) / 2, and likewise
    for the means. Centring ``s`` keeps the variances computed from values of at most 255 in
    magnitude. Maps are computed at full size in reused buffers; only the 'valid' part (no padding
    involved) is averaged.
    """
    c1 = 2 * (_K1 * PEAK) ** 2
    c2 = 2 * (_K2 * PEAK) ** 2
    mu_s, mu_d, var_s, var_d = scratch_arrays.get(s.shape, 4)
    _blur(s, window, mu_s)
    _blur(d, window, mu_d)
    np.multiply(s, s, out=s)
    np.multiply(d, d, out=d)
    _blur(s, window, var_s)  # E[s^2] for now
    _blur(d, window, var_d)
    np.multiply(mu_s, mu_s, out=s)
    var_s -= s
    np.multiply(mu_d, mu_d, out=d)  # d holds mu_d^2 from here on
    var_d -= d
    # contrast-structure (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2), numerator and denominator doubled
    cs_map = cv2.addWeighted(var_s, 1.0, var_d, -1.0, c2, dst=mu_d)
    cv2.addWeighted(var_s, 1.0, var_d, 1.0, c2, dst=var_s)
    cv2.divide(cs_map, var_s, dst=cs_map)
    r = _WIN_SIZE // 2
    valid = (slice(r, -r), slice(r, -r))
    if not ssim:
        return None, _channel_means(cs_map[valid])
    # luminance (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), doubled likewise; mu_s + 255 = mean of x + y
    mu_s += PEAK
    np.multiply(mu_s, mu_s, out=mu_s)
    ssim_map = cv2.addWeighted(mu_s, 1.0, d, -1.0, c1, dst=var_d)
    cv2.addWeighted(mu_s, 1.0, d, 1.0, c1, dst=mu_s)
    cv2.divide(ssim_map, mu_s, dst=ssim_map)
    ssim_map *= cs_map
    return _channel_means(ssim_map[valid]), _channel_means(cs_map[valid])


def _channel_means(img: np.ndarray) -> np.ndarray:
    """Mean of each channel of an H x W x 3 float32 array (OpenCV sums in double precision)."""
    return np.array(cv2.mean(img)[:3])


def _avg_pool2(img: np.ndarray, pad_value: float) -> np.ndarray:
    """2x2 average pooling, stride 2, of an H x W x 3 float32 array.

    Odd sizes get one row/column of ``pad_value`` on each side, counted in the average (what
    pytorch_msssim's zero padding of the images amounts to for s = x + y - 255 and d = x - y).
    """
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = cv2.copyMakeBorder(img, h % 2, h % 2, w % 2, w % 2, cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
        h, w = img.shape[:2]
        img = img[: h - h % 2, : w - w % 2]  # the last padded row/column is never pooled
    return cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def ms_ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    """RGB MS-SSIM in [0, 1], pytorch_msssim conventions (see module docstring).

    Returns NaN with a warning when the shorter side is <= 160 pixels (too small for 5 scales).
    """
    check_pair(ref, dist)
    if min(ref.shape[:2]) <= MS_SSIM_MIN_SIDE:
        warnings.warn(
            f"image of {ref.shape[1]}x{ref.shape[0]} pixels is too small for 5-scale MS-SSIM "
            f"(shorter side must exceed {MS_SSIM_MIN_SIDE}); returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return math.nan
    window = gaussian_window()
    s, d = scratch_arrays.get(ref.shape, 2)
    cv2.addWeighted(ref, 1.0, dist, 1.0, -PEAK, dst=s, dtype=cv2.CV_32F)  # x + y - 255
    cv2.subtract(ref, dist, dst=d, dtype=cv2.CV_32F)  # x - y
    # pooling s and d equals pooling x and y (it is linear), so each scale starts from them
    terms = []
    levels = len(_SCALE_WEIGHTS)
    for level in range(levels):
        coarser = (_avg_pool2(s, -PEAK), _avg_pool2(d, 0.0)) if level < levels - 1 else None
        ssim_c, cs_c = ssim_and_cs(s, d, window, ssim=coarser is None)
        if coarser is None:
            terms.append(np.maximum(ssim_c, 0.0))
        else:
            terms.append(np.maximum(cs_c, 0.0))
            s, d = coarser
    per_channel = np.prod(np.stack(terms) ** _SCALE_WEIGHTS[:, None], axis=0)
    return float(per_channel.mean())


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in dB, -10 log10(1 - MS-SSIM); ``inf`` for a perfect score."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def ms_ssim_from_db(db: float) -> float:
    """The linear MS-SSIM of a value in dB (the inverse of :func:`ms_ssim_db`)."""
    return 1.0 - 10.0 ** (-db / 10.0)


_OPENCV = ("opencv-python-headless", "numpy")


@register_metric
class PsnrRgb(Metric):
    name = "psnr_rgb"
    label = "PSNR-RGB"
    unit = "dB"
    axis_label = "PSNR-RGB [dB]"
    compressai_key = "psnr-rgb"
    convention = "dB, one MSE over R, G and B, peak 255 (CompressAI convention)"
    value_range = (0.0, math.inf)  # an MSE of at most 255^2: 0 dB; identical images: inf
    packages = _OPENCV

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return psnr(ref, dist)


@register_metric
class PsnrY(Metric):
    name = "psnr_y"
    label = "Y-PSNR"
    unit = "dB"
    axis_label = "Y-PSNR (BT.709 luma) [dB]"
    convention = "dB, luma Y = 0.2126 R + 0.7152 G + 0.0722 B (BT.709 weights, full range), peak 255"
    value_range = (0.0, math.inf)  # an MSE of at most 255^2: 0 dB; identical images: inf
    packages = _OPENCV

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return psnr_y(ref, dist)


@register_metric
class MsSsimRgb(Metric):
    name = "ms_ssim_rgb"
    label = "MS-SSIM"
    axis_label = "MS-SSIM (RGB)"
    db = DbForm("ms_ssim_db", "MS-SSIM-dB", "MS-SSIM (RGB) [dB]", ms_ssim_db, ms_ssim_from_db, "ms-ssim-db-rgb")
    compressai_key = "ms-ssim-rgb"
    value_range = (0.0, 1.0)
    convention = "linear, pytorch_msssim conventions: 5 scales, 11-tap Gaussian sigma 1.5, per channel then mean"
    packages = _OPENCV

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return ms_ssim(ref, dist)
