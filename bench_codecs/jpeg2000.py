"""JPEG 2000 (ISO/IEC 15444-1) through Pillow and OpenJPEG, rate-controlled.

The knob is the target rate in bits per pixel: OpenJPEG's rate allocation (``quality_mode='rates'``)
truncates the code-blocks so that the codestream lands at or just under ``bpp * H * W / 8`` bytes.
Settings for lossy coding of RGB: irreversible CDF 9/7 wavelet with the irreversible colour
transform (ICT), 6 resolution levels, 64x64 code-blocks, one quality layer, LRCP progression, no
tiling, raw J2K codestream (no JP2 boxes: the codestream is all the decoder needs).
"""

from __future__ import annotations

import PIL
from PIL import features

from bench.api.codec import Codec, Knob, register_codec
from bench_codecs._pillow import pillow_decode, pillow_encode

OPTIONS = {"irreversible": True, "mct": 1, "no_jp2": True, "num_resolutions": 6, "codeblock_size": (64, 64)}
BITS_PER_PIXEL_UNCOMPRESSED = 24  # 3 components x 8 bits: OpenJPEG's rate reference


@register_codec
class Jpeg2000Codec(Codec):
    name = "jpeg2000"
    extension = "j2k"
    knob = Knob(
        "bpp",
        0.01,
        24.0,
        (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
        integer=False,
        description="target bits per pixel (OpenJPEG rate allocation)",
    )

    def encode(self, image, quality):
        ratio = BITS_PER_PIXEL_UNCOMPRESSED / float(quality)
        return pillow_encode(image, "JPEG2000", quality_mode="rates", quality_layers=[ratio], **OPTIONS)

    def decode(self, data):
        return pillow_decode(data, "JPEG2000")

    def settings(self):
        return {
            **OPTIONS,
            "codeblock_size": list(OPTIONS["codeblock_size"]),
            "wavelet": "CDF 9/7 (irreversible)",
            "colour_transform": "ICT",
            "quality_layers": 1,
            "progression": "LRCP",
            "rate_control": "quality_mode=rates, ratio = 24 / bpp",
            "threads": 1,
        }

    def versions(self):
        return {"Pillow": PIL.__version__, "OpenJPEG": features.version("jpg_2000") or "unknown"}
