"""Reading dataset images as the ``H x W x 3`` ``uint8`` RGB arrays every codec receives.

Inputs that are not 8-bit RGB are converted explicitly, and the conversion is returned so the run
can record it; inputs that cannot be converted without a choice the benchmark should not make are
rejected with :class:`ImageLoadError` naming the file:

* grey (``L``, ``1``) -> RGB by repeating the channel;
* palette (``P``) -> RGB through the palette;
* alpha (``RGBA``, ``LA``, ``PA``) -> RGB by dropping the alpha channel *only when every pixel is
  opaque*; any transparency is rejected (flatten the image on a background first);
* 16 bits per channel (PNG, TIFF) -> 8 bits by ``round(v / 257)``, which maps 0..65535 onto 0..255;
* CMYK, Lab, HSV, floating point and multi-frame files are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["SourceImage", "ImageLoadError", "load_rgb8", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

_GREY_16 = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


class ImageLoadError(ValueError):
    """An image that cannot be read or converted; the message names the file and the problem."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class SourceImage:
    """A dataset image as the codecs see it.

    ``pixels`` is ``H x W x 3`` ``uint8`` in [0, 255]; ``conversion`` says what was done to the file's
    pixels to get there (``None`` when the file already was 8-bit RGB).
    """

    name: str
    pixels: np.ndarray
    conversion: str | None = None

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def _is_16_bit(im: Image.Image) -> bool:
    if im.mode in _GREY_16:
        return True
    # Pillow opens 16-bit RGB(A) PNG/TIFF as 8-bit modes by dropping the low byte; the raw mode tells.
    return any(";16" in str(tile.args[0] if isinstance(tile.args, tuple) else tile.args) for tile in im.tile or ())


def _read_16_bit(path: Path) -> np.ndarray:
    import imagecodecs

    data = path.read_bytes()
    if path.suffix.lower() == ".png":
        arr = imagecodecs.png_decode(data)
    else:
        arr = imagecodecs.tiff_decode(data)
    if arr.dtype != np.uint16:
        raise ImageLoadError(path, f"expected 16-bit samples, decoder returned {arr.dtype}")
    return arr


def _to_rgb(arr: np.ndarray, path: Path, notes: list[str]) -> np.ndarray:
    """Grey, grey+alpha, RGB or RGBA array (any integer dtype already scaled to 8 bits) -> RGB."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = arr.shape[2]
    if channels in (2, 4):
        alpha = arr[:, :, -1]
        transparent = int(np.count_nonzero(alpha != 255))
        if transparent:
            raise ImageLoadError(
                path,
                f"has an alpha channel with {transparent} non-opaque pixels; codec-bench compares RGB only, "
                "so flatten the image onto a background first",
            )
        notes.append("opaque alpha channel dropped")
        arr = arr[:, :, :-1]
        channels -= 1
    if channels == 1:
        notes.append("grey replicated to RGB")
        arr = np.repeat(arr, 3, axis=2)
    elif channels != 3:
        raise ImageLoadError(path, f"has {channels} channels; expected grey, RGB or either with alpha")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def load_rgb8(path: str | Path) -> SourceImage:
    """Read ``path`` as 8-bit RGB, converting or rejecting as described in the module docstring."""
    path = Path(path)
    notes: list[str] = []
    try:
        with Image.open(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                raise ImageLoadError(path, f"has {im.n_frames} frames/pages; expected a single image")
            if _is_16_bit(im):
                wide = _read_16_bit(path)
                notes.append("16-bit samples scaled to 8 bits by round(v/257)")
                arr = ((wide.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
                return SourceImage(path.name, _to_rgb(arr, path, notes), "; ".join(notes))
            im.load()
            mode = im.mode
            if mode == "1":
                im, mode = im.convert("L"), "L"
                notes.append("1-bit converted to 8-bit grey")
            elif mode == "P":
                has_alpha = "transparency" in im.info or im.palette.mode == "RGBA"
                im = im.convert("RGBA" if has_alpha else "RGB")
                notes.append("palette expanded to RGB")
            elif mode == "PA":
                im = im.convert("RGBA")
                notes.append("palette expanded to RGB")
            elif mode == "YCbCr":
                im = im.convert("RGB")
                notes.append("YCbCr converted to RGB (JFIF)")
            elif mode not in ("L", "LA", "RGB", "RGBA"):
                raise ImageLoadError(path, f"has unsupported pixel mode {mode!r}; expected 8/16-bit grey or RGB")
            arr = np.asarray(im)
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(path, "is corrupt or not an image: Pillow cannot identify its format") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "does not exist") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(path, f"is corrupt or truncated: {exc}") from exc
    pixels = _to_rgb(arr, path, notes)
    return SourceImage(path.name, pixels, "; ".join(notes) or None)
