"""JPEG XL through the reference command-line tools ``cjxl``/``djxl`` (Debian: libjxl-tools).

The same codec family as ``jpegxl`` but run as external programs, e.g. to measure a libjxl build
other than the one bundled with imagecodecs. Settings: effort 7, one thread, distance sweep.
Not in the default run (``--codec jpegxl-cli`` to measure it).
"""

from __future__ import annotations

from bench.api.codec import Knob, register_codec
from bench.api.external import ExternalCodec
from bench_codecs.jpegxl import EFFORT, JpegXlCodec


@register_codec
class JpegXlCliCodec(ExternalCodec):
    name = "jpegxl-cli"
    extension = "jxl"
    encoder = "cjxl"
    decoder = "djxl"
    in_default_run = False
    install_hint = "Install libjxl's tools (Debian/Ubuntu: apt-get install libjxl-tools)."
    knob: Knob = JpegXlCodec.knob

    def encode_args(self, quality, src, dst):
        return [
            str(src),
            str(dst),
            f"--distance={float(quality):g}",
            f"--effort={EFFORT}",
            "--container=0",
            "--num_threads=1",
            "--quiet",
        ]

    def decode_args(self, src, dst):
        return [str(src), str(dst), "--bits_per_sample=8", "--num_threads=1", "--quiet"]

    def settings(self):
        return {"effort": EFFORT, "container": False, "threads": 1, "programs": self.program_paths()}
