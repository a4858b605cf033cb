"""HEIF with HEVC intra coding (HEIC) through pillow-heif, libheif and the x265 encoder.

Settings: 8-bit YCbCr 4:4:4 (like CompressAI's BPG anchor; better RGB fidelity than 4:2:0 at
the same rate on photographs), BT.601 full-range matrix signalled in an nclx colour box, x265
preset ``medium``, one x265 worker thread (``pools=1``, which gives the same bytes as the
default thread pool). The knob is libheif's quality (0-100), which libheif maps to x265's CRF.
Decoding with libde265, one thread. The HEIF container (about 300-400 bytes of boxes) is counted
in the rate: the decoder needs it.
"""

from __future__ import annotations

import io

import numpy as np

from bench.api.codec import Codec, CodecError, Knob, check_rgb8, register_codec

ENC_PARAMS = {"preset": "medium", "x265:pools": "1"}
NCLX = {"matrix_coefficients": 6, "color_primaries": 1, "transfer_characteristic": 13, "full_range_flag": 1}
CHROMA = 444


def _pillow_heif():
    import pillow_heif

    return pillow_heif


@register_codec
class HeifCodec(Codec):
    name = "heif"
    extension = "heic"
    knob = Knob("quality", 0, 100, (10, 20, 25, 30, 35, 40, 45, 50, 60, 70), description="libheif quality (x265 CRF)")

    @classmethod
    def unavailable_reason(cls):
        try:
            encoders = _pillow_heif().libheif_info().get("encoders", {})
        except ImportError as exc:
            return f"pillow-heif is not installed ({exc}); pip install pillow-heif"
        if "x265" not in encoders:
            return "the installed libheif has no x265 HEVC encoder"
        return None

    def __init__(self):
        # libheif decodes with several threads by default; this setting is per process.
        _pillow_heif().options.DECODE_THREADS = 1

    def encode(self, image, quality):
        check_rgb8(image)
        ph = _pillow_heif()
        heif = ph.from_bytes("RGB", (image.shape[1], image.shape[0]), image.tobytes())
        buf = io.BytesIO()
        heif.save(buf, quality=int(quality), chroma=CHROMA, enc_params=dict(ENC_PARAMS), save_nclx_profile=True, **NCLX)
        return buf.getvalue()

    def decode(self, data):
        heif = _pillow_heif().open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        if heif.mode != "RGB":
            raise CodecError(f"HEIF decoder returned mode {heif.mode}, expected RGB")
        return np.asarray(heif)

    def settings(self):
        return {"chroma": "4:4:4", "bit_depth": 8, "encoder": "x265", **ENC_PARAMS, "nclx": NCLX, "decode_threads": 1}

    def versions(self):
        ph = _pillow_heif()
        info = ph.libheif_info()
        return {
            "pillow-heif": ph.__version__,
            "libheif": ph.libheif_version(),
            "x265": info.get("encoders", {}).get("x265", "unknown"),
            "decoder": ", ".join(info.get("decoders", {}).values()) or "unknown",
        }
