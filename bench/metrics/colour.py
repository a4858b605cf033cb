"""Colour metrics on RGB uint8 images: PSNR-YUV (6:1:1) and CIEDE2000.

Inputs are ``H x W x 3`` ``uint8`` RGB arrays with values in [0, 255]; the first argument is the
reference, the second the decoded image. Checked in ``tests/metrics/test_colour.py``; speed
in ``tests/perf/metric_speed.py``.

* ``psnr_yuv``: ``10 log10(255^2 / MSE_YUV)`` in dB with ``MSE_YUV = (6 MSE_Y + MSE_Cb + MSE_Cr) / 8``,
  the MSE of each plane of BT.709 full-range YCbCr 4:4:4 computed from the 8-bit RGB values:
  ``Y = 0.2126 R + 0.7152 G + 0.0722 B``, ``Cb = (B - Y) / 1.8556 + 128``, ``Cr = (R - Y) / 1.5748 + 128``
  (no studio-range scaling, no chroma subsampling; the offsets cancel). The YCbCr values are **not
  rounded** to integers: the MSEs are those of the exact real-valued planes (float64). The 6:1:1
  weighting is applied to the MSEs (one PSNR of the weighted MSE), not to per-plane PSNRs as in the
  JVET/JPEG AI "YUV PSNR" (6 PSNR_Y + PSNR_U + PSNR_V) / 8; the two differ when the planes' errors
  differ. ``inf`` for identical images; any size.
* ``ciede2000``: the mean over pixels of the CIEDE2000 colour difference (Sharma, Wu & Dalal 2005;
  kL = kC = kH = 1), exactly ``skimage.color.deltaE_ciede2000(rgb2lab(ref), rgb2lab(dist)).mean()``:
  sRGB values v / 255 linearised with ``((c + 0.055) / 1.055)^2.4`` above 0.04045 and ``c / 12.92``
  below, scikit-image's RGB-to-XYZ matrix, CIELAB with the D65 white of the 2-degree observer
  (0.95047, 1, 1.08883), ``f(t) = t^(1/3)`` above 0.008856 and ``7.787 t + 16/116`` below. Unitless
  (Delta E 00; about 1 is a just-noticeable difference), lower is better, 0 for identical images;
  any size. The hue terms are computed without angles where the formula allows (Delta H'^2 =
  Delta a'^2 + Delta b^2 - Delta C'^2, the mean hue from the sum of the unit hue vectors, T as a
  polynomial in cos and sin of the mean hue): the same values to about 1e-12.

The functions are registered as the metrics ``psnr_yuv`` and ``ciede2000`` at the bottom of this
module (see :mod:`bench.api.metric`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from bench.api.metric import Metric, check_pair, register_metric
from bench.metrics.fidelity import PEAK

__all__ = ["psnr_yuv", "ciede2000", "YUV_WEIGHTS", "BT709_YCBCR", "PsnrYuv", "Ciede2000"]

# ----------------------------------------------------------------------------------------- PSNR-YUV

_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB
#: BT.709 RGB -> (Y, Cb, Cr) without offsets: Y = Kr R + Kg G + Kb B, Cb = (B - Y) / (2 (1 - Kb)),
#: Cr = (R - Y) / (2 (1 - Kr)).
BT709_YCBCR = np.array(
    [
        [_KR, _KG, _KB],
        [-_KR / (2 * (1 - _KB)), -_KG / (2 * (1 - _KB)), 0.5],
        [0.5, -_KG / (2 * (1 - _KR)), -_KB / (2 * (1 - _KR))],
    ]
)
#: Weights of the Y, Cb and Cr MSEs.
YUV_WEIGHTS = np.array([6.0, 1.0, 1.0]) / 8.0
# rows scaled by sqrt(weight): the sum of squares of the transformed difference is the weighted MSE sum
_WEIGHTED_YCBCR = BT709_YCBCR * np.sqrt(YUV_WEIGHTS)[:, None]


def psnr_yuv(ref: np.ndarray, dist: np.ndarray) -> float:
    """PSNR in dB of (6 MSE_Y + MSE_Cb + MSE_Cr) / 8, BT.709 full-range YCbCr (see module docstring)."""
    check_pair(ref, dist)
    diff = cv2.subtract(ref, dist, dtype=cv2.CV_64F)  # exact
    weighted = cv2.transform(diff, _WEIGHTED_YCBCR)
    mse = cv2.norm(weighted, cv2.NORM_L2SQR) / (ref.shape[0] * ref.shape[1])
    return math.inf if mse == 0 else 10.0 * math.log10(PEAK**2 / mse)


# ---------------------------------------------------------------------------------------- CIEDE2000

#: scikit-image's sRGB (linear) -> XYZ matrix and the D65 white point of the 2-degree observer.
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
D65_2DEG = np.array([0.95047, 1.0, 1.08883])


def _srgb_to_linear_table() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) * (1 / 255)  # as skimage.util.img_as_float64
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


_LINEAR = _srgb_to_linear_table()
_XYZN_FROM_RGB = XYZ_FROM_RGB / D65_2DEG[:, None]  # X / Xn, Y / Yn, Z / Zn in one matrix
_2_25_POW_7 = (2.0 * 25.0) ** 7  # 2^7 25^7


def _t_polynomials() -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (ascending) of P and Q with T(H) = P(cos H) + sin H * Q(cos H), where
    T(H) = 1 - 0.17 cos(H - 30) + 0.24 cos 2H + 0.32 cos(3H + 6) - 0.20 cos(4H - 63) (degrees).

    cos(kH + phi) = cos kH cos phi - sin kH sin phi, with cos kH = T_k(cos H) and
    sin kH = sin H U_{k-1}(cos H) (Chebyshev polynomials of the first and second kind).
    """
    from numpy.polynomial import chebyshev as cheb

    cheb_t = [cheb.cheb2poly([0] * k + [1]) for k in range(5)]
    cheb_u = [np.array([1.0]), np.array([0.0, 2.0]), np.array([-1.0, 0.0, 4.0]), np.array([0.0, -4.0, 0.0, 8.0])]
    p, q = np.zeros(5), np.zeros(4)
    p[0] = 1.0
    for amplitude, k, phase in ((-0.17, 1, -30.0), (0.24, 2, 0.0), (0.32, 3, 6.0), (-0.20, 4, -63.0)):
        phi = math.radians(phase)
        p[: k + 1] += amplitude * math.cos(phi) * cheb_t[k]
        q[:k] -= amplitude * math.sin(phi) * cheb_u[k - 1]
    return p, q


