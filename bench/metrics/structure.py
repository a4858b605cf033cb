"""Structural metrics on RGB uint8 images: SSIM, VIF (pixel domain) and GMSD.

Each equals a reference implementation that the field uses, computed faster with separable OpenCV
filters (checked in ``tests/metrics/test_structure_metrics.py``; speed in ``tests/perf/metric_speed.py``).
Inputs are ``H x W x 3`` ``uint8`` RGB arrays with values in [0, 255]; the first argument is the
reference, the second the decoded image.

* ``ssim``: exactly ``pytorch_msssim.ssim(x, y, data_range=255)`` on float NCHW tensors in [0, 255]:
  an 11-tap Gaussian window with sigma 1.5 applied separably as a "valid" convolution (no padding),
  K1 = 0.01, K2 = 0.03 (C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2), the mean of the SSIM map of each of
  R, G and B, then the mean of the three. Linear, at most 1 (negative values are kept, as
  pytorch_msssim does by default), exactly 1 for identical images. ``ssim_db`` gives
  -10 log10(1 - SSIM), as MS-SSIM's dB form (``inf`` for identical images). Computed in float32 as
  ``bench.metrics.fidelity.ms_ssim``'s first scale (within ~4e-6 of pytorch_msssim run in float64). Images
  with a side under 11 pixels have no valid window position: NaN with a warning (pytorch_msssim
  skips the smoothing along such a side, with a warning, and computes another quantity).
* ``vif``: exactly ``piq.vif_p(dist, ref, data_range=1.0)`` on RGB in [0, 1] (piq takes the distorted
  image first, the reference second). piq computes VIF-p on **luma only**: the RGB inputs are scaled to
  [0, 255] and converted to ``Y = 0.299 R + 0.587 G + 0.114 B`` (BT.601 weights, no offset, no
  rounding); chroma is ignored. Four scales; scale s uses a Gaussian window of N = 2^(4-s) + 1 taps
  (17, 9, 5, 3) with sigma N / 5; before scales 1-3 the image is filtered with that scale's window
  ("valid") and every second row and column kept (starting with the first). At each scale, over the
  "valid" positions of the window, the local variances and covariance of reference r and distorted t
  give g = cov / var_r and sigma_v^2 = var_t - g cov (with piq's guards: eps = 1e-8, negative variances
  set to 0, var_r set to 0 where below eps, g = 0 where either variance is below eps and where g < 0,
  sigma_v^2 at least eps); with sigma_n^2 = 2, VIF = (sum log10(1 + g^2 var_r / (sigma_v^2 + sigma_n^2))
  + eps) / (sum log10(1 + var_r / sigma_n^2) + eps), sums over positions and scales. Usually in [0, 1],
  above 1 for a decoded image with more contrast than the reference; identical images give exactly 1
  (piq's eps regularisation would give 1 - 1e-9). Not symmetric. Computed in float64 on centred luma:
  within ~1e-9 (relative) of piq run in float64; piq run in float32 rounds the local variances of
  low-variance regions (E[x^2] - mu^2 of values near 255^2), up to 40% off on kodim20's sky after JPEG.
  Images with a side under 41 pixels (piq's limit, which raises: one valid position at the coarsest
  scale) give NaN with a warning.
* ``gmsd``: exactly ``piq.gmsd(dist, ref, data_range=1.0)`` on RGB in [0, 1]: luma
  ``Y = 0.299 R + 0.587 G + 0.114 B`` (the Y of piq's YIQ conversion), then, if the height or the width
  is odd, one row and one column of zeros appended at the bottom and right, 2x2 average pooling with
  stride 2 (a last odd row/column dropped), Prewitt gradients (kernels [-1 0 1] x [1 1 1] / 3, zero
  padding, output the size of the pooled image), gradient magnitudes m, the similarity map
  GMS = (2 m_r m_t + c) / (m_r^2 + m_t^2 + c) with c = 170 / 255^2 for values in [0, 1], and GMSD = the
  standard deviation of GMS over all positions (population: divided by the count). Lower is better;
  0 for identical images. Computed exactly up to the gradients (integer-valued float32), then in
  float64. Images with a side under 5 pixels (pooled image under 3 x 3, the Prewitt window; piq gives
  0, a perfect score, for any pair of 2 x 2 images) give NaN with a warning.

Undefined values are NaN with a ``RuntimeWarning`` that names the reason, never an exception.
The functions are registered as the metrics ``ssim_rgb`` (dB form ``ssim_db``), ``vif`` and ``gmsd``
at the bottom of this module (see :mod:`bench.api.metric`).
"""

