"""Reading dataset images as the ``H x W x 3`` ``uint8`` RGB arrays every codec receives.

Inputs that are not 8-bit RGB are converted explicitly, and the conversion is returned so the run
can record it; inputs that cannot be converted without a choice the benchmark should not make are
rejected with :class:`ImageLoadError` naming the file:

* grey (``L``, ``1``) -> RGB by repeating the channel;
* palette (``P``) -> RGB through the palette;
* alpha (``RGBA``, ``LA``, ``PA``) -> RGB by dropping the alpha channel *only when every pixel is
  opaque* (every sample 255, or 65535 in 16-bit files); any transparency is rejected (flatten the
  image on a background first);
* 16 bits per channel (PNG, TIFF) -> 8 bits by ``round(v / 257)``, which maps 0..65535 onto 0..255;
* an EXIF orientation other than 1 is applied, so the codecs see the image as viewers show it
  (Pillow already does this for 8-bit TIFF; it is done here for every format, 16-bit files
  included); damaged EXIF data leaves the pixels as stored, and the conversion text says so;
* CMYK, Lab, HSV, floating point and multi-frame files are rejected.

Formats (:data:`IMAGE_SUFFIXES`): the lossless PNG, BMP, Netpbm (PPM/PGM/PBM/PNM), TIFF and lossless
WebP, and JPEG. A lossy WebP file is refused: it is the output of one of the codecs under test, whose
artefacts would favour that codec. JPEG files (and JPEG-compressed TIFF) are accepted, as in
codec-bench 0.1, because many photo collections exist only as JPEG, but the conversion text says
"lossy source" so ``run.json`` shows it.

Images of more than :data:`MAX_PIXELS` pixels are refused from their header, before any pixel is
decoded, and files of more than :data:`MAX_FILE_BYTES` from their size (:func:`size_problem`, which a
folder dataset asks before it hashes a file). Whatever goes wrong while reading a file (truncation, corruption, a decoder's own error
types) becomes an :class:`ImageLoadError` with a one-line message: one bad file is one per-image
failure of a run, never the end of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "SourceImage",
    "ImageLoadError",
    "load_rgb8",
    "source_problem",
    "size_problem",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "MAX_FILE_BYTES",
]

#: File name suffixes a folder dataset takes (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".pbm", ".pnm", ".webp")

#: The most pixels (width x height) of an image codec-bench reads: 8192 x 8192 = 67,108,864 (64 Mi).
#: Every codec, metric and worker holds the image several times over (16-bit RGBA decoding alone
#: takes 8 bytes a pixel, MS-SSIM float copies 24 bytes a pixel, a learned codec's activations far
#: more), so larger images exhaust a worker's memory rather than measure anything. 8192 x 8192 covers
#: 8K UHD (7680 x 4320) and today's high-resolution cameras (61 Mpx), and it is below Pillow's own
#: decompression-bomb warning (89 Mpx), so Pillow never warns about an image codec-bench accepts.
MAX_PIXELS = 8192 * 8192

#: The largest image file codec-bench reads: twice what an image of :data:`MAX_PIXELS` pixels takes
#: uncompressed at 16-bit RGBA (8 bytes a pixel), i.e. 1 GiB. A larger file is refused from its size
#: before it is hashed or read (a sparse or runaway file would take minutes to hash).
MAX_FILE_BYTES = 16 * MAX_PIXELS

#: Pillow's names of the formats read (``MPO`` is how Pillow opens many camera JPEGs; ``DIB`` is BMP).
_FORMATS = {"PNG", "JPEG", "MPO", "TIFF", "BMP", "DIB", "PPM", "WEBP"}
_LOSSY_TIFF_COMPRESSION = {"jpeg", "tiff_jpeg"}
_GREY_16 = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_EXIF_ORIENTATION = 0x0112
#: EXIF orientation -> what displaying the stored pixels takes.
_ORIENTATIONS = {
    2: "mirrored left-right",
    3: "rotated 180 degrees",
    4: "mirrored top-bottom",
    5: "transposed (mirrored left-right, then rotated 90 degrees counter-clockwise)",
    6: "rotated 90 degrees clockwise",
    7: "transversed (mirrored left-right, then rotated 90 degrees clockwise)",
    8: "rotated 90 degrees counter-clockwise",
}


class ImageLoadError(ValueError):
    """An image that cannot be read or converted; the one-line message names the file and the problem."""

    def __init__(self, path: Path, reason: str) -> None:
        reason = " ".join(str(reason).split())  # decoders' messages may span lines
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class SourceImage:
    """A dataset image as the codecs see it.

    ``pixels`` is ``H x W x 3`` ``uint8`` in [0, 255]; ``conversion`` says what was done to the file's
    pixels to get there, and whether the file was lossy (``None`` when it was lossless 8-bit RGB used
    as is).
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


