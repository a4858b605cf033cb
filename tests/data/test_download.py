"""Downloads (bench/data/download.py): the hash a file name carries, a whole sha256 checked, nothing
replaced when refused, nothing fetched offline."""

from __future__ import annotations

import hashlib

import pytest

from bench.data.download import DownloadError, download_file, hash_prefix


def test_the_hash_a_file_name_carries_is_the_hex_after_its_last_dash():
    assert hash_prefix("bmshj2018-hyperprior-1-7eb97409.pth.tar") == "7eb97409"
    assert hash_prefix("cheng2020_attn-ms-ssim-6-216423ec.pth.tar") == "216423ec"
    assert hash_prefix("resnet18-f37072fd9.pth") == "f37072fd9"
    assert hash_prefix("model-1.pth.tar") is None and hash_prefix("weights.safetensors") is None
    assert hash_prefix("model-1-7eb9740.pth.tar") is None  # fewer than 8 hex digits


def test_download_file_can_check_a_whole_sha256_and_replaces_nothing_when_refused(http_server, tmp_path):
    data = b"weights" * 1000
    server = http_server({"w.bin": data})
    dest = tmp_path / "cache" / "w.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    with pytest.raises(DownloadError, match="the expected sha256"):
        download_file(f"{server.base}/w.bin", dest, sha256="0" * 64)
    assert dest.read_bytes() == b"old" and [p.name for p in dest.parent.iterdir()] == ["w.bin"]
    download_file(f"{server.base}/w.bin", dest, sha256=hashlib.sha256(data).hexdigest())
    assert dest.read_bytes() == data
    with pytest.raises(DownloadError, match=r"cannot download .*/missing\.bin: HTTP 404"):
        download_file(f"{server.base}/missing.bin", tmp_path / "cache" / "missing.bin")


def test_download_file_offline_refuses_without_touching_network_or_disk(tmp_path):
    with pytest.raises(DownloadError, match=r"^not downloading http://127.0.0.1:9/x.bin: downloading is switched off"):
        download_file("http://127.0.0.1:9/x.bin", tmp_path / "cache" / "x.bin", offline=True)
    assert not (tmp_path / "cache").exists()
