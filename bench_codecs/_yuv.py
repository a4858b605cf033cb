"""YCbCr for the VVC codecs: BT.709 conversions, 4:2:0 resampling and Y4M files.

Conventions (the ``vtm`` and ``vvc`` codecs; ``vtm-compressai`` uses CompressAI's own functions):

* RGB is 8-bit, [0, 255]. YCbCr is BT.709, **full range**, computed in float64:
  ``Y = 0.2126 R + 0.7152 G + 0.0722 B``, ``Cb = 128 + (B - Y) / 1.8556``, ``Cr = 128 + (R - Y) / 1.5748``
  (all in [0, 255] units), then written with ``bits`` bits as ``floor(v * 2**(bits - 8) + 0.5)``
  (rounded half up, never truncated), clipped to ``[0, 2**bits - 1]``.
* Back to RGB: the exact inverse matrix on ``code / 2**(bits - 8)``, rounded half up, clipped to [0, 255].
* 4:2:0 (``vvc``): chroma sited at the centre of each 2 x 2 block (as JPEG/JFIF), downsampled in float
  as the mean of the block before rounding; upsampled by bilinear interpolation of the centre-sited
  samples (weights 3/4 and 1/4 along each axis, edges replicated). Width and height must be even.
* Y4M (``YUV4MPEG2``) files hold one frame; samples above 8 bits are 16-bit little-endian.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

KR, KG, KB = 0.2126, 0.7152, 0.0722  # ITU-R BT.709 luma weights

__all__ = [
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "to_code",
    "from_code",
    "downsample_420",
    "upsample_420",
    "write_y4m",
    "read_y4m",
    "read_decoded",
]


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 RGB (any numeric type, [0, 255]) to 3 x H x W float64 full-range BT.709 YCbCr, [0, 255]."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = KR * r + KG * g + KB * b
    return np.stack([y, 128.0 + (b - y) / (2 * (1 - KB)), 128.0 + (r - y) / (2 * (1 - KR))])


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """3 x H x W float YCbCr ([0, 255] units) to H x W x 3 uint8 RGB, rounded half up and clipped."""
    y, cb, cr = (ycbcr[i].astype(np.float64) for i in range(3))
    r = y + 2 * (1 - KR) * (cr - 128.0)
    b = y + 2 * (1 - KB) * (cb - 128.0)
    g = (y - KR * r - KB * b) / KG
    rgb = np.stack([r, g, b], axis=-1)
    return np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8)


def to_code(values: np.ndarray, bits: int) -> np.ndarray:
    """[0, 255]-unit samples as ``bits``-bit integer codes (uint16), rounded half up and clipped."""
    code = np.floor(np.asarray(values, dtype=np.float64) * 2.0 ** (bits - 8) + 0.5)
    return np.clip(code, 0, 2**bits - 1).astype(np.uint16)


def from_code(codes: np.ndarray, bits: int) -> np.ndarray:
    """``bits``-bit integer codes back to [0, 255]-unit float64 samples (no rounding)."""
    return np.asarray(codes, dtype=np.float64) / 2.0 ** (bits - 8)


def downsample_420(plane: np.ndarray) -> np.ndarray:
    """Mean of each 2 x 2 block of an H x W plane with even H and W (chroma sited at the block centre)."""
    h, w = plane.shape
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even width and height, got {w}x{h}")
    return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _upsample_axis(a: np.ndarray, axis: int) -> np.ndarray:
    """Double ``a`` along ``axis``: outputs 2k and 2k+1 are 3/4 a[k] + 1/4 a[k-1] and 3/4 a[k] + 1/4 a[k+1]."""
    a = np.moveaxis(a, axis, 0)
    prev = np.concatenate([a[:1], a[:-1]])
    nxt = np.concatenate([a[1:], a[-1:]])
    out = np.empty((2 * a.shape[0],) + a.shape[1:], dtype=np.float64)
    out[0::2] = 0.75 * a + 0.25 * prev
    out[1::2] = 0.75 * a + 0.25 * nxt
    return np.moveaxis(out, 0, axis)


def upsample_420(plane: np.ndarray) -> np.ndarray:
    """Centre-sited h x w chroma to 2h x 2w by bilinear interpolation (edges replicated), float64."""
    return _upsample_axis(_upsample_axis(np.asarray(plane, dtype=np.float64), 0), 1)


def write_y4m(path: Path, planes: list[np.ndarray], bits: int, chroma: str) -> None:
    """One-frame Y4M file of integer ``planes`` (Y, Cb, Cr); ``chroma`` is ``"444"`` or ``"420"``."""
    h, w = planes[0].shape
    tag = f"C{chroma}" + (f"p{bits}" if bits > 8 else "")
    dtype = "<u2" if bits > 8 else "u1"
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F1:1 Ip A1:1 {tag}\nFRAME\n".encode("ascii"))
        for plane in planes:
            f.write(np.ascontiguousarray(plane, dtype=dtype).tobytes())


_Y4M_COLOUR = re.compile(r"^C(420|444|mono)\w*?(?:p(\d+))?$")


def read_y4m(path: Path) -> tuple[list[np.ndarray], int, str]:
    """The first frame of a Y4M file: (planes as uint16 arrays, bit depth, ``"444"``/``"420"``/``"mono"``)."""
    data = Path(path).read_bytes()
    end = data.find(b"\n")
    header = data[:end].decode("ascii", errors="replace").split() if end > 0 else []
    if not header or header[0] != "YUV4MPEG2":
        raise ValueError(f"{Path(path).name} is not a Y4M file")
    fields = {item[0]: item[1:] for item in header[1:]}
    w, h = int(fields["W"]), int(fields["H"])
    match = _Y4M_COLOUR.match("C" + fields.get("C", "420"))
    if match is None:
        raise ValueError(f"{Path(path).name}: unsupported Y4M colour space C{fields.get('C')}")
    chroma, bits = match.group(1), int(match.group(2) or 8)
    frame = data.find(b"\n", end + 1)
    if data[end + 1 : end + 6] != b"FRAME" or frame < 0:
        raise ValueError(f"{Path(path).name}: no frame after the Y4M header")
    ch, cw = {"444": (h, w), "420": ((h + 1) // 2, (w + 1) // 2), "mono": (0, 0)}[chroma]
    shapes = [(h, w)] + ([(ch, cw)] * 2 if chroma != "mono" else [])
    dtype = np.dtype("<u2" if bits > 8 else "u1")
    count = sum(a * b for a, b in shapes)
    samples = np.frombuffer(data, dtype=dtype, count=count, offset=frame + 1)
    planes, at = [], 0
    for a, b in shapes:
        planes.append(samples[at : at + a * b].reshape(a, b).astype(np.uint16))
        at += a * b
    return planes, bits, chroma


def read_decoded(path: Path, program: str, chroma: str, bits: int) -> list[np.ndarray]:
    """The planes of the Y4M file a decoder ``program`` wrote, which must be ``chroma`` at ``bits`` bits;
    anything else is a :class:`bench.api.codec.CodecError` naming the program."""
    from bench.api.codec import CodecError

    try:
        planes, found_bits, found_chroma = read_y4m(path)
    except (ValueError, KeyError) as exc:
        raise CodecError(f"{program} wrote an unreadable Y4M file: {exc}") from exc
    if found_chroma != chroma or found_bits != bits:
        raise CodecError(f"{program} wrote {found_chroma} at {found_bits} bits; expected {chroma} at {bits}")
    return planes
