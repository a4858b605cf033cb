"""Downloads (bench/data/download.py): the hash a file name carries, a whole sha256 checked, nothing
replaced when refused, nothing fetched offline; a download ends in time (a stalled server, an overall
deadline, a minimum rate) with a one-line message naming the URL, the bytes that arrived and the time;
Ctrl-C and SIGTERM leave no temporary file, and Ctrl-C while ``bench run`` downloads ends it in one line."""

from __future__ import annotations

import _thread
import hashlib
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from bench.data.download import DownloadError, download_file, hash_prefix
from conftest import require_module


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


def refused(url: str, dest, **limits) -> tuple[str, float]:
    """The one-line message of the DownloadError that downloading ``url`` to ``dest`` ends in, and the
    seconds it took; nothing is left beside ``dest``."""
    start = time.monotonic()
    with pytest.raises(DownloadError) as error:
        download_file(url, dest, progress=False, **limits)
    took = time.monotonic() - start
    message = str(error.value)
    assert "\n" not in message and url in message and "nothing was saved" in message
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    return message, took


def test_a_stalled_download_is_given_up_after_the_timeout_naming_the_bytes_that_did_arrive(http_server, tmp_path):
    server = http_server({"w.bin": bytes(100_000)})
    server.mode = "stall"  # the first 50000 bytes, then nothing
    message, took = refused(server.url("w.bin"), tmp_path / "w.bin", timeout=0.5)
    assert "stalled: nothing arrived for 0.5 s after 50000 of 100000 bytes" in message
    assert 0.5 <= took < 3


def test_a_download_still_unfinished_at_the_deadline_of_the_environment_is_given_up(http_server, tmp_path, monkeypatch):
    server = http_server({"w.bin": bytes(10_000)})
    server.mode, server.drip_s = "drip", 0.02  # a byte every 20 ms: never a stall, but 200 s in all
    monkeypatch.setenv("BENCH_DOWNLOAD_DEADLINE", "1")
    message, took = refused(server.url("w.bin"), tmp_path / "w.bin", min_rate=0)
    found = re.search(
        r"did not finish within 1 s \(\$BENCH_DOWNLOAD_DEADLINE\): (\d+) of 10000 bytes arrived in ([\d.]+) s", message
    )
    assert found, message
    assert 10 <= int(found[1]) <= 1 / 0.02 and 1.0 <= float(found[2]) < 2 and took < 3


def test_a_download_under_the_minimum_rate_once_the_timeout_has_passed_is_given_up(http_server, tmp_path):
    server = http_server({"w.bin": bytes(10_000)})
    server.mode, server.drip_s = "drip", 0.02  # 50 bytes/s
    message, took = refused(server.url("w.bin"), tmp_path / "w.bin", timeout=0.5, min_rate=1000, deadline=0)
    found = re.search(r"is too slow: (\d+) of 10000 bytes arrived in ([\d.]+) s \((\d+) bytes/s, under the minimum "
                      r"of 1000 bytes/s, \$BENCH_DOWNLOAD_MIN_RATE\)", message)  # fmt: skip
    assert found, message
    got, seconds, rate = int(found[1]), float(found[2]), int(found[3])
    assert 0.5 <= seconds < 2 and got <= seconds / 0.02 and abs(rate - got / seconds) <= 1 and took < 3


def test_a_limit_in_the_environment_that_is_not_a_number_is_refused_in_one_line(http_server, tmp_path, monkeypatch):
    server = http_server({"w.bin": b"weights"})
    monkeypatch.setenv("BENCH_DOWNLOAD_MIN_RATE", "fast")
    with pytest.raises(
        DownloadError, match=r"^not downloading .*/w\.bin: \$BENCH_DOWNLOAD_MIN_RATE is 'fast', not a number"
    ):
        download_file(server.url("w.bin"), tmp_path / "w.bin", progress=False)
    assert server.requests == [] and not (tmp_path / "w.bin").exists()


