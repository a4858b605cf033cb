"""The self-describing bitstream of codec-bench's learned codecs.

Layout (all of it is counted in the rate)::

    b"CBN1"                      magic and format version (4 bytes)
    model id                     first 4 bytes of the sha256 of the model's weights file
    quality index                1 byte (1-based position of the model in its family)
    height, width                unsigned LEB128 varints (the image size before padding)
    number of string groups      1 byte
      per group: count           varint, then per string: length (varint) and the bytes

The strings are what compressai's ``compress`` returns (one group per entropy-coded tensor: ``y``
for the factorized prior, ``y`` and ``z`` for hyperpriors). The latent shapes follow from the image
size and the architecture's stride, so they are not stored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAGIC", "Header", "pack", "unpack", "BitstreamError"]

MAGIC = b"CBN1"


class BitstreamError(ValueError):
    """Bytes that are not a codec-bench neural bitstream, or a truncated one."""


@dataclass(frozen=True)
class Header:
    model_id: bytes
    quality: int
    height: int
    width: int


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
    if len(header.model_id) != 4 or not 1 <= header.quality <= 255 or len(groups) > 255:
        raise ValueError("model id must be 4 bytes, quality 1..255, at most 255 string groups")
    out = bytearray(MAGIC + header.model_id + bytes([header.quality]))
    out += _varint(header.height) + _varint(header.width) + bytes([len(groups)])
    for group in groups:
        out += _varint(len(group))
        for string in group:
            out += _varint(len(string)) + string
    return bytes(out)


def unpack(data: bytes) -> tuple[Header, list[list[bytes]]]:
    reader = _Reader(bytes(data))
    if reader.take(4) != MAGIC:
        raise BitstreamError("not a codec-bench neural bitstream (bad magic)")
    model_id = reader.take(4)
    quality = reader.take(1)[0]
    height, width = reader.varint(), reader.varint()
    groups = []
    for _ in range(reader.take(1)[0]):
        groups.append([reader.take(reader.varint()) for _ in range(reader.varint())])
    if reader.pos != len(reader.data):
        raise BitstreamError(f"{len(reader.data) - reader.pos} unexpected bytes after the last string")
    return Header(model_id, quality, height, width), groups
