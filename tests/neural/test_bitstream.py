"""The bitstream of learned codecs (bench/neural/bitstream.py): round trip, damage, older formats."""

from __future__ import annotations

import pytest

from bench.neural.bitstream import ENTROPY_PORTABLE_V1, BitstreamError, Header, pack, unpack


def test_bitstream_round_trip_and_damage():
    header = Header(b"\x01\x02\x03\x04", 3, 512, 768)
    groups = [[b"abc" * 100], [b"", b"z"]]
    data = pack(header, groups)
    assert unpack(data) == (header, groups)
    assert data[:4] == b"CBN2" and data[9] == 0x00  # float entropy model, replicate padding
    assert len(data) == 4 + 4 + 1 + 1 + 2 + 2 + 1 + (1 + 2 + 300) + (1 + 1 + 0 + 1 + 1)
    with pytest.raises(BitstreamError, match="bad magic"):
        unpack(b"JUNK" + data[4:])
    with pytest.raises(BitstreamError, match="truncated"):
        unpack(data[:-5])
    with pytest.raises(BitstreamError, match="unexpected bytes"):
        unpack(data + b"\0")
    with pytest.raises(BitstreamError, match="format version '3'.*reads versions 1, 2"):
        unpack(b"CBN3" + data[4:])
    with pytest.raises(BitstreamError, match="unknown coding byte 0x07"):
        unpack(data[:9] + b"\x07" + data[10:])
    portable = Header(b"\x01\x02\x03\x04", 3, 512, 768, ENTROPY_PORTABLE_V1, "compressai")
    assert pack(portable, groups)[9] == 0x11 and unpack(pack(portable, groups)) == (portable, groups)


def test_format_1_files_are_still_read():
    groups = [[b"abc"]]
    version_1 = b"CBN1" + b"\x01\x02\x03\x04" + bytes([3]) + b"\x80\x04\x80\x06" + b"\x01\x01\x03abc"
    header, read = unpack(version_1)
    assert read == groups and (header.version, header.entropy, header.padding) == (1, None, None)
    assert (header.model_id, header.quality, header.height, header.width) == (b"\x01\x02\x03\x04", 3, 512, 768)
