"""AVIF (AV1 intra in HEIF) through Pillow, libavif, the aom encoder and the dav1d decoder.

Settings: 8-bit YCbCr 4:4:4 full range (as for ``heif``), aom speed 6 (libavif's/Pillow's
default; about 0.6 s per Kodak image on one core, which keeps the default Kodak run practical),
one encoder thread, one decoder thread, automatic tiling off (a 768x512 image is one tile). The knob
is libavif's quality (0-100), which libavif maps to the AV1 quantiser.
"""

from __future__ import annotations

import PIL
from PIL import AvifImagePlugin, features

from bench.api.codec import Codec, Knob, register_codec
from bench_codecs._pillow import pillow_decode, pillow_encode

OPTIONS = {"speed": 6, "subsampling": "4:4:4", "codec": "aom", "range": "full", "max_threads": 1}


@register_codec
class AvifCodec(Codec):
    name = "avif"
    extension = "avif"
    knob = Knob("quality", 0, 100, (10, 20, 30, 40, 50, 60, 70, 75, 80, 90), description="libavif quality")

    @classmethod
    def unavailable_reason(cls):
        if not features.check("avif"):
            return "this Pillow has no AVIF support; install Pillow >= 11.3 wheels from PyPI"
        if not AvifImagePlugin._avif.encoder_codec_available("aom"):
            return "Pillow's libavif has no aom encoder"
        return None

    def __init__(self):
        # Pillow's AVIF reader takes its thread count from this module setting (per process).
        AvifImagePlugin.DEFAULT_MAX_THREADS = 1

    def encode(self, image, quality):
        return pillow_encode(image, "AVIF", quality=int(quality), **OPTIONS)

    def decode(self, data):
        return pillow_decode(data, "AVIF")

    def settings(self):
        return {**OPTIONS, "decoder": "dav1d (libavif auto choice)", "decode_threads": 1}

    def versions(self):
        return {
            "Pillow": PIL.__version__,
            "libavif": features.version("avif") or "unknown",
            "codecs": AvifImagePlugin._avif.codec_versions(),
        }
