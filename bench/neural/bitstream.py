"""The self-describing bitstream of codec-bench's learned codecs.

Layout, format version 2 (all of it is counted in the rate)::

    b"CBN" + version byte          magic and format version: b"CBN2" (4 bytes)
    model id                       first 4 bytes of the sha256 of the model's weights file
    quality index                  1 byte (1-based position of the model in its family)
    coding                         1 byte: bits 0-3 the entropy model (0: compressai's float model,
                                   1: portable integer hyper-synthesis, version 1, see
                                   :mod:`bench.neural.portable`); bits 4-7 the padding (0: replicate
                                   to the right and bottom, 1: CompressAI's eval_model padding, zeros
                                   centred); other values are refused
    height, width                  unsigned LEB128 varints (the image size before padding)
    number of string groups        1 byte
      per group: count             varint, then per string: length (varint) and the bytes

The strings are what compressai's ``compress`` returns (one group per entropy-coded tensor: ``y``
for the factorized prior, ``y`` and ``z`` for hyperpriors). The latent shapes follow from the image
size and the architecture's stride, so they are not stored.

Format version 1 (``b"CBN1"``, codec-bench 0.2 and the first portable families) had no coding byte;
its files are still read (the decoder then uses its own model's entropy model and padding). A file of
an unknown version, or whose coding byte does not match the decoding model (a float file for a
portable model, other padding), is refused with a message saying so, never decoded into garbage.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAGIC",
    "VERSION",
    "ENTROPY_FLOAT",
    "ENTROPY_PORTABLE_V1",
    "ENTROPY_MODELS",
    "PADDINGS",
    "Header",
    "pack",
    "unpack",
    "BitstreamError",
]

MAGIC = b"CBN"
VERSION = 2
READABLE_VERSIONS = (1, 2)
ENTROPY_FLOAT = 0
ENTROPY_PORTABLE_V1 = 1
#: entropy model code -> what it is
ENTROPY_MODELS = {
    ENTROPY_FLOAT: "compressai's float entropy model",
    ENTROPY_PORTABLE_V1: "portable integer entropy model (version 1)",
}
#: padding code -> name (the ``padding`` attribute of :class:`bench.neural.codec.CompressAICodec`)
PADDINGS = {0: "replicate", 1: "compressai"}


class BitstreamError(ValueError):
    """Bytes that are not a codec-bench neural bitstream, a truncated one, or one of an unknown format."""


@dataclass(frozen=True)
class Header:
    """What the decoder needs besides the strings. ``entropy`` and ``padding`` are None for version-1
    files (which did not record them)."""

    model_id: bytes
    quality: int
    height: int
    width: int
    entropy: int | None = ENTROPY_FLOAT
    padding: str | None = "replicate"
    version: int = VERSION


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise BitstreamError(f"bitstream truncated: needs {self.pos + n} bytes, has {len(self.data)}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise BitstreamError("malformed varint")


def pack(header: Header, groups: list[list[bytes]]) -> bytes:
    """The bytes of a version-2 file (``header.version`` is ignored: only version 2 is written)."""
    if len(header.model_id) != 4 or not 1 <= header.quality <= 255 or len(groups) > 255:
        raise ValueError("model id must be 4 bytes, quality 1..255, at most 255 string groups")
    if header.entropy not in ENTROPY_MODELS or header.padding not in PADDINGS.values():
        raise ValueError(f"unknown entropy model {header.entropy!r} or padding {header.padding!r}")
    padding = next(code for code, name in PADDINGS.items() if name == header.padding)
    out = bytearray(MAGIC + bytes([0x30 + VERSION]) + header.model_id + bytes([header.quality]))
    out.append(header.entropy | padding << 4)
    out += _varint(header.height) + _varint(header.width) + bytes([len(groups)])
    for group in groups:
        out += _varint(len(group))
        for string in group:
            out += _varint(len(string)) + string
    return bytes(out)


def unpack(data: bytes) -> tuple[Header, list[list[bytes]]]:
    """Header and string groups of a version-1 or version-2 file; :class:`BitstreamError` otherwise."""
    reader = _Reader(bytes(data))
    magic = reader.take(4)
    if magic[:3] != MAGIC:
        raise BitstreamError("not a codec-bench neural bitstream (bad magic)")
    version = magic[3] - 0x30
    if version not in READABLE_VERSIONS:
        raise BitstreamError(
            f"codec-bench neural bitstream of format version {magic[3:4].decode('latin-1')!r}; this codec-bench "
            f"reads versions {', '.join(map(str, READABLE_VERSIONS))} (a newer codec-bench wrote it?)"
        )
    model_id = reader.take(4)
    quality = reader.take(1)[0]
    entropy: int | None = None
    padding: str | None = None
    if version >= 2:
        coding = reader.take(1)[0]
        entropy, padding_code = coding & 0x0F, coding >> 4
        if entropy not in ENTROPY_MODELS or padding_code not in PADDINGS:
            raise BitstreamError(
                f"unknown coding byte 0x{coding:02x} (entropy model {entropy}, padding {padding_code})"
            )
        padding = PADDINGS[padding_code]
    height, width = reader.varint(), reader.varint()
    groups = []
    for _ in range(reader.take(1)[0]):
        groups.append([reader.take(reader.varint()) for _ in range(reader.varint())])
    if reader.pos != len(reader.data):
        raise BitstreamError(f"{len(reader.data) - reader.pos} unexpected bytes after the last string")
    return Header(model_id, quality, height, width, entropy, padding, version), groups