from __future__ import annotations

import cv2
import numpy as np

from bench.api.metric import DbForm, Metric, check_pair, register_metric, too_small
from bench.metrics.fidelity import PEAK, gaussian_window, ms_ssim_db, ms_ssim_from_db, scratch_arrays, ssim_and_cs

__all__ = [
    "ssim",
    "ssim_db",
    "ssim_from_db",
    "vif",
    "gmsd",
    "SSIM_MIN_SIDE",
    "VIF_MIN_SIDE",
    "GMSD_MIN_SIDE",
    "SsimRgb",
    "Vif",
    "Gmsd",
]

#: SSIM's window size: a side under this leaves no valid window position.
SSIM_MIN_SIDE = 11
#: piq.vif_p's own limit: one valid position of the 3-tap window at the fourth scale.
VIF_MIN_SIDE = 41
#: The 2x2-pooled image must hold the 3 x 3 Prewitt window.
GMSD_MIN_SIDE = 5

#: Luma weights piq applies to RGB for VIF-p and GMSD (BT.601, as the first row of its YIQ matrix).
BT601_LUMA = np.array([0.299, 0.587, 0.114])
_VIF_SIGMA_N_SQ = 2.0
_VIF_EPS = 1e-8
_VIF_SCALES = 4
_LUMA_X1000 = np.round(BT601_LUMA * 1000).astype(np.float32)[None, :]  # 299, 587, 114: integer arithmetic
_DIFF = np.array([-1.0, 0.0, 1.0], np.float32)
_SUM = np.ones(3, np.float32)
_GMSD_C = 170.0  # piq's 170 / 255^2 for values in [0, 1], here for luma in [0, 255]


# ---------------------------------------------------------------------------------------------- SSIM


def ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    """RGB SSIM, pytorch_msssim conventions (see module docstring); NaN if a side is under 11 pixels."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < SSIM_MIN_SIDE:
        return too_small("SSIM", ref.shape, SSIM_MIN_SIDE, "the 11 x 11 Gaussian window must fit")
    if np.array_equal(ref, dist):
        return 1.0  # exactly: the mean of a map of ones can round to 1 - 1e-16, whose dB form is finite
    s, d = scratch_arrays.get(ref.shape, 2)
    cv2.addWeighted(ref, 1.0, dist, 1.0, -PEAK, dst=s, dtype=cv2.CV_32F)  # x + y - 255
    cv2.subtract(ref, dist, dst=d, dtype=cv2.CV_32F)  # x - y
    per_channel, _ = ssim_and_cs(s, d, gaussian_window())
    return float(per_channel.mean())


def ssim_db(value: float) -> float:
    """SSIM in dB, -10 log10(1 - SSIM); ``inf`` for a perfect score."""
    return ms_ssim_db(value)


def ssim_from_db(db: float) -> float:
    """The linear SSIM of a value in dB (the inverse of :func:`ssim_db`)."""
    return ms_ssim_from_db(db)


# ----------------------------------------------------------------------------------------------- VIF


def _vif_window(scale: int) -> np.ndarray:
    """piq's Gaussian window of scale ``scale`` (separable: the 2-D kernel is the outer product)."""
    size = 2 ** (4 - scale) + 1
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(coords**2) / (2 * (size / 5) ** 2))
    return g / g.sum()


def _valid_filter(img: np.ndarray, window: np.ndarray, step: int = 1) -> np.ndarray:
    """``img`` filtered with ``window`` x ``window``, only where the window fits (every ``step``-th)."""
    r = len(window) // 2
    full = cv2.sepFilter2D(img, -1, window, window, borderType=cv2.BORDER_REPLICATE)
    h, w = img.shape
    return full[r : h - r : step, r : w - r : step]


