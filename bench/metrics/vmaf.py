"""VMAF (Netflix's libvmaf) and PSNR-HVS / PSNR-HVS-M (the ``psnr_hvsm`` package) on RGB uint8 images.

Inputs are ``H x W x 3`` ``uint8`` RGB arrays with values in [0, 255]; the first argument is the
reference, the second the decoded image. Both metrics are computed by their maintained
implementations, installed from PyPI; neither is re-implemented here. Checked in
``tests/metrics/test_vmaf.py``.

* ``vmaf``: VMAF with the model ``vmaf_v0.6.1`` (libvmaf's default model, trained for 1080p video on
  an HDTV viewed from three times its height), computed by libvmaf through the ``libvmaf`` filter of
  an ffmpeg built with it, on the image as one frame (so the motion feature is 0, as for any still
  image) at its own size (not rescaled to 1080p), as JPEG AI's quality assessment framework computes
  it on still images. The RGB values are converted here to 8-bit YCbCr 4:4:4, BT.709 matrix, full
  range (H.273's equations; the matrix and range of JPEG AI's framework):
  ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` (``psnr_y``'s luma), ``Cb = 128 + (B - Y) / 1.8556``,
  ``Cr = 128 + (R - Y) / 1.5748``, each rounded half up in exact integer arithmetic (10000 Y is an
  integer; converters that compute in floating point, as zimg and swscale do, round some of the exact
  halves the other way), written as raw ``yuv444p`` frames that ffmpeg hands to libvmaf unchanged.
  VMAF v0.6.1 reads the luma plane only (its VIF, ADM and motion features), so chroma never changes
  the value. 0 to 100, higher is better; identical images give about 97.43 (97.42 to 97.43), not
  100: the model's output without distortion and without motion. libvmaf crashes on images with a
  side of 16 pixels or less and gives unreliable values up to 32 (a 24 x 24 crop at JPEG quality 30
  scores 100; Netflix/vmaf issues 1035 and 1098): images with a side under 33 pixels give NaN with a
  warning. One single-threaded ffmpeg call per image pair (about 0.12 s for a Kodak image, files
  included). The ffmpeg is ``$BENCH_FFMPEG`` when set, else the one the ``imageio-ffmpeg`` package
  ships (a static build with libvmaf), else ``ffmpeg`` on ``PATH``: the first of them with the
  ``libvmaf`` filter. Debian has no libvmaf (neither Debian 12 nor 13 packages it, and their ffmpeg
  is built without it). The ffmpeg's path, sha256 and version, the libvmaf version it reports and the
  model are recorded with the values.
* ``psnr_hvs_m`` and ``psnr_hvs``: PSNR-HVS-M (Ponomarenko et al. 2007: DCT-domain error of 8 x 8
  blocks weighted by a contrast sensitivity function, less what between-coefficient contrast masking
  hides) and PSNR-HVS (Egiazarian et al. 2006: the same without masking), in dB, exactly as
  ``psnr_hvsm.numpy.psnr_hvs_hvsm`` (``psnr_hvsm`` 0.3, checked by its author against TID2013) computes
  them on luma: the package's own conversion of 8-bit RGB, BT.601 studio range rounded to 8 bits,
  ``Y = round(16 + (65.481 R + 128.553 G + 24.966 B) / 255)`` (as MATLAB's ``rgb2ycbcr``, with which
  TID2008 and TID2013 computed them), divided by 255. The blocks are the whole 8 x 8 blocks from the
  top-left corner: the last ``H mod 8`` rows and ``W mod 8`` columns are left out, as the authors'
  MATLAB code does (the package needs multiples of 8; JPEG AI's framework pads by repeating edge
  pixels instead). Higher is better; ``inf`` when the (masked) error is 0, as identical images give
  (the package says 100.0, the MATLAB code 100000); NaN with a warning for a side under 8 pixels. One
  package call gives both (they share the DCTs); the last pairs are kept so that the two metrics cost
  one. The package is GPL-3.0 (the wheels link FFTW), an optional dependency: without it both metrics
  are unavailable.

Undefined values are NaN with a ``RuntimeWarning`` that names the reason, never an exception; an
ffmpeg that fails raises :class:`VmafError` with one line naming it and what went wrong. The metrics
are registered as ``vmaf``, ``psnr_hvs_m`` and ``psnr_hvs`` at the bottom of this module (see
:mod:`bench.api.metric`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from bench.api.external import find_program
from bench.api.files import sha256_file
from bench.api.metric import Metric, check_pair, register_metric, too_small
from bench.api.processes import one_line, run_program

__all__ = [
    "vmaf",
    "psnr_hvs_hvsm",
    "bt709_yuv444",
    "bt601_luma",
    "VMAF_MODEL",
    "VMAF_MIN_SIDE",
    "PSNR_HVS_MIN_SIDE",
    "VmafError",
    "vmaf_program",
    "Vmaf",
    "PsnrHvsM",
    "PsnrHvs",
]

# -------------------------------------------------------------------------------------------------- VMAF

#: libvmaf's built-in model (the same as its ``model/vmaf_v0.6.1.json``)
VMAF_MODEL = "vmaf_v0.6.1"
#: Both sides must be at least this: libvmaf crashes at 16 pixels and less, and is unreliable up to 32.
VMAF_MIN_SIDE = 33
#: Seconds one ffmpeg call may take (a Kodak image takes about 0.12 s).
VMAF_TIMEOUT_S = 600.0
FFMPEG_PROGRAM = "ffmpeg"
#: The Python package whose ffmpeg has libvmaf.
FFMPEG_PACKAGE = "imageio-ffmpeg"
_LOG = "vmaf.json"
_FILES = ("distorted.yuv", "reference.yuv")  # libvmaf's first input is the distorted one

# BT.709 luma weights times 10000: 10000 Y is an integer, so the conversion is exact
_KR, _KG, _KB = 2126, 7152, 722
_SCALE = 10000


class VmafError(RuntimeError):
    """No ffmpeg with libvmaf, or ffmpeg failed, timed out or wrote no score."""


def bt709_yuv444(image: np.ndarray) -> np.ndarray:
    """The ``3 x H x W`` ``uint8`` planes Y, Cb, Cr of an RGB image, the layout of a raw ``yuv444p`` frame:
    BT.709, full range, 4:4:4, each value rounded half up (H.273's ``Round``) in exact integer arithmetic:
    ``Y = round(0.2126 R + 0.7152 G + 0.0722 B)``, ``Cb = round(128 + (B - Y') / 1.8556)``,
    ``Cr = round(128 + (R - Y') / 1.5748)`` with the unrounded ``Y'``, clipped to [0, 255]."""
    rgb = image.astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = _KR * r + _KG * g + _KB * b  # 10000 Y'
    planes = np.empty((3, *image.shape[:2]), np.int32)
    planes[0] = (luma + _SCALE // 2) // _SCALE
    # 128 + (10000 B - 10000 Y') / 18556, rounded half up: 128 + floor((2 d + 18556) / 37112); Cr alike
    for plane, channel, denominator in ((1, b, 2 * (_SCALE - _KB)), (2, r, 2 * (_SCALE - _KR))):
        planes[plane] = 128 + (2 * (_SCALE * channel - luma) + denominator) // (2 * denominator)
    return np.ascontiguousarray(np.clip(planes, 0, 255).astype(np.uint8))


def _run(args: list[str], timeout_s: float, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg (``args[0]``); :class:`VmafError` if it cannot start or runs past ``timeout_s``."""
    return run_program(args, name=FFMPEG_PROGRAM, timeout_s=timeout_s, error=VmafError, cwd=cwd)


def _failed(proc: subprocess.CompletedProcess) -> VmafError:
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return VmafError(f"{FFMPEG_PROGRAM} was killed by {name}: {one_line(proc.stderr or proc.stdout)}")
    return VmafError(f"{FFMPEG_PROGRAM} exited with status {proc.returncode}: {one_line(proc.stderr or proc.stdout)}")


@functools.lru_cache(maxsize=8)
def _has_libvmaf(path: str) -> bool:
    """Whether the ffmpeg at ``path`` lists the ``libvmaf`` filter."""
    try:
        proc = _run([path, "-hide_banner", "-filters"], 60.0)
    except VmafError:
        return False
    return proc.returncode == 0 and re.search(r"^\s*\S+\s+libvmaf\s", proc.stdout, re.MULTILINE) is not None


def _packaged_ffmpeg() -> str | None:
    """The ffmpeg of the ``imageio-ffmpeg`` package (``$IMAGEIO_FFMPEG_EXE`` if set), if installed."""
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        return None
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None
    return shutil.which(exe)


def _candidates() -> list[str]:
    """The ffmpeg programs to try, in order: ``$BENCH_FFMPEG`` alone when set, else the packaged one, then PATH's."""
    if os.environ.get("BENCH_FFMPEG"):
        found = find_program(FFMPEG_PROGRAM)
        return [found] if found else []
    found = [path for path in (_packaged_ffmpeg(), shutil.which(FFMPEG_PROGRAM)) if path]
    return list(dict.fromkeys(os.path.realpath(path) for path in found))


def vmaf_program() -> str | None:
    """Path of the ffmpeg that computes ``vmaf`` (see module docstring); ``None`` when none has libvmaf."""
    return next((path for path in _candidates() if _has_libvmaf(path)), None)


def _vmaf_unavailable() -> str | None:
    if vmaf_program() is not None:
        return None
    if os.environ.get("BENCH_FFMPEG"):
        tried = f"BENCH_FFMPEG={os.environ['BENCH_FFMPEG']}"
        what = "has no libvmaf filter" if find_program(FFMPEG_PROGRAM) else "is not an executable file"
        return f"{tried} {what} (an ffmpeg configured with --enable-libvmaf is needed)"
    found = ", ".join(_candidates())
    why = f"the ffmpeg found ({found}) has no libvmaf filter" if found else "no ffmpeg found"
    return (
        f"{why}: pip install {FFMPEG_PACKAGE} (its ffmpeg is built with libvmaf), or set BENCH_FFMPEG to an "
        "ffmpeg configured with --enable-libvmaf; Debian's ffmpeg package (Debian 12 and 13) is built without "
        "libvmaf, and Debian has no libvmaf package"
    )


def _vmaf_args(path: str, width: int, height: int, log: str = _LOG) -> list[str]:
    args = [path, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            "-threads", "1", "-filter_threads", "1", "-filter_complex_threads", "1"]  # fmt: skip
    for name in _FILES:
        args += ["-f", "rawvideo", "-pixel_format", "yuv444p", "-video_size", f"{width}x{height}", "-i", name]
    graph = f"[0:v][1:v]libvmaf=model=version={VMAF_MODEL}:n_threads=1:log_fmt=json:log_path={log}"
    return [*args, "-lavfi", graph, "-f", "null", "-"]


def _parse_log(text: str) -> tuple[float, str]:
    """(VMAF, libvmaf version) from libvmaf's JSON log of one frame."""
    try:
        log = json.loads(text)
        (frame,) = log["frames"]
        return float(frame["metrics"]["vmaf"]), str(log.get("version", "unknown"))
    except (ValueError, KeyError, TypeError) as exc:
        raise VmafError(
            f"{FFMPEG_PROGRAM} wrote no VMAF score of one frame ({type(exc).__name__}: {exc}): {one_line(text)}"
        ) from None


def _run_vmaf(path: str, ref_yuv: np.ndarray, dist_yuv: np.ndarray, timeout_s: float) -> tuple[float, str]:
    """(VMAF, libvmaf version) of two ``3 x H x W`` ``uint8`` yuv444p frames, from one ffmpeg call."""
    height, width = ref_yuv.shape[1:]
    with tempfile.TemporaryDirectory(prefix="codec-bench-vmaf-") as tmp:
        for name, planes in zip(_FILES, (dist_yuv, ref_yuv), strict=True):
            planes.tofile(Path(tmp, name))
        proc = _run(_vmaf_args(path, width, height), timeout_s, cwd=tmp)
        if proc.returncode != 0:
            raise _failed(proc)
        log = Path(tmp, _LOG)
        if not log.is_file():
            raise VmafError(f"{FFMPEG_PROGRAM} wrote no libvmaf log: {one_line(proc.stderr or proc.stdout)}")
        return _parse_log(log.read_text(errors="replace"))


def vmaf(ref: np.ndarray, dist: np.ndarray, *, timeout_s: float = VMAF_TIMEOUT_S) -> float:
    """VMAF (model vmaf_v0.6.1) of ``dist`` against ``ref`` from libvmaf through ffmpeg (see module
    docstring); NaN, with a warning, if a side is under 33 pixels."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < VMAF_MIN_SIDE:
        why = "libvmaf crashes or gives unreliable values below"
        return too_small("VMAF", ref.shape, VMAF_MIN_SIDE, why)
    path = vmaf_program()
    if path is None:
        raise VmafError(_vmaf_unavailable() or "no ffmpeg with libvmaf")
    return _run_vmaf(path, bt709_yuv444(ref), bt709_yuv444(dist), timeout_s)[0]


@functools.lru_cache(maxsize=8)
def _program_info(path: str) -> dict[str, str]:
    """What identifies the ffmpeg at ``path``: its sha256, its version line and the libvmaf version it
    reports (from a VMAF of two 48 x 48 test images)."""
    version = _run([path, "-hide_banner", "-version"], 60.0)
    first = version.stdout.strip().splitlines()[0] if version.returncode == 0 and version.stdout.strip() else ""
    found = re.match(r"\S+ version (\S+)", first)
    probe = np.indices((48, 48)).sum(axis=0).astype(np.uint8)[None].repeat(3, axis=0) * 2
    try:
        libvmaf = _run_vmaf(path, probe, probe // 2 + 20, 60.0)[1]
    except VmafError as exc:
        libvmaf = f"unknown ({exc})"
    return {"sha256": sha256_file(path), "version": found.group(1) if found else "unknown", "libvmaf": libvmaf}


# ------------------------------------------------------------------------------------ PSNR-HVS(-M)

#: Both sides must be at least this: one whole 8 x 8 block.
PSNR_HVS_MIN_SIDE = 8
PSNR_HVSM_PACKAGE = "psnr-hvsm"


def _psnr_hvsm_module() -> Any:
    """``psnr_hvsm.numpy``, imported with its messages about missing backends (printed to stdout) hushed."""
    with contextlib.redirect_stdout(io.StringIO()):
        import psnr_hvsm.numpy

    return psnr_hvsm.numpy


def bt601_luma(image: np.ndarray) -> np.ndarray:
    """Luma in [0, 1] as the ``psnr_hvsm`` package converts 8-bit RGB: BT.601 studio range, rounded to
    8 bits, divided by 255 (``psnr_hvsm.numpy.bt601ycbcr(image)[0]``)."""
    return _psnr_hvsm_module().bt601ycbcr(image)[0]


#: (PSNR-HVS, PSNR-HVS-M) of the last pairs, so that the two metrics cost one package call
_CACHE: OrderedDict[tuple[Any, ...], tuple[float, float]] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(image, digest_size=16).digest()


def psnr_hvs_hvsm(ref: np.ndarray, dist: np.ndarray) -> tuple[float, float]:
    """(PSNR-HVS, PSNR-HVS-M) in dB of ``dist`` against ``ref`` from one ``psnr_hvsm`` call (see module
    docstring); ``inf`` when the error is 0; both NaN, with a warning, if a side is under 8 pixels."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) < PSNR_HVS_MIN_SIDE:
        nan = too_small("PSNR-HVS", ref.shape, PSNR_HVS_MIN_SIDE, "it is computed on whole 8x8 blocks")
        return nan, nan
    ref, dist = np.ascontiguousarray(ref), np.ascontiguousarray(dist)
    key = (ref.shape, _digest(ref), _digest(dist))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    package = _psnr_hvsm_module()
    height, width = (side - side % 8 for side in ref.shape[:2])
    luma = [package.bt601ycbcr(image)[0][:height, :width] for image in (ref, dist)]
    with np.errstate(divide="ignore", invalid="ignore"):  # flat blocks: the package handles them
        errors = package.hvs_hvsm_mse(*luma)
    # the package's psnr_hvs_hvsm from these mean errors (peak 1), with inf where it says 100.0 for no error
    psnr_hvs, psnr_hvsm = (math.inf if e == 0.0 else float(10.0 * np.log10(np.divide(1.0, e))) for e in errors)
    scores = (psnr_hvs, psnr_hvsm)
    with _CACHE_LOCK:
        _CACHE[key] = scores
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return scores


def _psnr_hvsm_unavailable() -> str | None:
    if importlib.util.find_spec("psnr_hvsm") is None:
        return f"the {PSNR_HVSM_PACKAGE} package is not installed (pip install {PSNR_HVSM_PACKAGE}; GPL-3.0)"
    return None


# ----------------------------------------------------------------------------------------------- metrics


@register_metric
class Vmaf(Metric):
    name = "vmaf"
    label = "VMAF"
    axis_label = "VMAF (vmaf_v0.6.1)"
    convention = (
        f"Netflix libvmaf through ffmpeg's libvmaf filter, model {VMAF_MODEL} (the default, 1080p HDTV at 3H), "
        "the image as one frame (motion 0), not rescaled; 8-bit YCbCr 4:4:4 from RGB, BT.709 full range, each "
        "rounded half up: Y = round(0.2126 R + 0.7152 G + 0.0722 B), Cb = round(128 + (B - Y) / 1.8556), "
        "Cr = round(128 + (R - Y) / 1.5748) (the model reads Y only); 0-100, about 97.43 if identical; "
        f"NaN if a side < {VMAF_MIN_SIDE}"
    )
    packages = (FFMPEG_PACKAGE, "numpy")

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _vmaf_unavailable()

    def versions(self) -> dict[str, str]:
        path = vmaf_program()
        info = _program_info(path) if path else {"version": "not found", "libvmaf": "not found"}
        return {FFMPEG_PROGRAM: info["version"], "libvmaf": info["libvmaf"], **super().versions()}

    def describe(self) -> dict[str, Any]:
        """As :meth:`Metric.describe`, and the program: its path, sha256, version, libvmaf and model."""
        path = vmaf_program()
        info = _program_info(path) if path else {"sha256": None, "version": "not found", "libvmaf": "not found"}
        program = {"name": FFMPEG_PROGRAM, "path": path, **info, "model": VMAF_MODEL}
        return {**super().describe(), "program": program}

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return vmaf(ref, dist)


class _PsnrHvsMetric(Metric):
    """Both PSNR-HVS metrics: one ``psnr_hvsm`` call per pair gives them (see :func:`psnr_hvs_hvsm`)."""

    unit = "dB"
    packages = (PSNR_HVSM_PACKAGE, "numpy", "scipy")
    #: which of the package's two values: 0 PSNR-HVS, 1 PSNR-HVS-M
    _index = 0

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _psnr_hvsm_unavailable()

    def compute(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return psnr_hvs_hvsm(ref, dist)[self._index]


_PSNR_HVS_INPUT = (
    "of BT.601 studio-range luma rounded to 8 bits, Y = round(16 + (65.481 R + 128.553 G + 24.966 B) / 255) "
    "(psnr_hvsm's and MATLAB rgb2ycbcr's), / 255, exactly psnr_hvsm.numpy.psnr_hvs_hvsm on the whole 8x8 blocks "
    "from the top-left corner (the last H mod 8 rows and W mod 8 columns left out, as the authors' MATLAB code)"
)


@register_metric
class PsnrHvsM(_PsnrHvsMetric):
    name = "psnr_hvs_m"
    label = "PSNR-HVS-M"
    axis_label = "PSNR-HVS-M [dB]"
    convention = (
        f"dB, PSNR-HVS-M (Ponomarenko et al. 2007: CSF-weighted DCT error less contrast masking) {_PSNR_HVS_INPUT}; "
        f"inf if no error (the package: 100); NaN if a side < {PSNR_HVS_MIN_SIDE}"
    )
    _index = 1


@register_metric
class PsnrHvs(_PsnrHvsMetric):
    name = "psnr_hvs"
    label = "PSNR-HVS"
    axis_label = "PSNR-HVS [dB]"
    convention = (
        f"dB, PSNR-HVS (Egiazarian et al. 2006: CSF-weighted DCT error, no masking) {_PSNR_HVS_INPUT}; "
        f"inf if no error (the package: 100); NaN if a side < {PSNR_HVS_MIN_SIDE}"
    )
    _index = 0
