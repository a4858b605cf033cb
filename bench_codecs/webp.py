"""WebP (lossy, VP8 intra) through Pillow and libwebp.

Settings are Pillow's defaults, as in CompressAI's published WebP results: lossy mode, method 4
(libwebp's default speed/size trade-off), YUV 4:2:0 without sharp-YUV conversion, no alpha.
Single-threaded encoder and decoder.
"""

from __future__ import annotations

import PIL
from PIL import features

from bench.api.codec import Codec, Knob, register_codec
from bench_codecs._pillow import pillow_decode, pillow_encode

OPTIONS = {"lossless": False, "method": 4}


@register_codec
class WebpCodec(Codec):
    name = "webp"
    extension = "webp"
    knob = Knob("quality", 0, 100, tuple(range(5, 100, 5)), description="libwebp quality factor")

    def encode(self, image, quality):
        return pillow_encode(image, "WEBP", quality=int(quality), **OPTIONS)

    def decode(self, data):
        return pillow_decode(data, "WEBP")

    def settings(self):
        return {**OPTIONS, "chroma": "4:2:0", "threads": 1}

    def versions(self):
        return {"Pillow": PIL.__version__, "libwebp": features.version("webp") or "unknown"}
