"""Perceptual full-reference metrics on RGB uint8 images: FSIMc, IW-SSIM and NLPD.

Each equals a public reference implementation (checked in ``tests/metrics/test_perceptual.py``: to
1e-5 relative on Kodak/JPEG pairs; for IW-SSIM see below where piq's float32 arithmetic is off) and is
computed several times faster (``tests/perf/metric_speed_perceptual.py``).
Inputs are ``H x W x 3`` ``uint8`` RGB arrays with values in [0, 255]; the first argument is the
reference, the second the decoded image. All three use luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (the Y
of piq's YIQ conversion: BT.601 weights, no offset, no rounding).

* ``fsim``: FSIMc (Zhang et al. 2011, with the chromatic term), exactly
  ``piq.fsim(dist, ref, data_range=1.0, chromatic=True)`` on NCHW float RGB in [0, 1] (piq's defaults:
  4 scales, 4 orientations). The images are scaled to [0, 255] and average-pooled with a k x k window
  and stride k, k = max(1, round(min(H, W) / 256)) (Python's round, halves to even; rows and columns
  beyond a multiple of k dropped), then converted to YIQ (Y above, I = 0.5959 R - 0.2746 G - 0.3213 B,
  Q = 0.2115 R - 0.5227 G + 0.3112 B). Phase congruency of Y by FFT (circular) with log-Gabor
  filters on piq's frequency grid (coordinates (i - n/2) / n for an even side n, (i - (n-1)/2) / (n-1)
  for an odd one; radius and angle atan2(-column, row)): wavelengths 6, 12, 24, 48, radial bandwidth
  sigma_f = 0.55, times the low-pass 1 / (1 + (r / 0.45)^30), DC set to 0; angular Gaussians at 0, 45,
  90 and 135 degrees with sigma = pi / (4 x 1.2); per orientation, the noise threshold from the lower
  median of the smallest scale's squared amplitude (k = 2 standard deviations, divided by 1.7),
  PC = (sum of thresholded energy + eps) / (sum of amplitudes + eps), eps = float32 eps. Gradient
  magnitude: Scharr kernels [-3 0 3; -10 0 10; -3 0 3] / 16, zero padding. Similarities
  (2 a b + T) / (a^2 + b^2 + T) with T = 0.85 (PC), 160 (gradient), 200 (I and Q); FSIMc =
  sum(S_PC S_G |S_I S_Q|^0.03 PC_max) / sum(PC_max), PC_max the larger of the two PC maps. In
  [0, 1] for usual distortions (it can exceed 1), 1 for identical images. A flat luma (one value
  everywhere) has no phase congruency: its PC map is 0 (piq's is the rounding noise of its FFT, which
  varies between machines and versions); where both lumas are flat, the PC-weighted mean is 0/0 and
  FSIMc is the unweighted mean of S_PC S_G |S_I S_Q|^0.03 over the pixels. Images with a side under 48
  pixels, one period of the longest filter wavelength, give NaN with a warning (our limit: piq
  computes down to 2 pixels, with filters longer than the image).
* ``iw_ssim``: information content weighted SSIM (Wang and Li 2011), exactly
  ``piq.information_weighted_ssim(dist, ref, data_range=1.0)`` on NCHW float RGB in [0, 1] (piq takes
  the distorted image first: the reference's pyramid drives the information content). piq computes it
  on **luma only**: Y above on [0, 255], chroma ignored. A 5-level Laplacian pyramid: 5-tap binomial
  filter [1 4 6 4 1] / 16 x sqrt(2) per axis, mirrored borders (edge not repeated), every second row
  and column kept (low-pass gain 2 per level); upsampling by zero insertion and the same filter
  (the right/bottom border repeats the last sample). Levels 0-3 (band-pass) give the contrast-structure
  term (11-tap Gaussian window, sigma 1.5, "valid", K1 = 0.01, K2 = 0.03, data range 255, negative
  variances set to 0) pooled with the information content weights of a Gaussian scale mixture on the
  reference's 3 x 3 neighbourhoods (and its parent band, upsampled with piq's bilinear enlargement, for
  levels 0-2), sigma_n^2 = 0.4; level 4 (the low-pass residual) gives the mean SSIM. IW-SSIM =
  prod(|value_l|^(w_l / sum w)), w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). 1 for identical images.
  Where piq fails (a neighbourhood covariance that cannot be inverted, as in flat images), the
  pseudo-inverse is used, and a level whose information content is zero everywhere is pooled
  unweighted. Images with a side under 161 pixels (piq's limit) give NaN with a warning. The guards
  are piq's for float32 input, its usual call (eps = float32 eps; piq takes the eps of the input's
  dtype, and in float64 weighs nearly flat reference areas very differently), and so is the
  arithmetic, except at level 4, computed in float64: there piq's float32 E[x^2] - mu^2 of values up
  to 16 x 255 loses digits on bright, smooth areas (its score is off by 1e-4 on kodim20, 7e-4 on a
  301 x 203 crop of that image's sky, up to 8e-3 on bright noise textures); ours equals piq run in
  float64 there.
* ``nlpd``: normalised Laplacian pyramid distance (Laparra, Balle, Berardino and Simoncelli 2016) of
  luma scaled to [0, 1] (Y above / 255), exactly ``plenoptic.metric.nlpd(y_ref, y_dist, epsilon=0)``
  (plenoptic, the Simoncelli lab's library; its parameters are those of the authors' MATLAB code
  NLP_dist.m). A 6-level Laplacian pyramid: 5-tap binomial filter [1 4 6 4 1] / 16 per axis, mirrored
  borders (edge not repeated) on both the downsampling and the upsampling (x 4 gain) side, every second
  row and column kept; levels 0-4 band-pass, level 5 the low-pass residual. Each level is divided by
  sigma_l + (its absolute value filtered with the 5 x 5 divisive normalisation filter of the level,
  zero padding), sigma = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782); NLPD = the mean over the 6
  levels of the root mean square difference of the normalised levels. Lower is better, 0 for
  identical images. Images with a side under 33 pixels (plenoptic's limit: mirrored padding of the
  coarsest levels) give NaN with a warning. (pyiqa's ``nlpd``, after the same MATLAB code, pads and
  orients the filters otherwise and uses 3 x 3 normalisation filters: 2-4% higher on Kodak JPEG.)

Undefined values are NaN with a ``RuntimeWarning`` that names the reason, never an exception. The
functions are registered as the metrics ``fsim``, ``iw_ssim`` and ``nlpd`` at the bottom of this
module (see :mod:`bench.api.metric`). FSIM's FFTs run in torch (imported on first use).
"""

