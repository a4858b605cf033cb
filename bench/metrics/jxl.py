"""The JPEG XL project's metrics on RGB uint8 images: SSIMULACRA 2 and Butteraugli (max and 3-norm).

Inputs are ``H x W x 3`` ``uint8`` RGB arrays with values in [0, 255], taken as sRGB; the first
argument is the reference, the second the decoded image. Checked in ``tests/metrics/test_jxl.py``.

* ``ssimulacra2``: SSIMULACRA 2.1 (Jon Sneyers, Cloudinary; the April 2023 version) exactly as libjxl
  defines it (``tools/ssimulacra2.cc``, the ``ssimulacra2`` program of libjxl 0.8 and later), computed
  here in float64 with OpenCV: sRGB values v / 255 linearised with ``((v + 0.055) / 1.055)^2.4`` above
  0.04045 and ``v / 12.92`` below; XYB of libjxl (opsin absorbance matrix and bias, cube root) rescaled
  to X' = 14 X + 0.42, Y' = Y + 0.01, B' = B - Y + 0.55; at each of up to 6 scales (the image, then 2 x 2
  means of the linear RGB, edge pixels repeated for odd sizes) the means, variances and covariance from
  libjxl's Gaussian blur (the recursive filter of Charalampidis 2016 for sigma 1.5, which is the 9-tap
  kernel of :func:`recursive_gaussian_kernel`, zero outside the image), the maps 1 - SSIM' (SSIM without the luminance denominator,
  C2 = 0.0009), "ringing" and "blurring" (the positive and negative parts of
  (1 + |dist - mu_dist|) / (1 + |ref - mu_ref|) - 1), their 1-norm and 4-norm per channel, 108 weights
  and libjxl's final polynomial: ``100 - 10 x^0.6276`` (100 for identical images; higher is better; it
  can be negative). A scale is computed while the previous one has both sides of at least 8 pixels
  (libjxl's loop), so a 128 x 192 image has all 6; images with a side under 8 pixels (libjxl's tool
  refuses them) give NaN with a warning. libjxl computes in float32, and its recursive blur accumulates
  rounding errors along rows and columns, so its program's values depend on the SIMD code it runs: on
  the 24 Kodak images at JPEG qualities 10 to 90, libjxl 0.11.2's ``ssimulacra2`` built for AVX2 and
  the same with its blur built for SSE2 differ by up to 1.36 (mean 0.08); ours is within 0.99 of the
  AVX2 build (mean 0.05), higher on smooth images at high quality, and within 2.2e-3 on crops of up to
  13 pixels a side. In float64, that recursion is exactly the 9-tap kernel used here. (The ``ssimulacra2``
  package on PyPI, 0.3.0, is another metric at that precision: it blurs with scipy's Gaussian,
  reflecting at the left and right borders, and stops one scale earlier on small images: 0.3 to 1.9
  from libjxl's program on the Kodak images at JPEG quality 50.)
* ``butteraugli`` and ``butteraugli_3norm``: libjxl's Butteraugli as its ``butteraugli_main`` program
  computes it (Debian's ``libjxl-devtools``), one program call per image pair giving both: the pair is
  written as 8-bit PNG files without colour information, which the program reads as sRGB and converts to
  linear sRGB, for a display of 80 nits (its default for SDR input). ``butteraugli`` is the maximum of
  the distance map (the Butteraugli distance; about 1 is a just-noticeable difference), printed with 10
  decimals; ``butteraugli_3norm`` is the program's "3-norm" (``--pnorm 3``, 6 decimals), libjxl's
  ``ComputeDistanceP``: the mean of the 3-, 6- and 12-norms of the distance map,
  ``((mean d^3)^(1/3) + (mean d^6)^(1/6) + (mean d^12)^(1/12)) / 3``. Lower is better, 0 for identical
  images. The program gives 0 for any image with a side under 8 pixels; here that is NaN with a warning.
  The program is looked up as ``$BENCH_BUTTERAUGLI_MAIN`` or on ``PATH`` (as command-line codecs are);
  its path, its Debian package and version and its sha256 are recorded with the values.

Undefined values are NaN with a ``RuntimeWarning`` that names the reason, never an exception; a
program that fails raises :class:`ButteraugliError` with one line naming it and what went wrong. The
functions are registered as the metrics ``ssimulacra2``, ``butteraugli`` and ``butteraugli_3norm`` at the
bottom of this module (see :mod:`bench.api.metric`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import subprocess
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.api.external import find_program
from bench.api.files import sha256_file
from bench.api.metric import Metric, check_pair, register_metric, too_small
from bench.api.processes import one_line, run_program

__all__ = [
    "ssimulacra2",
    "butteraugli",
    "SSIMULACRA2_MIN_SIDE",
    "BUTTERAUGLI_MIN_SIDE",
    "BUTTERAUGLI_PROGRAM",
    "BUTTERAUGLI_PACKAGE",
    "ButteraugliError",
    "butteraugli_program",
    "butteraugli_version",
    "Ssimulacra2",
    "Butteraugli",
    "Butteraugli3Norm",
]

#: Both sides must be at least this (libjxl's ``ssimulacra2`` refuses smaller images).
SSIMULACRA2_MIN_SIDE = 8
#: Both sides must be at least this (``butteraugli_main`` gives 0 for smaller images).
BUTTERAUGLI_MIN_SIDE = 8


# ------------------------------------------------------------------------------------------ SSIMULACRA 2

_S2_SCALES = 6
_S2_C2 = 0.0009
# libjxl's opsin absorbance matrix (rows: the L, M and S mixes of linear R, G and B) and bias
_OPSIN = np.array(
    [
        [0.30, 1.0 - 0.078 - 0.30, 0.078],
        [0.23, 1.0 - 0.078 - 0.23, 0.078],
        [0.24342268924547819, 0.20476744424496821, 1.0 - 0.24342268924547819 - 0.20476744424496821],
    ]
)
_OPSIN_BIAS = 0.0037930732552754493
_CBRT_BIAS = float(np.cbrt(_OPSIN_BIAS))
# X', Y', B' from the cube roots c of the mixes (X = (m0 - m1) / 2, Y = (m0 + m1) / 2, B = m2, m = c - cbrt(bias)):
# X' = 7 (c0 - c1) + 0.42, Y' = (c0 + c1) / 2 - cbrt(bias) + 0.01, B' = c2 - (c0 + c1) / 2 + 0.55
_XYB_FROM_CBRT = np.array([[7.0, -7.0, 0.0], [0.5, 0.5, 0.0], [-0.5, -0.5, 1.0]])
_XYB_OFFSET = (0.42, 0.01 - _CBRT_BIAS, 0.55)

#: The 108 weights of libjxl's ``tools/ssimulacra2.cc`` (BSD-3-Clause, the JPEG XL Project Authors), in its
#: order: per channel X, Y, B, per scale, per norm (1, 4): SSIM', ringing, blurring.
_S2_WEIGHTS = (
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379, 0.0,
    1.1041726426657346, 0.00066284834129271, 0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0,
    1.8422455520539298, 11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653, 0.0,
    1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072, 0.9677937080626833, 0.0,
    0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053, 0.0004550992113792063, 0.0, 0.0,
    0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0, 0.0,
    34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0008680556573291698, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0004179171803251336, 0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0, 8.826982764996862,
    23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493,
    171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
)  # fmt: skip


def recursive_gaussian_kernel(sigma: float = 1.5) -> np.ndarray:
    """The FIR kernel that libjxl's recursive Gaussian (``CreateRecursiveGaussian``) applies.

    Charalampidis 2016 approximates a Gaussian by three truncated cosines of frequencies k pi / (2N),
    k = 1, 3, 5, N = round(3.2795 sigma + 0.2546), each run as a second-order recursion fed with
    ``x[n - N - 1] + x[n + N - 1]``; the cosines vanish at the ends, so the filter is exactly the
    symmetric kernel ``sum_k n2_k sin(w_k (N - o)) / sin(w_k)`` of the offsets |o| <= N - 1 (9 taps for
    sigma 1.5). Coefficients computed in float64 from the paper's equations as libjxl computes them.
    """
    radius = float(round(3.2795 * sigma + 0.2546))
    omega = np.array([1.0, 3.0, 5.0]) * math.pi / (2.0 * radius)
    p = np.array([1.0, -1.0, 1.0]) / np.tan(0.5 * omega)  # (37)
    r = np.array([1.0, -1.0, 1.0]) * p * p / np.sin(omega)  # (44)
    rho = np.exp(-0.5 * sigma * sigma * omega * omega) / radius  # (50)
    d13 = p[0] * r[1] - r[0] * p[1]
    d35 = p[1] * r[2] - r[1] * p[2]
    d51 = p[2] * r[0] - r[2] * p[0]
    zeta15, zeta35 = d35 / d13, d51 / d13  # (52)
    matrix = np.array([p, r, [zeta15, zeta35, 1.0]])  # (56)
    gamma = np.array([1.0, radius * radius - sigma * sigma, zeta15 * rho[0] + zeta35 * rho[1] + rho[2]])  # (55)
    beta = np.linalg.solve(matrix, gamma)  # (53)
    n2 = -beta * np.cos(omega * (radius + 1.0))  # (33)
    offsets = np.arange(-radius + 1, radius)
    return (n2[:, None] * np.sin(omega[:, None] * (radius - offsets)) / np.sin(omega)[:, None]).sum(axis=0)


_S2_KERNEL = recursive_gaussian_kernel(1.5)


def _srgb_to_linear_table() -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


_S2_LINEAR = _srgb_to_linear_table()


def _positive_xyb(linear: np.ndarray) -> np.ndarray:
    """libjxl's XYB of linear RGB (H x W x 3 float64), rescaled as SSIMULACRA 2 does (X', Y', B')."""
    mixed = cv2.transform(linear, _OPSIN)
    mixed += _OPSIN_BIAS
    np.maximum(mixed, 0.0, out=mixed)
    roots = np.cbrt(mixed, out=mixed)
    xyb = cv2.transform(roots, _XYB_FROM_CBRT)
    xyb += _XYB_OFFSET
    return xyb


def _downsample(linear: np.ndarray) -> np.ndarray:
    """2 x 2 means, the last row and column repeated for odd sizes (libjxl's ``Downsample``)."""
    h, w = linear.shape[:2]
    if h % 2 or w % 2:
        linear = cv2.copyMakeBorder(linear, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    h2, w2 = linear.shape[0] // 2, linear.shape[1] // 2
    return linear.reshape(h2, 2, w2, 2, 3).mean(axis=(1, 3))


def _blur(image: np.ndarray) -> np.ndarray:
    return cv2.sepFilter2D(image, cv2.CV_64F, _S2_KERNEL, _S2_KERNEL, borderType=cv2.BORDER_CONSTANT)


def _norms(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel of H x W x 3 non-negative values: the mean and the 4-norm (mean of the 4th powers)^(1/4)."""
    squared = values * values
    return values.mean(axis=(0, 1)), np.sqrt(np.sqrt((squared * squared).mean(axis=(0, 1))))


def _scale_terms(img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
    """The 3 x 6 terms of one scale: per channel, SSIM' (1-norm, 4-norm), ringing (1, 4), blurring (1, 4)."""
    mu1, mu2 = _blur(img1), _blur(img2)
    s11, s22, s12 = _blur(img1 * img1), _blur(img2 * img2), _blur(img1 * img2)
    diff = mu1 - mu2
    num_m = 1.0 - diff * diff
    num_s = 2.0 * (s12 - mu1 * mu2) + _S2_C2
    den_s = (s11 - mu1 * mu1) + (s22 - mu2 * mu2) + _S2_C2
    ssim_err = np.maximum(1.0 - num_m * num_s / den_s, 0.0)
    edge = (1.0 + np.abs(img2 - mu2)) / (1.0 + np.abs(img1 - mu1)) - 1.0
    terms = [_norms(ssim_err), _norms(np.maximum(edge, 0.0)), _norms(np.maximum(-edge, 0.0))]
    return np.stack([terms[0][0], terms[0][1], terms[1][0], terms[1][1], terms[2][0], terms[2][1]], axis=1)


def ssimulacra2(ref: np.ndarray, dist: np.ndarray) -> float:
    """SSIMULACRA 2.1 as libjxl computes it (see module docstring); NaN if a side is under 8 pixels."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < SSIMULACRA2_MIN_SIDE:
        return too_small("SSIMULACRA 2", ref.shape, SSIMULACRA2_MIN_SIDE, "libjxl's ssimulacra2 refuses them")
    lin1, lin2 = cv2.LUT(ref, _S2_LINEAR), cv2.LUT(dist, _S2_LINEAR)
    scales = []
    for scale in range(_S2_SCALES):
        if min(lin1.shape[:2]) < 8:  # libjxl tests the size of the previous scale
            break
        if scale:
            lin1, lin2 = _downsample(lin1), _downsample(lin2)
        scales.append(_scale_terms(_positive_xyb(lin1), _positive_xyb(lin2)))
    total, i = 0.0, 0
    for c in range(3):  # libjxl's order of the weights (with fewer than 6 scales, its indices shift too)
        for terms in scales:
            for n in range(2):
                for term in (terms[c, n], terms[c, 2 + n], terms[c, 4 + n]):
                    total += _S2_WEIGHTS[i] * abs(float(term))
                    i += 1
    x = total * 0.9562382616834844
    x = 2.326765642916932 * x - 0.020884521182843837 * x * x + 6.248496625763138e-05 * x * x * x
    return 100.0 - 10.0 * x**0.6276336467831387 if x > 0 else 100.0


# ------------------------------------------------------------------------------------------- Butteraugli

BUTTERAUGLI_PROGRAM = "butteraugli_main"
#: The Debian package that installs it.
BUTTERAUGLI_PACKAGE = "libjxl-devtools"
BUTTERAUGLI_PNORM = 3
#: Seconds one call may take (a full Kodak image takes about 0.5 s).
BUTTERAUGLI_TIMEOUT_S = 600.0


class ButteraugliError(RuntimeError):
    """``butteraugli_main`` is missing, failed, timed out or printed no scores."""


def butteraugli_program() -> str | None:
    """Path of ``butteraugli_main``: ``$BENCH_BUTTERAUGLI_MAIN`` or ``PATH``; ``None`` when not found."""
    return find_program(BUTTERAUGLI_PROGRAM)


@functools.lru_cache(maxsize=4)
def _program_sha256(path: str) -> str:
    return sha256_file(path)


@functools.lru_cache(maxsize=4)
def _program_version(path: str) -> str:
    """The Debian package that installed the program at ``path`` and its version (the program prints none)."""
    try:
        owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(path)], capture_output=True, text=True,
                               timeout=30, check=False)  # fmt: skip
        package = owner.stdout.split(":", 1)[0].strip() if owner.returncode == 0 else ""
        if package:
            query = ["dpkg-query", "-W", "-f", "${Version}", package]
            found = subprocess.run(query, capture_output=True, text=True, timeout=30, check=False)
            if found.returncode == 0 and found.stdout.strip():
                return f"{package} {found.stdout.strip()}"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown (not installed by a Debian package)"


def butteraugli_version() -> str:
    """The Debian package and version of the ``butteraugli_main`` found here (the program prints none)."""
    path = butteraugli_program()
    return _program_version(path) if path else "not found"


def _butteraugli_unavailable() -> str | None:
    if butteraugli_program() is not None:
        return None
    return (
        f"{BUTTERAUGLI_PROGRAM} not found on PATH (or BENCH_BUTTERAUGLI_MAIN); it is in Debian's "
        f"{BUTTERAUGLI_PACKAGE} package (apt-get install {BUTTERAUGLI_PACKAGE})"
    )


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_MAX_LINE = re.compile(rf"^\s*({_NUMBER})\s*$", re.IGNORECASE)
_PNORM_LINE = re.compile(rf"^\s*{BUTTERAUGLI_PNORM}-norm\s*:\s*({_NUMBER})\s*$", re.IGNORECASE)


def _parse_butteraugli(stdout: str, stderr: str) -> tuple[float, float]:
    """(max, 3-norm) from ``butteraugli_main``'s output: a line holding only the max, then ``3-norm: v``."""
    maxima = [float(m.group(1)) for m in map(_MAX_LINE.match, stdout.splitlines()) if m]
    norms = [float(m.group(1)) for m in map(_PNORM_LINE.match, stdout.splitlines()) if m]
    if len(maxima) != 1 or len(norms) != 1:
        raise ButteraugliError(
            f"{BUTTERAUGLI_PROGRAM} printed no scores (expected a line with the distance and one "
            f"'{BUTTERAUGLI_PNORM}-norm: value'): {one_line(stdout + chr(10) + stderr)}"
        )
    return maxima[0], norms[0]


def _run_butteraugli(path: str, ref: np.ndarray, dist: np.ndarray, timeout_s: float) -> tuple[float, float]:
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="codec-bench-butteraugli-") as tmp:
        files = [Path(tmp, "reference.png"), Path(tmp, "distorted.png")]
        for file, image in zip(files, (ref, dist), strict=True):
            Image.fromarray(image).save(file, format="PNG", compress_level=0)
        args = [path, str(files[0]), str(files[1]), "--pnorm", str(BUTTERAUGLI_PNORM)]
        proc = run_program(args, name=BUTTERAUGLI_PROGRAM, timeout_s=timeout_s, error=ButteraugliError)
    if proc.returncode != 0:
        raise ButteraugliError(
            f"{BUTTERAUGLI_PROGRAM} exited with status {proc.returncode}: {one_line(proc.stderr or proc.stdout)}"
        )
    return _parse_butteraugli(proc.stdout, proc.stderr)


#: (max, 3-norm) of the last pairs, so that the two metrics cost one program call
_CACHE: OrderedDict[tuple[Any, ...], tuple[float, float]] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(image, digest_size=16).digest()


def butteraugli(ref: np.ndarray, dist: np.ndarray, *, timeout_s: float = BUTTERAUGLI_TIMEOUT_S) -> tuple[float, float]:
    """(max, 3-norm) Butteraugli distances of ``dist`` against ``ref`` from one ``butteraugli_main`` call
    (see module docstring); both NaN, with a warning, if a side is under 8 pixels. The values of the last
    few pairs are kept, keyed by the pixels and the program, so the two metrics of a pair cost one call."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < BUTTERAUGLI_MIN_SIDE:
        why = f"{BUTTERAUGLI_PROGRAM} gives 0 for smaller images"
        nan = too_small("Butteraugli", ref.shape, BUTTERAUGLI_MIN_SIDE, why)
        return nan, nan
    path = butteraugli_program()
    if path is None:
        raise ButteraugliError(_butteraugli_unavailable() or f"{BUTTERAUGLI_PROGRAM} not found")
    ref, dist = np.ascontiguousarray(ref), np.ascontiguousarray(dist)
    key = (path, _program_sha256(path), ref.shape, _digest(ref), _digest(dist))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    scores = _run_butteraugli(path, ref, dist, timeout_s)
    with _CACHE_LOCK:
        _CACHE[key] = scores
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return scores


# ----------------------------------------------------------------------------------------------- metrics


@register_metric
class Ssimulacra2(Metric):
    name = "ssimulacra2"
    label = "SSIMULACRA 2"
    axis_label = "SSIMULACRA 2 (100 = identical)"
    convention = (
        "SSIMULACRA 2.1 as libjxl's tools/ssimulacra2.cc (libjxl >= 0.8), float64: sRGB linearised, libjxl XYB "
        "rescaled (X' = 14 X + 0.42, Y' = Y + 0.01, B' = B - Y + 0.55), 6 scales of 2x2 means in linear RGB, "
        "libjxl's recursive Gaussian sigma 1.5 (9 taps, zero borders), 1 - SSIM' (C2 0.0009), ringing and "
        "blurring maps, 1- and 4-norms, 108 weights; 100 if identical, can be negative; NaN if a side < 8"
    )
    packages = ("opencv-python-headless", "numpy")

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return ssimulacra2(ref, dist)


class _ButteraugliMetric(Metric):
    """Both Butteraugli metrics: one ``butteraugli_main`` call per pair gives them (see :func:`butteraugli`)."""

    higher_is_better = False
    packages = ("pillow",)  # writes the PNG files the program reads
    #: which of the program's two values: 0 the max, 1 the 3-norm
    _index = 0

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _butteraugli_unavailable()

    def versions(self) -> dict[str, str]:
        return {BUTTERAUGLI_PROGRAM: butteraugli_version(), **super().versions()}

    def describe(self) -> dict[str, Any]:
        """As :meth:`Metric.describe`, and the program: its path, version and sha256."""
        path = butteraugli_program()
        program = {"name": BUTTERAUGLI_PROGRAM, "path": path, "version": butteraugli_version(),
                   "sha256": _program_sha256(path) if path else None}  # fmt: skip
        return {**super().describe(), "program": program}

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return butteraugli(ref, dist)[self._index]


_BUTTERAUGLI_INPUT = (
    "libjxl butteraugli_main (Debian libjxl-devtools) on 8-bit PNGs read as sRGB, linear sRGB, 80-nit display"
)


@register_metric
class Butteraugli(_ButteraugliMetric):
    name = "butteraugli"
    label = "Butteraugli"
    axis_label = "Butteraugli max distance (lower is better)"
    convention = (
        f"{_BUTTERAUGLI_INPUT}: the maximum of the distance map (its first line, 10 decimals); 0 if identical; "
        "NaN if a side < 8"
    )
    _index = 0


@register_metric
class Butteraugli3Norm(_ButteraugliMetric):
    name = "butteraugli_3norm"
    label = "Butteraugli 3-norm"
    axis_label = "Butteraugli 3-norm (lower is better)"
    convention = (
        f"{_BUTTERAUGLI_INPUT}: its '3-norm' (--pnorm 3, 6 decimals), libjxl's ComputeDistanceP: "
        "((mean d^3)^(1/3) + (mean d^6)^(1/6) + (mean d^12)^(1/12)) / 3 of the distance map d; "
        "0 if identical; NaN if a side < 8"
    )
    _index = 1
