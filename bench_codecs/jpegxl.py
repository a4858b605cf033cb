"""JPEG XL (ISO/IEC 18181) through imagecodecs and libjxl, swept over the butteraugli distance.

Settings: lossy VarDCT mode, effort 7 (libjxl's default), one thread, no container (a bare
codestream). The knob is libjxl's distance: 1.0 is "visually lossless", larger is smaller and
worse, so rate falls as the knob grows.
"""

from __future__ import annotations

from bench.api.codec import Codec, Knob, check_rgb8, register_codec

EFFORT = 7


def _imagecodecs():
    import imagecodecs

    return imagecodecs


@register_codec
class JpegXlCodec(Codec):
    name = "jpegxl"
    extension = "jxl"
    knob = Knob(
        "distance",
        0.0,
        25.0,
        (15.0, 12.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.5),
        rate_grows=False,
        integer=False,
        description="butteraugli distance (0 = lossless)",
    )

    @classmethod
    def unavailable_reason(cls):
        try:
            ic = _imagecodecs()
        except ImportError as exc:
            return f"imagecodecs is not installed ({exc}); pip install imagecodecs"
        return None if ic.JPEGXL.available else "this imagecodecs build has no JPEG XL support"

    def encode(self, image, quality):
        check_rgb8(image)
        return bytes(_imagecodecs().jpegxl_encode(image, distance=float(quality), effort=EFFORT, numthreads=1))

    def decode(self, data):
        return _imagecodecs().jpegxl_decode(data, numthreads=1)

    def settings(self):
        return {"mode": "VarDCT", "effort": EFFORT, "container": False, "threads": 1}

    def versions(self):
        ic = _imagecodecs()
        return {"imagecodecs": ic.__version__, "libjxl": ic.jpegxl_version().removeprefix("libjxl ")}