def _vif_luma(img: np.ndarray) -> np.ndarray:
    """BT.601 luma minus 128, float64: 299 R + 587 G + 114 B is exact in float32, then one rounding."""
    y1000 = cv2.transform(img.astype(np.float32), _LUMA_X1000).astype(np.float64)
    y1000 -= 128_000.0  # centred: the local moments then lose nothing to cancellation
    y1000 /= 1000.0
    return y1000


def _vif_terms(var_r: np.ndarray, var_t: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """Sums of VIF's numerator and denominator terms over local moments (all three are overwritten).

    piq's guards: negative variances set to 0; g = cov / (var_r + eps), sigma_v^2 = var_t - g cov;
    var_r = 0 where var_r < eps; g = 0 where var_r < eps, where var_t < eps and where g < 0;
    sigma_v^2 at least eps. (piq also sets sigma_v^2 where it sets g = 0: no term depends on it there.)
    """
    eps, sigma_n_sq = _VIF_EPS, _VIF_SIGMA_N_SQ
    np.maximum(var_r, 0.0, out=var_r)
    np.maximum(var_t, 0.0, out=var_t)
    g = np.add(var_r, eps)
    np.divide(cov, g, out=g)
    sv = np.multiply(g, cov, out=cov)
    np.subtract(var_t, sv, out=sv)
    flat_r = var_r < eps
    if flat_r.any():
        np.copyto(g, 0.0, where=flat_r)
        np.copyto(var_r, 0.0, where=flat_r)
    flat_t = var_t < eps
    if flat_t.any():
        np.copyto(g, 0.0, where=flat_t)
    np.maximum(g, 0.0, out=g)
    np.maximum(sv, eps, out=sv)
    sv += sigma_n_sq
    g *= g
    g *= var_r
    g /= sv
    g += 1.0
    num = float(np.log10(g, out=g).sum())
    var_r *= 1.0 / sigma_n_sq
    var_r += 1.0
    den = float(np.log10(var_r, out=var_r).sum())
    return num, den


#: rows of the elementwise VIF computations at a time (keeps their temporaries in the CPU cache)
_VIF_BLOCK = 1 << 14


def vif(ref: np.ndarray, dist: np.ndarray) -> float:
    """VIF-p of luma, piq conventions (see module docstring); NaN if a side is under 41 pixels."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < VIF_MIN_SIDE:
        return too_small("VIF-p", ref.shape, VIF_MIN_SIDE, "one valid window position at the fourth scale")
    if np.array_equal(ref, dist):
        return 1.0
    r, t = _vif_luma(ref), _vif_luma(dist)
    num = den = 0.0
    for scale in range(_VIF_SCALES):
        window = _vif_window(scale)
        if scale > 0:
            r = np.ascontiguousarray(_valid_filter(r, window, 2))
            t = np.ascontiguousarray(_valid_filter(t, window, 2))
        mu_r, mu_t = _valid_filter(r, window), _valid_filter(t, window)
        e_rr, e_tt, e_rt = (_valid_filter(a * b, window) for a, b in ((r, r), (t, t), (r, t)))
        rows = max(1, _VIF_BLOCK // mu_r.shape[1])
        for i in range(0, mu_r.shape[0], rows):
            block = slice(i, i + rows)
            m_r, m_t = mu_r[block], mu_t[block]
            var_r = e_rr[block] - m_r * m_r
            var_t = e_tt[block] - m_t * m_t
            cov = e_rt[block] - m_r * m_t
            n, d = _vif_terms(var_r, var_t, cov)
            num += n
            den += d
    return (num + _VIF_EPS) / (den + _VIF_EPS)


# ---------------------------------------------------------------------------------------------- GMSD


def _pooled_gradient_magnitude(img: np.ndarray, pad: int) -> np.ndarray:
    """3000 x piq's Prewitt gradient magnitude of the pooled luma (in [0, 255]) of an RGB uint8 image.

    Computed exactly up to the last steps: 1000 x luma = 299 R + 587 G + 114 B is an integer below
    2^18, the 2x2 means of these (after zero padding by ``pad`` at the bottom and right) are multiples
    of 1/4, and the Prewitt sums of those (kernels [-1 0 1] and [1 1 1], zero padding) stay below 2^21:
    all exact in float32, in any order of operations. Then the magnitude in float64.
    """
    luma = cv2.transform(img.astype(np.float32), _LUMA_X1000)
    if pad:
        luma = cv2.copyMakeBorder(luma, 0, pad, 0, pad, cv2.BORDER_CONSTANT, value=0.0)
    h, w = luma.shape[0] // 2, luma.shape[1] // 2
    pooled = cv2.resize(luma[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA)  # 2x2 means
    gx = cv2.sepFilter2D(pooled, cv2.CV_32F, _DIFF, _SUM, borderType=cv2.BORDER_CONSTANT).astype(np.float64)
    gy = cv2.sepFilter2D(pooled, cv2.CV_32F, _SUM, _DIFF, borderType=cv2.BORDER_CONSTANT).astype(np.float64)
    gx *= gx
    gy *= gy
    gx += gy
    return np.sqrt(gx, out=gx)


def gmsd(ref: np.ndarray, dist: np.ndarray) -> float:
    """GMSD of luma, piq conventions (see module docstring); NaN if a side is under 5 pixels."""
    check_pair(ref, dist)
    h, w = ref.shape[:2]
    if min(h, w) < GMSD_MIN_SIDE:
        return too_small("GMSD", ref.shape, GMSD_MIN_SIDE, "the 2x2-pooled image must hold the 3 x 3 Prewitt window")
    pad = max(h % 2, w % 2)
    m_r = _pooled_gradient_magnitude(ref, pad)
    m_t = _pooled_gradient_magnitude(dist, pad)
    # GMS = (2 m_r m_t + c) / (m_r^2 + m_t^2 + c), with magnitudes 3000 x piq's: c = 3000^2 x 170 (luma in [0, 255])
    c = 3000.0**2 * _GMSD_C
    gms = m_r * m_t
    gms *= 2.0
    gms += c
    m_r *= m_r
    m_t *= m_t
    m_r += m_t
    m_r += c
    gms /= m_r
    return float(gms.std())


_OPENCV = ("opencv-python-headless", "numpy")


@register_metric
class SsimRgb(Metric):
    name = "ssim_rgb"
    label = "SSIM"
    axis_label = "SSIM (RGB)"
    # SSIM saturates near 1 like MS-SSIM; the field (x264/x265's "SSIM (dB)", MS-SSIM's CompressAI form)
    # compares it as -10 log10(1 - SSIM), so BD-rates and RD figures use that form
    db = DbForm("ssim_db", "SSIM-dB", "SSIM (RGB) [dB]", ssim_db, ssim_from_db)
    convention = (
        "linear, pytorch_msssim.ssim conventions: 11-tap Gaussian sigma 1.5 'valid', K1 0.01, K2 0.03, "
        "data range 255, mean SSIM map per R, G, B then mean; NaN if a side < 11"
    )
    packages = _OPENCV

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return ssim(ref, dist)


@register_metric
class Vif(Metric):
    name = "vif"
    label = "VIF"
    axis_label = "VIF-p (luma)"
    convention = (
        "piq.vif_p(dist, ref) conventions: pixel-domain VIF of luma 0.299 R + 0.587 G + 0.114 B (chroma ignored), "
        "4 scales, Gaussian windows 17/9/5/3 taps sigma N/5, sigma_n^2 2, eps 1e-8; NaN if a side < 41"
    )
    packages = _OPENCV

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return vif(ref, dist)


@register_metric
class Gmsd(Metric):
    name = "gmsd"
    label = "GMSD"
    axis_label = "GMSD (luma, lower is better)"
    higher_is_better = False
    convention = (
        "piq.gmsd conventions: luma 0.299 R + 0.587 G + 0.114 B, zero-pad odd sizes, 2x2 average pooling, "
        "Prewitt gradient magnitude, GMS with c = 170 / 255^2 on [0, 1], population std of GMS; NaN if a side < 5"
    )
    packages = _OPENCV

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return gmsd(ref, dist)