from __future__ import annotations

import functools
import math
import threading

import cv2
import numpy as np

from bench.api.metric import Metric, check_pair, register_metric, too_small

__all__ = [
    "fsim",
    "iw_ssim",
    "nlpd",
    "FSIM_MIN_SIDE",
    "IW_SSIM_MIN_SIDE",
    "NLPD_MIN_SIDE",
    "Fsim",
    "IwSsim",
    "Nlpd",
]

_EPS32 = float(np.finfo(np.float32).eps)  # piq's torch.finfo(float32).eps guards
_LUMA = np.array([[0.299, 0.587, 0.114]])
_YIQ = np.array([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]])


def _luma(img: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``scale * (0.299 R + 0.587 G + 0.114 B)`` of an RGB uint8 image, float32, H x W."""
    return cv2.transform(img.astype(np.float32), _LUMA * scale)


# ---------------------------------------------------------------------------------------------- FSIM

_FSIM_SCALES = 4
_FSIM_ORIENTATIONS = 4
_FSIM_WAVELENGTHS = tuple(6 * 2**s for s in range(_FSIM_SCALES))  # min_length 6, mult 2
_FSIM_SIGMA_F = 0.55
_FSIM_THETA_SIGMA = math.pi / (_FSIM_ORIENTATIONS * 1.2)  # delta_theta 1.2
_FSIM_K = 2.0
_FSIM_T_PC, _FSIM_T_GM, _FSIM_T_I, _FSIM_T_Q, _FSIM_LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03
#: Both sides must be at least this: the longest log-Gabor wavelength (pooled images keep sides of
#: at least 192, so the limit concerns unpooled ones only).
FSIM_MIN_SIDE = _FSIM_WAVELENGTHS[-1]


def _fsim_axis(n: int) -> np.ndarray:
    """piq's ``get_meshgrid`` coordinates along one axis."""
    if n % 2:
        return (np.arange(n) - (n - 1) / 2) / (n - 1)
    return (np.arange(n) - n / 2) / n


@functools.lru_cache(maxsize=2)
def _fsim_filter_bank(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The log-Gabor bank of piq's ``_construct_filters`` for an h x w image, and its noise factors.

    Returns the 4 x 4 (orientation, scale) real filters with every value repeated twice (so that one
    float32 multiplication scales the real and imaginary parts of an interleaved complex spectrum)
    and, per orientation, the factor c_o of piq's noise threshold: c_o times the median amplitude at
    the smallest scale. Computed in float64.
    """
    rows = _fsim_axis(h)[:, None]
    cols = _fsim_axis(w)[None, :]
    radius = np.sqrt(rows**2 + cols**2)
    theta = np.fft.ifftshift(np.arctan2(-cols, rows))
    x2 = (radius / 0.45) ** 2
    x4 = x2 * x2
    x8 = x4 * x4
    lowpass = np.fft.ifftshift(1.0 / (1.0 + x8 * x8 * x8 * x4 * x2))  # (r / 0.45)^30 (float pow is slow)
    radius = np.fft.ifftshift(radius)
    radius[0, 0] = 1.0
    log_radius = np.log(radius)
    log_gabor = []
    for wavelength in _FSIM_WAVELENGTHS:
        g = np.exp((log_radius + math.log(wavelength)) ** 2 * (-0.5 / math.log(_FSIM_SIGMA_F) ** 2)) * lowpass
        g[0, 0] = 0.0
        log_gabor.append(g)
    doubled = np.empty((_FSIM_ORIENTATIONS, _FSIM_SCALES, h, w, 2), np.float32)
    spreads = []
    for o in range(_FSIM_ORIENTATIONS):
        # piq's |atan2(sin(theta - angle), cos(theta - angle))|: the angle difference wrapped to [0, pi]
        diff = np.abs(theta - o * math.pi / _FSIM_ORIENTATIONS)
        diff = np.minimum(diff, 2 * math.pi - diff)
        spreads.append(np.exp(diff**2 * (-0.5 / _FSIM_THETA_SIGMA**2)))
        for s in range(_FSIM_SCALES):
            doubled[o, s, ..., 0] = spreads[o] * log_gabor[s]
    doubled[..., 1] = doubled[..., 0]
    # piq's noise model sums products of the spatial filters Re(ifft2(F)) sqrt(hw) = ifft2(F_e) sqrt(hw),
    # F_e(k) = (F(k) + F(-k)) / 2; by Parseval they are sums over the spectra. The radial factor of F
    # is even in k (the grid is symmetric), so F_e = lg_s (spread_o(k) + spread_o(-k)) / 2, and
    # sum_an2 + 2 sum_ai_aj = sum_k ((spread_o(k) + spread_o(-k)) / 2)^2 (sum_s lg_s)^2
    radial = sum(log_gabor) ** 2
    first = log_gabor[0] ** 2
    tau_per_median = np.empty(_FSIM_ORIENTATIONS)
    for o, spread in enumerate(spreads):
        spread_even = (spread + np.roll(spread[::-1, ::-1], 1, axis=(0, 1))) / 2
        em_n = np.vdot(spread**2, first)
        tau_per_median[o] = math.sqrt(np.vdot(spread_even**2, radial) / (math.log(2) * em_n))
    factor = tau_per_median * (math.sqrt(math.pi / 2) + _FSIM_K * math.sqrt(2 - math.pi / 2)) / 1.7
    doubled = doubled.reshape(_FSIM_ORIENTATIONS, _FSIM_SCALES, h, 2 * w)
    return doubled, factor.astype(np.float32)


class _FsimScratch(threading.local):
    """Work arrays of one image size, reused from call to call (see ``bench.metrics.fidelity._Scratch``)."""

    def get(self, h: int, w: int) -> tuple:
        if self.__dict__.get("shape") != (h, w):
            import torch

            spectra = np.empty((_FSIM_SCALES, h, 2 * w), np.float32)
            responses = torch.empty((_FSIM_SCALES, h, w), dtype=torch.complex64)
            self.arrays = (
                spectra,
                torch.from_numpy(spectra).view(torch.complex64),
                responses,
                responses.numpy(),
                np.empty((_FSIM_SCALES, h, w), np.float32),  # amplitudes
                np.empty((_FSIM_SCALES, h, w), np.complex64),  # products
            )
            self.shape = (h, w)
        return self.arrays


_fsim_scratch = _FsimScratch()


def _phase_congruency(lum: np.ndarray) -> np.ndarray:
    """piq's ``_phase_congruency`` of an h x w float32 image (filter responses by FFT, in torch).

    piq's even and odd responses are the real and imaginary parts of ifft2(X F): one complex inverse
    FFT per filter. Per orientation, with E_s those complex responses and S their sum over scales,
    piq's energy sum_s (e m_e + o m_o - |e m_o - o m_e|), (m_e, m_o) = S / (|S| + eps), equals
    (|S|^2 - sum_s |Im(E_s conj(S))|) / (|S| + eps).
    """
    import torch

    h, w = lum.shape
    bank, factor = _fsim_filter_bank(h, w)
    spectra, spectra_t, responses_t, responses, amplitude, product = _fsim_scratch.get(h, w)
    with torch.no_grad():
        spectrum = torch.fft.fft2(torch.from_numpy(lum)).numpy().view(np.float32)
    energy_sum = np.zeros((h, w), np.float32)
    amplitude_sum = np.zeros((h, w), np.float32)
    middle = (h * w - 1) // 2  # torch.median's lower median
    for o in range(_FSIM_ORIENTATIONS):
        np.multiply(bank[o], spectrum, out=spectra)
        with torch.no_grad():
            torch.fft.ifft2(spectra_t, out=responses_t)
        np.abs(responses, out=amplitude)
        for s in range(_FSIM_SCALES):
            amplitude_sum += amplitude[s]
        threshold = np.partition(amplitude[0], middle, axis=None)[middle] * factor[o]  # selection, not a sort
        total = responses.sum(axis=0)
        np.multiply(responses, total.conj(), out=product)
        np.abs(product.imag, out=amplitude)
        cross = amplitude.sum(axis=0)
        magnitude = np.abs(total)
        energy = (magnitude * magnitude - cross) / (magnitude + np.float32(_EPS32)) - threshold
        energy_sum += np.maximum(energy, 0.0)
    return (energy_sum + np.float32(_EPS32)) / (amplitude_sum + np.float32(_EPS32))


def _flat_luma(img: np.ndarray, lum: np.ndarray) -> bool:
    """True when the luma of an RGB uint8 image has one value everywhere (exactly: in integers, as
    float32 arithmetic may round the same colour differently from one pixel to the next). ``lum``, its
    float32 luma (pooled or not), answers at once when it spans more than such rounding can."""
    if np.ptp(lum) > 1e-2:
        return False
    y = img.astype(np.int32) @ np.array([299, 587, 114], np.int32)
    return bool(y.min() == y.max())


def _similarity(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (2.0 * a * b + t) / (a * a + b * b + t)


def fsim(ref: np.ndarray, dist: np.ndarray) -> float:
    """FSIMc, piq conventions (see module docstring); NaN if a side is under 48 pixels."""
    check_pair(ref, dist)
    h, w = ref.shape[:2]
    k = max(1, round(min(h, w) / 256))
    ph, pw = h // k, w // k
    if min(ph, pw) < FSIM_MIN_SIDE:  # only unpooled images (k = 1) can be this small
        return too_small("FSIM", ref.shape, FSIM_MIN_SIDE, "one period of the longest log-Gabor wavelength")
    yiq = []
    for img in (ref, dist):
        rgb = img[: ph * k, : pw * k].astype(np.float32)
        if k > 1:
            rgb = cv2.resize(rgb, (pw, ph), interpolation=cv2.INTER_AREA)  # exact k x k block means
        yiq.append(cv2.transform(rgb, _YIQ))
    lum = np.stack([np.ascontiguousarray(c[..., 0]) for c in yiq])
    pc_ref, pc_dist = (
        np.zeros_like(y) if _flat_luma(img[: ph * k, : pw * k], y) else _phase_congruency(y)
        for img, y in zip((ref, dist), lum, strict=True)
    )
    grad = []
    for y in lum:
        gx = cv2.Scharr(y, cv2.CV_32F, 1, 0, scale=1 / 16, borderType=cv2.BORDER_CONSTANT)
        gy = cv2.Scharr(y, cv2.CV_32F, 0, 1, scale=1 / 16, borderType=cv2.BORDER_CONSTANT)
        grad.append(cv2.magnitude(gx, gy))
    pc_max = np.maximum(pc_ref, pc_dist)
    (_, i_ref, q_ref), (_, i_dist, q_dist) = (cv2.split(c) for c in yiq)
    chroma = _similarity(i_ref, i_dist, _FSIM_T_I) * _similarity(q_ref, q_dist, _FSIM_T_Q)
    weight = pc_max.sum(dtype=np.float64)
    if weight == 0.0:  # both lumas flat: FSIM's PC-weighted mean is 0/0; the unweighted mean instead
        similarity = _similarity(pc_ref, pc_dist, _FSIM_T_PC) * _similarity(grad[0], grad[1], _FSIM_T_GM)
        return float((similarity * np.abs(chroma) ** _FSIM_LAMBDA).mean(dtype=np.float64))
    score = _similarity(pc_ref, pc_dist, _FSIM_T_PC) * _similarity(grad[0], grad[1], _FSIM_T_GM) * pc_max
    score *= np.abs(chroma) ** _FSIM_LAMBDA
    return float(score.sum(dtype=np.float64) / weight)


# ------------------------------------------------------------------------------------------- IW-SSIM

_IW_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
_IW_WIN = 11
_IW_SIGMA_NSQ = 0.4
_IW_K1, _IW_K2 = 0.01, 0.03
#: piq's limit: (11 - 1) * 2^4 + 1, an 11-tap window at the coarsest of 5 levels.
IW_SSIM_MIN_SIDE = (_IW_WIN - 1) * 2 ** (len(_IW_WEIGHTS) - 1) + 1


def _iw_gaussian() -> np.ndarray:
    coords = np.arange(_IW_WIN, dtype=np.float64) - (_IW_WIN - 1) / 2
    g = np.exp(-(coords**2) / (2 * 1.5**2))
    return g / g.sum()


def _laplacian_step(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """piq's ``_pyr_step``: (low-pass with gain 2, band-pass) of a float32 image.

    cv2.pyrDown is the [1 4 6 4 1] / 16 filter with mirrored borders keeping even rows and columns;
    cv2.pyrUp upsamples by zero insertion and [1 4 6 4 1] / 8, mirroring at the left/top and repeating
    the last sample at the right/bottom, as piq's reflect-padded zero-inserted signal does.
    """
    h, w = img.shape
    low = cv2.pyrDown(img)
    up = cv2.pyrUp(low, dstsize=(2 * low.shape[1], 2 * low.shape[0]))[:h, :w]
    return low * 2, img - up


@functools.lru_cache(maxsize=8)
def _enlarge_taps(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """piq's ``_image_enlarge`` along one axis of length n (output 2n) as two-tap rows.

    piq resizes bilinearly to 4n - 3 samples (half-pixel centres, source positions clamped at 0 as
    PyTorch does), extrapolates one sample linearly at each end (4n - 1) and keeps every second one:
    output r is resized sample 2r - 1, except the first and last, the extrapolated ones. Returns
    (i0, i1, w0, w1) with output r = w0 x[i0] + w1 x[i1] for 1 <= r <= 2n - 2, and the edge rows as
    index/weight arrays of four taps in positions 0 and 2n - 1.
    """
    m = 4 * n - 3
    src = np.maximum((np.arange(m) + 0.5) * (n / m) - 0.5, 0.0)
    i0 = np.floor(src).astype(np.intp)
    i1 = np.minimum(i0 + 1, n - 1)
    frac = src - i0
    out_i0, out_i1 = i0[1 : 4 * n - 4 : 2], i1[1 : 4 * n - 4 : 2]  # resized samples 1, 3, ..., 4n - 5
    out_w1 = frac[1 : 4 * n - 4 : 2]
    first = (np.array([i0[0], i1[0], i0[1], i1[1]]), np.array([2 * (1 - frac[0]), 2 * frac[0], frac[1] - 1, -frac[1]]))
    last = (
        np.array([i0[m - 1], i1[m - 1], i0[m - 2], i1[m - 2]]),
        np.array([2 * (1 - frac[m - 1]), 2 * frac[m - 1], frac[m - 2] - 1, -frac[m - 2]]),
    )
    return out_i0, out_i1, out_w1.astype(np.float32), (first, last)


def _enlarge_rows(img: np.ndarray, rows: int) -> np.ndarray:
    """piq's ``_image_enlarge`` along axis 0 of ``img``, the first ``rows`` output rows."""
    i0, i1, w1, (first, last) = _enlarge_taps(img.shape[0])
    out = np.empty((2 * img.shape[0], *img.shape[1:]), np.float32)
    inner = img[i0]
    out[1:-1] = inner + w1[:, None] * (img[i1] - inner)
    for r, (idx, weights) in ((0, first), (-1, last)):
        out[r] = sum(np.float32(wt) * img[i] for i, wt in zip(idx, weights, strict=True))
    return out[:rows]


def _enlarge(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """piq's ``_image_enlarge(img)`` (twice the size, bilinear, linear extrapolation) cut to ``shape``."""
    return np.ascontiguousarray(_enlarge_rows(_enlarge_rows(img, shape[0]).T, shape[1]).T)


def _information_content(x: np.ndarray, y: np.ndarray, parent: np.ndarray | None) -> np.ndarray:
    """piq's ``_information_content``: weights of band ``y`` (reference) against ``x`` (distorted).

    Returns the map over the positions of the 'valid' 11 x 11 SSIM window (piq's crop). float32, as
    piq computes it.
    """
    h, w = y.shape
    inner = (slice(1, h - 1), slice(1, w - 1))

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, cv2.CV_32F, (3, 3), normalize=True, borderType=cv2.BORDER_CONSTANT)[inner]

    mu_x, mu_y = box(x), box(y)
    sigma_xx = np.maximum(box(x * x) - mu_x * mu_x, 0.0)
    sigma_yy = np.maximum(box(y * y) - mu_y * mu_y, 0.0)
    sigma_xy = box(x * y) - mu_x * mu_y
    g = sigma_xy / (sigma_yy + np.float32(_EPS32))
    vv = sigma_xx - g * sigma_xy
    flat_y, flat_x = sigma_yy < _EPS32, sigma_xx < _EPS32
    vv = np.where(flat_x, np.float32(0.0), np.where(flat_y, sigma_xx, vv))
    g = np.where(flat_x | flat_y, np.float32(0.0), g)

    # the reference's 3 x 3 neighbourhood (and parent) at every inner position, one row per shift
    count = 9 if parent is None else 10
    neigh = np.empty((count, h - 2, w - 2), np.float32)
    for n, (dy, dx) in enumerate((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
        neigh[n] = y[1 - dy : h - 1 - dy, 1 - dx : w - 1 - dx]
    if parent is not None:
        neigh[9] = _enlarge(parent, (h, w))[inner]
    neigh = neigh.reshape(count, -1)
    cov = (neigh @ neigh.T).astype(np.float64) / neigh.shape[1]
    eig, vec = np.linalg.eigh(cov)
    positive = np.where(eig > 0, eig, 0.0)
    total = positive.sum()
    scaled = positive * (eig.sum() / total) if total > 0 else positive
    # y^T C^-1 y / count, C = V diag(scaled) V^T (its pseudo-inverse where piq's inverse fails)
    inv_sqrt = np.divide(1.0, np.sqrt(scaled), out=np.zeros_like(scaled), where=scaled > 0)
    z = (vec * inv_sqrt).T.astype(np.float32) @ neigh
    ss = np.einsum("ij,ij->j", z, z).reshape(h - 2, w - 2) / np.float32(count)

    # sum over the eigenvalues of log2(1 + ((vv + (1 + g^2) s) ss lambda + s vv) / s^2), s = sigma_n^2
    a = (vv + (1.0 + g * g) * np.float32(_IW_SIGMA_NSQ)) * ss / np.float32(_IW_SIGMA_NSQ**2)
    b = 1.0 + vv / np.float32(_IW_SIGMA_NSQ)
    iw = np.zeros_like(a)
    term = np.empty_like(a)
    for lam in scaled.astype(np.float32):
        np.multiply(a, lam, out=term)
        term += b
        iw += np.log2(term, out=term)
    iw[iw < _EPS32] = 0.0
    pad = (_IW_WIN - 1) // 2 - 1
    return iw[pad:-pad, pad:-pad]


def _ssim_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """piq's ``_ssim_per_channel`` (data range 255): the 'valid' SSIM and contrast-structure maps."""
    c1, c2 = (_IW_K1 * 255) ** 2, (_IW_K2 * 255) ** 2
    window = _iw_gaussian().astype(x.dtype)
    r = _IW_WIN // 2
    depth = cv2.CV_64F if x.dtype == np.float64 else cv2.CV_32F

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(a, depth, window, window, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mu_x, mu_y = blur(x), blur(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    sigma_xx = np.maximum(blur(x * x) - mu_xx, 0.0)
    sigma_yy = np.maximum(blur(y * y) - mu_yy, 0.0)
    sigma_xy = blur(x * y) - mu_xy
    cs = (2.0 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
    return (2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs, cs


def iw_ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    """IW-SSIM, piq conventions (luma only, see module docstring); NaN if a side is under 161."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < IW_SSIM_MIN_SIDE:
        why = "an 11-tap window at the coarsest of 5 pyramid levels (piq's limit)"
        return too_small("IW-SSIM", ref.shape, IW_SSIM_MIN_SIDE, why)
    low_y, low_x = _luma(ref), _luma(dist)
    bands_y, bands_x = [], []
    for _ in range(len(_IW_WEIGHTS) - 1):
        low_y, band_y = _laplacian_step(low_y)
        low_x, band_x = _laplacian_step(low_x)
        bands_y.append(band_y)
        bands_x.append(band_x)
    values = []
    for level in range(len(_IW_WEIGHTS) - 1):
        _, cs = _ssim_maps(bands_x[level], bands_y[level])
        parent = bands_y[level + 1] if level < len(_IW_WEIGHTS) - 2 else None
        weights = _information_content(bands_x[level], bands_y[level], parent)
        total = weights.sum()
        if total > 0:
            values.append(float((cs * weights).sum(dtype=np.float64) / total))
        else:  # no information content anywhere (flat band): unweighted
            values.append(float(cs.mean(dtype=np.float64)))
    ssim_map, _ = _ssim_maps(low_x.astype(np.float64), low_y.astype(np.float64))
    values.append(float(ssim_map.mean()))
    weights = _IW_WEIGHTS / _IW_WEIGHTS.sum()
    return float(np.prod(np.abs(values) ** weights))


# ---------------------------------------------------------------------------------------------- NLPD

_NLPD_LEVELS = 6
_NLPD_SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
#: Nonzero taps (row offset, column offset, weight) of the 5 x 5 divisive normalisation filters.
_NLPD_DN_TAPS = (
    ((-1, 0, 0.1011), (0, -1, 0.1493), (0, 1, 0.1460), (0, 2, 0.0072), (1, 0, 0.1015)),
    ((-1, 0, 0.0757), (0, -1, 0.1986), (0, 1, 0.1846), (1, 0, 0.0837)),
    ((-1, 0, 0.0477), (0, -1, 0.2138), (0, 1, 0.2243), (1, 0, 0.0467)),
    ((0, -1, 0.2503), (0, 1, 0.2616)),
    ((0, -1, 0.2598), (0, 1, 0.2552)),
    ((0, -1, 0.2215), (0, 1, 0.0717)),
)
#: plenoptic's limit: mirrored padding by 2 before the 5th downsampling needs 3 samples.
NLPD_MIN_SIDE = 2**4 * 2 + 1


def _nlpd_up(low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """plenoptic's ``upsample_blur``: cv2.pyrUp with the last sample mirrored (not repeated)."""
    h, w = low.shape
    ext = np.empty((h + 1, w + 1), low.dtype)
    ext[:h, :w] = low
    ext[h, :w] = low[h - 2]
    ext[:, w] = ext[:, w - 2]
    return cv2.pyrUp(ext, dstsize=(2 * w + 2, 2 * h + 2))[: shape[0], : shape[1]]


def _nlpd_pyramid(img: np.ndarray) -> list[np.ndarray]:
    """plenoptic's ``normalized_laplacian_pyramid`` of a float32 image in [0, 1]."""
    levels = []
    for _ in range(_NLPD_LEVELS - 1):
        low = cv2.pyrDown(img)
        levels.append(img - _nlpd_up(low, img.shape))
        img = low
    levels.append(img)
    out = []
    for band, sigma, taps in zip(levels, _NLPD_SIGMAS, _NLPD_DN_TAPS, strict=True):
        h, w = band.shape
        padded = cv2.copyMakeBorder(np.abs(band), 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)
        pooled = np.full((h, w), sigma, np.float32)
        for dy, dx, weight in taps:  # correlation (F.conv2d), zero padding 2
            pooled += np.float32(weight) * padded[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]
        out.append(band / pooled)
    return out


def nlpd(ref: np.ndarray, dist: np.ndarray) -> float:
    """NLPD of luma in [0, 1], plenoptic conventions (see module docstring); NaN if a side is under 33."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < NLPD_MIN_SIDE:
        why = "mirrored padding of the coarsest of 6 pyramid levels (plenoptic's limit)"
        return too_small("NLPD", ref.shape, NLPD_MIN_SIDE, why)
    pyr_ref = _nlpd_pyramid(_luma(ref, 1 / 255))
    pyr_dist = _nlpd_pyramid(_luma(dist, 1 / 255))
    rms = [math.sqrt(cv2.norm(a, b, cv2.NORM_L2SQR) / a.size) for a, b in zip(pyr_ref, pyr_dist, strict=True)]
    return float(np.mean(rms))


# ------------------------------------------------------------------------------------------ registry


@register_metric
class Fsim(Metric):
    name = "fsim"
    label = "FSIMc"
    axis_label = "FSIMc"
    convention = (
        "piq.fsim(dist, ref, data_range=1.0, chromatic=True) conventions: round(min side / 256) average pooling, "
        "YIQ, phase congruency of Y (4 log-Gabor scales from wavelength 6, 4 orientations, FFT), Scharr gradient, "
        "T 0.85/160/200/200, lambda 0.03; NaN if a side < 48"
    )
    packages = ("opencv-python-headless", "numpy", "torch")

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return fsim(ref, dist)


@register_metric
class IwSsim(Metric):
    name = "iw_ssim"
    label = "IW-SSIM"
    axis_label = "IW-SSIM (luma)"
    convention = (
        "piq.information_weighted_ssim(dist, ref, data_range=1.0) conventions: luma 0.299 R + 0.587 G + 0.114 B "
        "(chroma ignored), 5-level Laplacian pyramid, 11-tap Gaussian sigma 1.5, information content weights "
        "(3x3 + parent, sigma_n^2 0.4), MS-SSIM scale weights; NaN if a side < 161"
    )
    packages = ("opencv-python-headless", "numpy")

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return iw_ssim(ref, dist)


@register_metric
class Nlpd(Metric):
    name = "nlpd"
    label = "NLPD"
    axis_label = "NLPD (luma)"
    higher_is_better = False
    convention = (
        "plenoptic.metric.nlpd(ref, dist, epsilon=0) conventions (Laparra et al. 2016 parameters): luma "
        "(0.299 R + 0.587 G + 0.114 B) / 255, 6-level Laplacian pyramid, divisive normalisation, mean over "
        "levels of the RMS difference; NaN if a side < 33"
    )
    packages = ("opencv-python-headless", "numpy")

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return nlpd(ref, dist)