_T_P, _T_Q = _t_polynomials()


def _lab_planes(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CIELAB (D65, 2 degrees) of N x 1 x 3 RGB uint8 pixels as three float64 arrays of N x 1 values."""
    xyz = cv2.transform(cv2.LUT(img, _LINEAR), _XYZN_FROM_RGB)  # X / Xn, Y / Yn, Z / Zn
    f = np.cbrt(xyz)
    if xyz.min() <= 0.008856:  # dark colours (a few percent of the values at most): the linear part
        small = np.flatnonzero(xyz <= 0.008856)
        f.flat[small] = 7.787 * xyz.flat[small] + 16.0 / 116.0
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]  # strided views; each plane below is contiguous
    # as scikit-image: equal f values give a or b of exactly +0 (a black pixel has C = 0)
    lightness = np.multiply(fy, 116.0)
    lightness -= 16.0
    a = np.subtract(fx, fy)
    a *= 500.0
    b = np.subtract(fy, fz)
    b *= 200.0
    return lightness, a, b


def _ciede2000_sum(ref: np.ndarray, dist: np.ndarray) -> float:
    """Sum of the CIEDE2000 differences of two blocks of N x 1 x 3 RGB uint8 pixels.

    scikit-image's terms, rearranged into fewer passes over the arrays (OpenCV's fused operations):
    constant factors folded (Cbar' = csum / 2), the hue difference without angles, T as a polynomial,
    the mean hue angle from one arctan2. Arrays are N x 1 throughout (OpenCV's shape).
    """
    L1, a1, b1 = _lab_planes(ref)
    L2, a2, b2 = _lab_planes(dist)
    # a' = a (1 + G), G = (1 - sqrt(Cab^7 / (Cab^7 + 25^7))) / 2, Cab the mean chroma; with s = 2 Cab:
    # Cab^7 / (Cab^7 + 25^7) = s^7 / (s^7 + 2^7 25^7)
    s7 = cv2.magnitude(a1, b1)
    s7 += cv2.magnitude(a2, b2)
    s7 = cv2.pow(s7, 7)
    scale = cv2.divide(s7, cv2.add(s7, _2_25_POW_7))
    cv2.sqrt(scale, dst=scale)
    cv2.addWeighted(scale, -0.5, scale, 0.0, 1.5, dst=scale)  # 1 + G
    a1 *= scale
    a2 *= scale
    c1 = cv2.magnitude(a1, b1)
    c2 = cv2.magnitude(a2, b2)
    # lightness term (L2 - L1) / SL, SL = 1 + 0.015 (Lbar - 50)^2 / sqrt(20 + (Lbar - 50)^2); with
    # v = (L1 + L2 - 100)^2 = 4 (Lbar - 50)^2: SL = 1 + 0.0075 v / sqrt(80 + v)
    v = cv2.addWeighted(L1, 1.0, L2, 1.0, -100.0)
    np.multiply(v, v, out=v)
    sl = cv2.sqrt(cv2.add(v, 80.0))
    cv2.divide(v, sl, dst=sl, scale=0.0075)
    sl += 1.0
    l_term = np.subtract(L2, L1, out=L2)
    l_term /= sl
    # chroma difference C2' - C1' = (C2'^2 - C1'^2) / (C1' + C2'), exact for near chromas
    da = np.subtract(a2, a1)
    db = np.subtract(b2, b1)
    csum = c1 + c2
    dc = cv2.multiply(da, cv2.add(a1, a2))
    dc += cv2.multiply(db, cv2.add(b1, b2))
    cv2.divide(dc, csum, dst=dc)  # NaN where both C' are 0: set in _degenerate
    # squared hue difference Delta H'^2 = Delta a'^2 + Delta b^2 - Delta C'^2; its sign is that of the
    # cross product a1' b2 - a2' b1 (the sign of the hue angle difference wrapped to +-180 degrees)
    dh2 = cv2.magnitude(da, db)
    np.multiply(dh2, dh2, out=dh2)
    dh2 -= cv2.multiply(dc, dc)
    np.maximum(dh2, 0.0, out=dh2)
    cross = np.multiply(a1, b2, out=da)
    cross -= np.multiply(a2, b1, out=db)
    # mean hue: the direction of C2' (a1', b1) + C1' (a2', b2), the sum of the unit hue vectors times
    # C1' C2'; negated here, so that Hbar' = 180 degrees + its arctan2 is in [0, 360) as scikit-image's
    nhx = cv2.addWeighted(cv2.multiply(a1, c2), -1.0, cv2.multiply(a2, c1), -1.0, 0.0)
    nhy = cv2.addWeighted(cv2.multiply(b1, c2), -1.0, cv2.multiply(b2, c1), -1.0, 0.0)
    norm = cv2.magnitude(nhx, nhy)
    degenerate = norm == 0  # a C' of 0 (Delta H' is then 0), or exactly opposite hues
    if degenerate.any():
        _degenerate(a1, b1, a2, b2, c1, c2, degenerate, nhx, nhy, norm, dc, dh2)
    cos_h = cv2.divide(nhx, norm, scale=-1.0)
    sin_h = cv2.divide(nhy, norm, scale=-1.0)
    theta = np.arctan2(nhy, nhx, out=nhy)  # Hbar' - 180 degrees, in radians
    # T = P(cos) + sin Q(cos), each by Estrin's scheme
    p, q = _T_P, _T_Q
    cos2 = cv2.multiply(cos_h, cos_h)
    t = cv2.multiply(cos2, cv2.addWeighted(cos_h, p[3], cos2, p[4], p[2]))
    t += cv2.addWeighted(cos_h, p[1], cos_h, 0.0, p[0])
    qs = cv2.multiply(cos2, cv2.addWeighted(cos_h, q[3], cos_h, 0.0, q[2]))
    qs += cv2.addWeighted(cos_h, q[1], cos_h, 0.0, q[0])
    qs *= sin_h
    t += qs
    # hue term squared (Delta H' / SH)^2, SH = 1 + 0.015 Cbar' T = 1 + 0.0075 csum T
    sh = cv2.multiply(csum, t, scale=0.0075)
    sh += 1.0
    dh2 /= cv2.multiply(sh, sh)
    dc /= cv2.addWeighted(csum, 0.0225, csum, 0.0, 1.0)  # the chroma term: over SC = 1 + 0.045 Cbar'
    # rotation R_T (Delta C' / SC) (Delta H' / SH) with R_T = -sin(2 Delta theta) R_C,
    # Delta theta = 30 exp(-((Hbar' - 275) / 25)^2) degrees, R_C = 2 sqrt(Cbar'^7 / (Cbar'^7 + 25^7))
    x = cv2.addWeighted(theta, 180.0 / math.pi / 25.0, theta, 0.0, (180.0 - 275.0) / 25.0)
    rotation = cv2.exp(cv2.multiply(x, x, scale=-1.0))
    rotation *= math.radians(60.0)
    np.sin(rotation, out=rotation)
    c7 = cv2.pow(csum, 7)
    rc = cv2.divide(c7, cv2.add(c7, _2_25_POW_7))
    cv2.sqrt(rc, dst=rc)
    rotation = cv2.multiply(rotation, rc, scale=-2.0)
    rotation *= dc
    rotation *= np.copysign(cv2.sqrt(dh2), cross)
    # Delta E^2 = (Delta L' / SL)^2 + (Delta C' / SC)^2 + (Delta H' / SH)^2 + rotation term
    de2 = cv2.multiply(l_term, l_term)
    de2 += cv2.multiply(dc, dc)
    de2 += dh2
    de2 += rotation
    np.maximum(de2, 0.0, out=de2)
    return cv2.sumElems(cv2.sqrt(de2))[0]


def _degenerate(a1, b1, a2, b2, c1, c2, where, nhx, nhy, norm, dc, dh2) -> None:
    """scikit-image's values where the two hue vectors cancel (no mean direction).

    From 8-bit sRGB that is where a C' is 0, i.e. a black pixel (no other colour has a = 0 or b = 0
    exactly: checked over all 2^24): Delta H' is 0, Delta C' is 0 if both are black, and the mean hue
    does not matter (it only weights Delta H'). Exactly opposite hues (not reachable from 8-bit sRGB)
    get scikit-image's mean hue (h1 + h2) / 2.
    """
    h1 = np.arctan2(b1[where], a1[where]) % (2 * math.pi)
    h2 = np.arctan2(b2[where], a2[where]) % (2 * math.pi)
    mean = (h1 + h2) / 2
    nhx[where] = -np.cos(mean)
    nhy[where] = -np.sin(mean)
    norm[where] = 1.0
    dh2[where & (c1 * c2 == 0)] = 0.0
    dc[where & (c1 + c2 == 0)] = 0.0


def ciede2000(ref: np.ndarray, dist: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference, scikit-image conventions (see module docstring); 0 if identical."""
    check_pair(ref, dist)
    n = ref.shape[0] * ref.shape[1]
    ref = ref.reshape(n, 1, 3)
    dist = dist.reshape(n, 1, 3)
    if n < _MIN_BLOCK:  # OpenCV reads a 1 x 1 array as a scalar: pad with black pairs (difference exactly 0)
        pad = np.zeros((_MIN_BLOCK - n, 1, 3), np.uint8)
        ref, dist = np.concatenate([ref, pad]), np.concatenate([dist, pad])
    starts = list(range(0, len(ref), _BLOCK))
    if len(starts) > 1 and len(ref) - starts[-1] < _MIN_BLOCK:
        starts.pop()  # the last block takes the few pixels that would make a tiny one
    ends = [*starts[1:], len(ref)]
    return sum(_ciede2000_sum(ref[i:j], dist[i:j]) for i, j in zip(starts, ends, strict=True)) / n


#: pixels per block: the temporaries of a block stay in the CPU cache
_BLOCK = 1 << 14
_MIN_BLOCK = 8


@register_metric
class PsnrYuv(Metric):
    name = "psnr_yuv"
    label = "PSNR-YUV"
    unit = "dB"
    axis_label = "PSNR-YUV 6:1:1 (BT.709) [dB]"
    convention = (
        "dB, peak 255, of (6 MSE_Y + MSE_Cb + MSE_Cr) / 8 on BT.709 full-range YCbCr 4:4:4 from 8-bit RGB, "
        "YCbCr not rounded"
    )
    packages = ("opencv-python-headless", "numpy")

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return psnr_yuv(ref, dist)


@register_metric
class Ciede2000(Metric):
    name = "ciede2000"
    label = "CIEDE2000"
    axis_label = "CIEDE2000, mean ΔE00 (lower is better)"
    higher_is_better = False
    convention = (
        "mean over pixels of CIEDE2000 (kL = kC = kH = 1) between CIELAB of sRGB, D65, 2-degree observer, "
        "as skimage.color.deltaE_ciede2000(rgb2lab(ref), rgb2lab(dist)).mean()"
    )
    packages = ("opencv-python-headless", "numpy")

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return ciede2000(ref, dist)
