"""BPG (HEVC intra, Fabrice Bellard's libbpg) through the ``bpgenc``/``bpgdec`` programs.

The settings of CompressAI's BPG anchor: x265 encoder, YCbCr colour space, 4:4:4 chroma, 8 bits,
swept over the HEVC quantisation parameter (QP, 0-51; smaller QP = more bits). libbpg is not
packaged for PyPI or Debian: build it from https://bellard.org/bpg/ (``make && make install``,
needs libpng, libjpeg, SDL for bpgview and cmake/yasm for x265) and put ``bpgenc``/``bpgdec`` on
PATH, or name them with ``BENCH_BPGENC``/``BENCH_BPGDEC``.
"""

from __future__ import annotations

from bench.api.codec import Knob, register_codec
from bench.api.external import ExternalCodec

ENCODER_OPTIONS = {"-e": "x265", "-c": "ycbcr", "-f": "444", "-b": "8"}


@register_codec
class BpgCodec(ExternalCodec):
    name = "bpg"
    extension = "bpg"
    encoder = "bpgenc"
    decoder = "bpgdec"
    version_args = ("-h",)
    install_hint = (
        "BPG is not packaged: build libbpg from https://bellard.org/bpg/ (make && make install) "
        "so that bpgenc and bpgdec are on PATH."
    )
    knob = Knob("qp", 0, 51, (47, 42, 37, 32, 27, 22, 17, 12), rate_grows=False, description="HEVC QP")

    def encode_args(self, quality, src, dst):
        options = [item for pair in ENCODER_OPTIONS.items() for item in pair]
        return ["-o", str(dst), "-q", str(int(quality)), *options, str(src)]

    def decode_args(self, src, dst):
        return ["-o", str(dst), str(src)]

    def settings(self):
        return {
            "encoder": "x265",
            "colour_space": "ycbcr",
            "chroma": "4:4:4",
            "bit_depth": 8,
            "programs": self.program_paths(),
        }
