"""VVC intra (H.266) with the JVET reference software VTM: ``EncoderApp``/``DecoderApp``.

Two codecs, the same programs and configuration (the all-intra ``encoder_intra_vtm.cfg`` of the VTM
tree, internal bit depth 10, one frame), swept over the QP (0-63; smaller QP = more bits):

* ``vtm``: YCbCr BT.709 full range 4:4:4 at **10 bits**, rounded both ways (``bench_codecs._yuv``:
  ``Y = 0.2126 R + 0.7152 G + 0.0722 B``, ``Cb = 128 + (B - Y) / 1.8556``, ``Cr = 128 + (R - Y) / 1.5748``,
  codes ``floor(4 v + 0.5)``; back by the inverse matrix, rounded half up). The field's VVC anchor
  without the 8-bit truncation of CompressAI's pipeline.
* ``vtm-compressai``: exactly CompressAI's ``utils.bench vtm`` (v1.2): ``compressai.transforms.functional.
  rgb2ycbcr`` (the same BT.709 full-range matrix) on RGB / 255 in float32, **truncated** to 8 bits
  (``astype(uint8)`` of ``v * 255``), ``--InputBitDepth=8``; decoded with ``-d 8`` (the decoder rounds
  its 10-bit samples to 8) and ``ycbcr2rgb``, clipped to [0, 1] and truncated again by ``* 255``. With
  it, CompressAI's published VTM curve can be reproduced and the cost of their truncations measured.

The bitstream is VTM's whole output file (parameter sets included, no SEI, and no VUI: VTM would add
one, about 10 bytes, for Y4M input, which ``--WriteVuiHrdFromY4m=0`` turns off so that the file is the
one CompressAI's raw-YUV input gives); the decoder gets only it
and writes a Y4M file whose header gives the picture size (``--ConformanceWindowMode=1`` pads sizes
that are not multiples of 8 and signals the crop in the bitstream). Programs: ``$BENCH_ENCODERAPP``
and ``$BENCH_DECODERAPP`` or ``EncoderApp``/``DecoderApp`` on PATH; configuration:
``$BENCH_VTM_CFG``, else ``cfg/encoder_intra_vtm.cfg`` beside the encoder's ``bin/`` folder (the VTM
source tree's layout). Build VTM from https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM (cmake
Release, targets ``EncoderApp DecoderApp``). VTM is slow: about 76 s to encode one 768x512 image at
QP 32 on one core, so neither codec is in the default run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from bench.api.codec import CodecError, Knob, register_codec
from bench.api.external import ExternalCodec, find_program
from bench_codecs import _yuv

CONFIG_NAME = "encoder_intra_vtm.cfg"


def config_path() -> Path | None:
    """The all-intra configuration: ``$BENCH_VTM_CFG``, else ``../cfg/encoder_intra_vtm.cfg`` from EncoderApp."""
    override = os.environ.get("BENCH_VTM_CFG")
    if override:
        return Path(override) if Path(override).is_file() else None
    encoder = find_program("EncoderApp")
    if encoder is None:
        return None
    path = Path(encoder).resolve().parent.parent / "cfg" / CONFIG_NAME
    return path if path.is_file() else None


class _VtmBase(ExternalCodec):
    extension = "bin"
    encoder = "EncoderApp"
    decoder = "DecoderApp"
    in_default_run = False
    timeout_s = 7200.0
    version_args = ("--help",)
    install_hint = (
        "Build VTM (https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM, cmake Release, targets EncoderApp "
        "DecoderApp) and put the programs on PATH or name them with BENCH_ENCODERAPP/BENCH_DECODERAPP; "
        "BENCH_VTM_CFG names encoder_intra_vtm.cfg when it is not in cfg/ beside the programs' bin/."
    )
    knob = Knob("qp", 0, 63, (42, 37, 32, 27, 22), rate_grows=False, description="VVC QP")
    input_name = "input.y4m"
    output_name = "decoded.y4m"
    #: bit depth of the YCbCr file the encoder reads
    input_bits: int = 10

    @classmethod
    def unavailable_reason(cls) -> str | None:
        reason = super().unavailable_reason()
        if reason is None and config_path() is None:
            return f"{CONFIG_NAME} not found (set BENCH_VTM_CFG). {cls.install_hint}"
        return reason

    def encode_args(self, quality, src, dst):
        cfg = config_path()
        if cfg is None:
            raise CodecError(self.unavailable_reason() or f"{CONFIG_NAME} not found")
        return [
            "-c", str(cfg), "-i", str(src), "-b", str(dst), "-o", os.devnull, "-q", str(int(quality)),
            "-f", "1", "-fr", "1", "--InputChromaFormat=444", f"--InputBitDepth={self.input_bits}",
            "--ConformanceWindowMode=1", "--WriteVuiHrdFromY4m=0",
        ]  # fmt: skip

    def decode_args(self, src, dst):
        return ["-b", str(src), "-o", str(dst), "-d", str(self.input_bits)]

    def _planes(self, path: Path) -> list[np.ndarray]:
        return _yuv.read_decoded(path, self.decoder, "444", self.input_bits)

    def program_version(self, program: str) -> str:
        text = super().program_version(program)
        return text.removeprefix("VVCSoftware: ").split(" [")[0]

    def settings(self):
        cfg = config_path()
        return {
            "configuration": cfg.name if cfg else None,
            "configuration_sha256": hashlib.sha256(cfg.read_bytes()).hexdigest() if cfg else None,
            "chroma": "4:4:4",
            "frames": 1,
            "programs": self.program_paths(),
        }


@register_codec
class VtmCodec(_VtmBase):
    name = "vtm"
    input_bits = 10

    def write_input(self, image, path):
        codes = _yuv.to_code(_yuv.rgb_to_ycbcr(image), 10)
        _yuv.write_y4m(path, list(codes), 10, "444")

    def read_output(self, path):
        return _yuv.ycbcr_to_rgb(_yuv.from_code(np.stack(self._planes(path)), 10))

    def settings(self):
        return {
            **super().settings(),
            "colour": "YCbCr BT.709 full range, float64 conversion, rounded half up both ways",
            "bit_depth": 10,
        }


@register_codec
class VtmCompressaiCodec(_VtmBase):
    name = "vtm-compressai"
    input_bits = 8

    def write_input(self, image, path):
        import torch
        from compressai.transforms.functional import rgb2ycbcr

        rgb = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255
        ycbcr = np.clip(rgb2ycbcr(rgb).numpy(), 0, 1)
        _yuv.write_y4m(path, list((ycbcr * 255).astype(np.uint8)), 8, "444")

    def read_output(self, path):
        import torch
        from compressai.transforms.functional import ycbcr2rgb

        rec = np.stack(self._planes(path)).astype(np.uint8).astype(np.float32) / 255
        rgb = ycbcr2rgb(torch.from_numpy(rec)).numpy()
        return (rgb.clip(0, 1).transpose(1, 2, 0) * 255.0).astype(np.uint8)

    def versions(self):
        import compressai

        return {**super().versions(), "compressai": compressai.__version__}

    def settings(self):
        return {
            **super().settings(),
            "colour": "CompressAI 1.2 utils.bench vtm: rgb2ycbcr/ycbcr2rgb in float32, truncated to 8 bits both ways",
            "bit_depth": 8,
        }
