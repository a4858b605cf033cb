"""Bytes in, bytes out through Pillow: the two helpers the Pillow-based codecs share."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bench.api.codec import CodecError, check_rgb8


def pillow_encode(image: np.ndarray, fmt: str, **options) -> bytes:
    """Encode an ``H x W x 3`` ``uint8`` array with Pillow's ``fmt`` writer; return the file's bytes."""
    check_rgb8(image)
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format=fmt, **options)
    return buf.getvalue()


def pillow_decode(data: bytes, fmt: str) -> np.ndarray:
    """Decode ``data`` with Pillow's ``fmt`` reader only; return ``H x W x 3`` ``uint8`` RGB."""
    with Image.open(io.BytesIO(data), formats=[fmt]) as im:
        im.load()
        if im.mode != "RGB":
            raise CodecError(f"{fmt} decoder returned mode {im.mode}, expected RGB")
        return np.asarray(im)