def _webp_is_lossless(path: Path) -> bool | None:
    """True for a lossless (VP8L) WebP file, False for a lossy one (VP8, with or without alpha), None
    when the file is not a WebP file the chunks of which can be followed."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
            return None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"VP8L":
                return True
            if kind in (b"VP8 ", b"ALPH"):  # ALPH comes with lossy VP8 colour data
                return False
            if kind == b"ANMF":  # an animation frame: its own sub-chunks follow a 16-byte header
                fh.seek(16, 1)
                continue
            fh.seek(size + (size & 1), 1)


def source_problem(path: str | Path) -> str | None:
    """Why the file at ``path`` is not taken as a dataset image (its type), or ``None`` when it is."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return (
            f"file type {suffix or '(no suffix)'!r} is not read; codec-bench reads PNG, BMP, PPM/PGM/PBM/PNM, "
            "TIFF, lossless WebP and JPEG"
        )
    if suffix == ".webp":
        try:
            lossless = _webp_is_lossless(path)
        except OSError:
            return None  # unreadable: reading it fails later, with its own message
        if lossless is False:
            return "lossy WebP: already compressed by a codec under test (webp), whose artefacts it would favour"
    return None


def size_problem(path: str | Path) -> str | None:
    """Why the image file at ``path`` is too large to be read, from its size and then its header alone
    (nothing else is read: :func:`load_rgb8` refuses the same), or ``None``. A file whose header cannot
    be read is left to :func:`load_rgb8`, which says what is wrong with it."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size > MAX_FILE_BYTES:
        return (f"is a file of {size / 2**30:,.1f} GiB, larger than any image codec-bench reads (at most "
                f"{MAX_FILE_BYTES / 2**30:g} GiB, bench.data.images.MAX_FILE_BYTES)")  # fmt: skip
    try:
        with Image.open(path) as im:
            _check_size(path, *im.size)
    except ImageLoadError as exc:
        return exc.reason
    except Image.DecompressionBombError:
        return f"has more than the {MAX_PIXELS:,} pixels codec-bench reads (bench.data.images.MAX_PIXELS); crop or scale it first"
    except Exception:  # unreadable or corrupt: load_rgb8 says why
        return None
    return None


def _is_16_bit(im: Image.Image) -> bool:
    if im.mode in _GREY_16:
        return True
    # Pillow opens 16-bit RGB(A) PNG/TIFF as 8-bit modes by dropping the low byte; the raw mode tells.
    return any(";16" in str(tile.args[0] if isinstance(tile.args, tuple) else tile.args) for tile in im.tile or ())


def _read_16_bit(path: Path, fmt: str) -> np.ndarray:
    import imagecodecs

    data = path.read_bytes()
    arr = imagecodecs.png_decode(data) if fmt == "PNG" else imagecodecs.tiff_decode(data)
    if arr.dtype != np.uint16:
        raise ImageLoadError(path, f"expected 16-bit samples, decoder returned {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ImageLoadError(path, f"decoder returned a {arr.ndim}-dimensional array; expected one image")
    return arr


def _exif_orientation(im: Image.Image, notes: list[str]) -> int | None:
    """The EXIF orientation tag, read from the header (no pixel is decoded), or None. Damaged EXIF
    data does not fail the image: the pixels are used as stored, and ``notes`` says so."""
    try:
        value = _read_exif_orientation(im)
    except Exception as exc:  # Pillow's EXIF parser raises many types on damaged data
        notes.append(f"EXIF data unreadable ({type(exc).__name__}), orientation not applied")
        return None
    if value is not None and not isinstance(value, int):
        notes.append(f"EXIF orientation {value!r} is not a valid value; ignored")
        return None
    return value


def _read_exif_orientation(im: Image.Image) -> int | None:
    if im.format == "PNG":  # PngImageFile.getexif() would decode the image to look for a late eXIf chunk
        raw = im.info.get("exif")
        if not raw:
            return None
        exif = Image.Exif()
        exif.load(raw)
    elif im.format == "TIFF":
        return im.tag_v2.get(_EXIF_ORIENTATION)
    else:
        exif = im.getexif()
    return exif.get(_EXIF_ORIENTATION)


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels ``arr`` (rows x columns x ...) as displayed under EXIF ``orientation``."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return arr[::-1].swapaxes(0, 1)
    if orientation == 7:
        return arr[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return arr[:, ::-1].swapaxes(0, 1)
    return arr


def _to_rgb(arr: np.ndarray, path: Path, notes: list[str]) -> np.ndarray:
    """Grey, grey+alpha, RGB or RGBA array (``uint8``, or ``uint16`` scaled by round(v/257) after the
    alpha channel is checked at full precision) -> 8-bit RGB."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = arr.shape[2]
    if channels in (2, 4):
        alpha = arr[:, :, -1]
        transparent = int(np.count_nonzero(alpha != np.iinfo(arr.dtype).max))
        if transparent:
            raise ImageLoadError(
                path,
                f"has an alpha channel with {transparent} non-opaque pixels; codec-bench compares RGB only, "
                "so flatten the image onto a background first",
            )
        arr = arr[:, :, :-1]
        channels -= 1
        alpha_note = "opaque alpha channel dropped"
    else:
        alpha_note = None
    if arr.dtype == np.uint16:
        notes.append("16-bit samples scaled to 8 bits by round(v/257)")
        arr = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ImageLoadError(path, f"has {arr.dtype} samples; expected 8 or 16-bit integers")
    if alpha_note:
        notes.append(alpha_note)
    if channels == 1:
        notes.append("grey replicated to RGB")
        arr = np.repeat(arr, 3, axis=2)
    elif channels != 3:
        raise ImageLoadError(path, f"has {channels} channels; expected grey, RGB or either with alpha")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _check_size(path: Path, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ImageLoadError(path, f"is {width} x {height} pixels; expected at least one pixel")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            path,
            f"is {width} x {height} = {width * height:,} pixels, more than the {MAX_PIXELS:,} codec-bench reads "
            "(bench.data.images.MAX_PIXELS); crop or scale it first",
        )


