"""VVC intra (H.266) with Fraunhofer HHI's VVenC encoder and VVdeC decoder (``vvencapp``/``vvdecapp``).

VVenC reads only 4:2:0 (and 4:0:0): the RGB image becomes YCbCr BT.709 full range (the conversion of
``vtm``, ``bench_codecs._yuv``), chroma is averaged over 2 x 2 blocks (centre-sited) and everything is
written at **10 bits**, rounded half up; decoding upsamples chroma bilinearly and converts back,
rounded half up. So ``vvc`` also measures what 4:2:0 costs against the 4:4:4 ``vtm``. Settings: one
frame, constant QP (``-q``, 0-63, smaller = more bits), ``--qpa 0`` (no perceptual QP adaptation,
which would optimise XPSNR rather than PSNR), one thread for each program, and a preset
(``faster``, ``fast``, ``medium``, ``slow``, ``slower``; default ``medium``, about 8 s per 768x512
image here; the codec spec ``vvc:preset=slower`` picks another).

4:2:0 needs even sides: an odd-sided image is padded by repeating its last row or column and the
bitstream is preceded by one byte ``0xC0 | 1 (odd width) | 2 (odd height)`` that tells the decoder
what to crop (an Annex B bitstream starts with a zero byte, so this cannot be confused with it; the
byte is counted in the rate). Even-sided images (Kodak) give the plain ``.266`` bitstream.
Programs: ``$BENCH_VVENCAPP``/``$BENCH_VVDECAPP`` or on PATH (build both from
https://github.com/fraunhoferhhi/vvenc and https://github.com/fraunhoferhhi/vvdec). Not in the
default run.
"""

from __future__ import annotations

import numpy as np

from bench.api.codec import Knob, register_codec, register_codec_spec
from bench.api.external import ExternalCodec
from bench_codecs import _yuv

PRESETS = ("faster", "fast", "medium", "slow", "slower")
DEFAULT_PRESET = "medium"
BITS = 10
_CROP_TAG = 0xC0


class _VvcBase(ExternalCodec):
    extension = "266"
    encoder = "vvencapp"
    decoder = "vvdecapp"
    in_default_run = False
    timeout_s = 3600.0
    install_hint = (
        "Build VVenC and VVdeC (https://github.com/fraunhoferhhi/vvenc, https://github.com/fraunhoferhhi/vvdec; "
        "cmake Release) and put vvencapp and vvdecapp on PATH or name them with BENCH_VVENCAPP/BENCH_VVDECAPP."
    )
    knob = Knob("qp", 0, 63, (42, 37, 32, 27, 22), rate_grows=False, description="VVC QP")
    input_name = "input.y4m"
    output_name = "decoded.y4m"
    preset: str = DEFAULT_PRESET

    def encode_args(self, quality, src, dst):
        return ["-i", str(src), "-o", str(dst), "-q", str(int(quality)), "--preset", self.preset,
                "--qpa", "0", "-t", "1", "--internal-bitdepth", str(BITS)]  # fmt: skip

    def decode_args(self, src, dst):
        return ["-b", str(src), "-o", str(dst), "-t", "1"]

    def write_input(self, image, path):
        ycbcr = _yuv.rgb_to_ycbcr(image)
        planes = [_yuv.to_code(ycbcr[0], BITS)] + [_yuv.to_code(_yuv.downsample_420(c), BITS) for c in ycbcr[1:]]
        _yuv.write_y4m(path, planes, BITS, "420")

    def read_output(self, path):
        planes = _yuv.read_decoded(path, self.decoder, "420", BITS)
        y = _yuv.from_code(planes[0], BITS)
        h, w = y.shape
        chroma_planes = [_yuv.upsample_420(_yuv.from_code(c, BITS))[:h, :w] for c in planes[1:]]
        return _yuv.ycbcr_to_rgb(np.stack([y, *chroma_planes]))

    def encode(self, image, quality):
        h, w = image.shape[:2]
        flags = (w % 2) | (h % 2) << 1
        if flags:
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            return bytes([_CROP_TAG | flags]) + super().encode(image, quality)
        return super().encode(image, quality)

    def decode(self, data):
        if data and data[0] & _CROP_TAG == _CROP_TAG:
            flags, data = data[0] & 3, data[1:]
            image = super().decode(data)
            return np.ascontiguousarray(image[: image.shape[0] - (flags >> 1), : image.shape[1] - (flags & 1)])
        return super().decode(data)

    def settings(self):
        return {
            "preset": self.preset,
            "qpa": False,
            "threads": 1,
            "chroma": "4:2:0 (centre-sited, 2x2 mean down, bilinear up)",
            "colour": "YCbCr BT.709 full range, float64 conversion, rounded half up both ways",
            "bit_depth": BITS,
            "frames": 1,
            "programs": self.program_paths(),
        }


@register_codec
class VvcCodec(_VvcBase):
    name = "vvc"


@register_codec_spec("vvc:", usage="vvc:preset=NAME (one of " + ", ".join(PRESETS) + ")")
def vvc_with_preset(name: str):
    """``vvc:preset=slower`` and the like: VVenC with another preset."""
    key, _, value = name.removeprefix("vvc:").partition("=")
    if key != "preset" or value not in PRESETS:
        return None
    if name not in _PRESET_CLASSES:
        qualname = f"VvcCodec_{value}"
        attrs = {"name": name, "preset": value, "__module__": __name__, "__qualname__": qualname}
        _PRESET_CLASSES[name] = type(qualname, (_VvcBase,), attrs)
    return _PRESET_CLASSES[name]


_PRESET_CLASSES: dict[str, type[_VvcBase]] = {}