def wait_for_request(server, timeout: float = 60) -> None:
    """Wait until ``server`` has been asked for a file (the download has begun)."""
    deadline = time.monotonic() + timeout
    while not server.requests:
        assert time.monotonic() < deadline, "the download never began"
        time.sleep(0.05)
    time.sleep(0.3)  # a few bytes in


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_download_leaves_no_temporary_file_and_ends_the_process_as_the_signal_does(
    http_server, tmp_path, sig
):
    server = http_server({"w.bin": bytes(10_000)})
    server.mode = "drip"
    dest = tmp_path / "cache" / "w.bin"
    code = f"from bench.data.download import download_file; download_file({server.url('w.bin')!r}, {str(dest)!r})"
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        wait_for_request(server)
        child.send_signal(sig)
        assert child.wait(timeout=30) == -sig  # (an uncaught KeyboardInterrupt ends Python by SIGINT)
    finally:
        child.kill()
    assert list(dest.parent.iterdir()) == []


def test_ctrl_c_while_bench_run_downloads_a_zoo_codec_ends_it_in_one_line(http_server, tmp_path, monkeypatch, capsys):
    require_module("compressai", "the zoo's URLs (compressai.zoo)")
    from compressai.zoo.image import model_urls
    from PIL import Image

    from bench.cli import main

    names = {url.rsplit("/", 1)[1] for url in model_urls["bmshj2018-factorized"]["mse"].values()}
    server = http_server({name: bytes(10_000) for name in names})
    server.mode = "drip"
    monkeypatch.setenv("BENCH_COMPRESSAI_URL", server.base)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "images").mkdir()
    Image.new("RGB", (32, 32), "gray").save(tmp_path / "images" / "a.png")

    def press_ctrl_c() -> None:
        wait_for_request(server)
        _thread.interrupt_main()  # as Ctrl-C does: KeyboardInterrupt in the main thread

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        status = main(["run", "--codec", "compressai:bmshj2018-factorized", "--dataset", str(tmp_path / "images"),
                       "--out", str(tmp_path / "run"), "--no-progress", "--jobs", "1"])  # fmt: skip
        presser.join()
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while downloading escaped bench run (a traceback)")
    assert status == 130
    assert capsys.readouterr().err.splitlines()[-1] == "bench run: interrupted before measuring anything"
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    assert server.requests and list(hub.iterdir()) == []


def test_a_resumable_download_keeps_what_arrived_and_asks_only_for_the_rest(http_server, tmp_path):
    data = bytes(range(256)) * 400
    server = http_server({"a.zip": data})
    dest = tmp_path / "cache" / "a.zip"
    sha = hashlib.sha256(data).hexdigest()
    server.mode = "stall"  # half the file, then silence
    with pytest.raises(
        DownloadError, match=r"stalled: .* bytes kept in .*a\.zip\.part: the next try goes on from there"
    ):
        download_file(server.url("a.zip"), dest, sha256=sha, size=len(data), resume=True, timeout=0.5, progress=False)
    assert not dest.exists() and (tmp_path / "cache" / "a.zip.part").stat().st_size == len(data) // 2
    server.mode = "ok"
    download_file(server.url("a.zip"), dest, sha256=sha, size=len(data), resume=True, progress=False)
    assert dest.read_bytes() == data and server.ranges[-1] == f"bytes={len(data) // 2}-"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.zip"]


def test_a_partial_file_longer_than_the_file_or_with_the_wrong_bytes_starts_afresh(http_server, tmp_path):
    data = b"the archive" * 100
    server = http_server({"a.zip": data})
    dest = tmp_path / "a.zip"
    part = tmp_path / "a.zip.part"
    part.write_bytes(data + b"more")  # longer than the file, size unknown: the server answers 416
    download_file(server.url("a.zip"), dest, resume=True, progress=False)
    assert dest.read_bytes() == data and server.ranges == [f"bytes={len(data) + 4}-", None]
    dest.unlink()
    part.write_bytes(b"X" * 10)  # wrong first bytes: the whole file fails its hash, the .part is dropped
    with pytest.raises(DownloadError, match="the expected sha256"):
        download_file(server.url("a.zip"), dest, sha256=hashlib.sha256(data).hexdigest(), resume=True, progress=False)
    assert not part.exists() and not dest.exists()
    download_file(server.url("a.zip"), dest, sha256=hashlib.sha256(data).hexdigest(), resume=True, progress=False)
    assert dest.read_bytes() == data