def _load(path: Path, notes: list[str]) -> np.ndarray:
    """The file's pixels (any dtype/channels :func:`_to_rgb` takes), displayed orientation; fills ``notes``."""
    with Image.open(path) as im:
        if im.format not in _FORMATS:
            raise ImageLoadError(path, f"is a {im.format} file; codec-bench reads PNG, BMP, PPM, TIFF, WebP and JPEG")
        _check_size(path, *im.size)  # from the header, before anything is decoded
        if getattr(im, "n_frames", 1) > 1:
            raise ImageLoadError(path, f"has {im.n_frames} frames/pages; expected a single image")
        if im.format == "WEBP" and _webp_is_lossless(path) is False:
            raise ImageLoadError(path, "is a lossy WebP file, already compressed by a codec under test; "
                                       "use the lossless original")  # fmt: skip
        if im.format in ("JPEG", "MPO"):
            notes.append("lossy source (JPEG)")
        elif im.format == "TIFF" and im.info.get("compression") in _LOSSY_TIFF_COMPRESSION:
            notes.append("lossy source (JPEG-compressed TIFF)")
        orientation = _exif_orientation(im, notes)
        if _is_16_bit(im):
            arr = _read_16_bit(path, im.format)
            stored = im.size if orientation not in (5, 6, 7, 8) or im.format != "TIFF" else im.size[::-1]
            if arr.shape[:2] != (stored[1], stored[0]):
                raise ImageLoadError(path, f"decoded to {arr.shape[1]} x {arr.shape[0]} pixels, but its header "
                                           f"says {stored[0]} x {stored[1]}")  # fmt: skip
            applied_by_pillow = False
        else:
            im.load()
            if orientation is None and im.format == "PNG":
                orientation = _exif_orientation(im, notes)  # an eXIf chunk after the image data
            # Pillow applies a TIFF's orientation while loading, and then drops the tag
            applied_by_pillow = im.format == "TIFF" and _EXIF_ORIENTATION not in im.tag_v2
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
    if orientation in _ORIENTATIONS:
        if not applied_by_pillow:
            arr = _orient(arr, orientation)
        notes.append(f"EXIF orientation {orientation} applied ({_ORIENTATIONS[orientation]})")
    elif orientation not in (None, 1):
        notes.append(f"EXIF orientation {orientation!r} is not a valid value; ignored")
    return arr


def load_rgb8(path: str | Path) -> SourceImage:
    """Read ``path`` as 8-bit RGB, converting or rejecting as described in the module docstring.

    Raises only :class:`ImageLoadError` (for any problem with the file), with a one-line message.
    """
    path = Path(path)
    notes: list[str] = []
    try:
        arr = _load(path, notes)
        pixels = _to_rgb(arr, path, notes)
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(path, "is corrupt or not an image: Pillow cannot identify its format") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "does not exist") from exc
    except Image.DecompressionBombError as exc:  # over 2 x Pillow's limit: refused by Image.open itself
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageLoadError(
            path,
            f"is {size}, more than the {MAX_PIXELS:,} codec-bench reads (bench.data.images.MAX_PIXELS); crop or scale it first",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(path, f"is corrupt or truncated: {exc}") from exc
    except MemoryError as exc:
        raise ImageLoadError(path, "needs more memory to decode than this process has") from exc
    except Exception as exc:  # decoders' own error types (imagecodecs.PngError, TypeError from TIFF tags, ...)
        raise ImageLoadError(path, f"cannot be decoded: {type(exc).__name__}: {exc}") from exc
    return SourceImage(path.name, pixels, "; ".join(notes) or None)
