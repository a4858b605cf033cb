"""JPEG (ITU-T T.81) through Pillow and libjpeg-turbo.

Settings are Pillow's defaults, the ones behind CompressAI's published JPEG results: baseline
sequential DCT, YCbCr with 4:2:0 chroma subsampling, the IJG quality scaling of the Annex K
quantisation tables, standard (not optimised) Huffman tables, JFIF header. Decoding uses
libjpeg-turbo's defaults (accurate integer IDCT, fancy upsampling). Single-threaded.
"""

from __future__ import annotations

import PIL
from PIL import features

from bench.api.codec import Codec, Knob, register_codec
from bench_codecs._pillow import pillow_decode, pillow_encode

OPTIONS = {"subsampling": "4:2:0", "optimize": False, "progressive": False}


@register_codec
class JpegCodec(Codec):
    name = "jpeg"
    extension = "jpg"
    knob = Knob("quality", 1, 100, tuple(range(5, 100, 5)), description="IJG quality factor")

    def encode(self, image, quality):
        return pillow_encode(image, "JPEG", quality=int(quality), **OPTIONS)

    def decode(self, data):
        return pillow_decode(data, "JPEG")

    def settings(self):
        return {**OPTIONS, "quantisation": "Annex K tables, IJG quality scaling", "threads": 1}

    def versions(self):
        return {"Pillow": PIL.__version__, "libjpeg-turbo": features.version_feature("libjpeg_turbo") or "unknown"}
