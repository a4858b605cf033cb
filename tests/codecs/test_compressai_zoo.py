"""CompressAI's zoo codecs (bench_codecs/compressai_zoo.py): their weights are downloaded on first use
(bench run, bench verify), hash-checked, never half; they load the checkpoints of torch's hub cache.

A local HTTP server on 127.0.0.1 plays CompressAI's model server, reached through
``$BENCH_COMPRESSAI_URL``. It serves small untrained compressai models (the real format, not
CompressAI's results) under names that carry their own sha256 prefix, which stand in for
``compressai.zoo.image.model_urls`` of ``bmshj2018-factorized``; torch's hub cache is a temporary
``$TORCH_HOME``.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.api.codec_registry import discover
from bench.data.download import DownloadError, hash_prefix
from bench.neural.bitstream import unpack
from bench.run.runner import RunConfig, RunSetupError, run, select_codecs
from bench.run.verify import VerifyConfig, VerifyError, verify
from conftest import bench_cli, require_module

require_module("compressai", "the zoo's models and their URLs (compressai.zoo)")


ARCH = "bmshj2018-factorized"


CODEC = f"compressai:{ARCH}"


QUALITIES = range(1, 9)


#: Where model_urls points in these tests: never reached, $BENCH_COMPRESSAI_URL replaces it.
PUBLISHED = "https://compressai.invalid/models/v1"


def tiny_checkpoint(seed: int) -> bytes:
    """The bytes of a small untrained factorized-prior model (N = M = 4) with its coding tables."""
    import torch
    from compressai.zoo.image import model_architectures

    torch.manual_seed(seed)
    net = model_architectures[ARCH](N=4, M=4)
    net.update(force=True)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


def named(stem: str, data: bytes) -> str:
    """``stem-<sha256 prefix>.pth.tar``: a file name carrying the hash of ``data`` (torch hub convention)."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth.tar"


@pytest.fixture(scope="module")
def checkpoints() -> dict[int, tuple[str, bytes]]:
    """quality -> (file name carrying its hash, bytes): one small model per quality."""
    out = {}
    for q in QUALITIES:
        data = tiny_checkpoint(q)
        out[q] = (named(f"tiny-factorized-{q}", data), data)
    return out


@pytest.fixture
def server(http_server, monkeypatch, tmp_path: Path):
    """CompressAI's model server (tests/http_server.py, files under /zoo/) as ``$BENCH_COMPRESSAI_URL``;
    torch's hub cache in ``tmp_path``."""
    served = http_server(prefix="zoo")
    monkeypatch.setenv("BENCH_COMPRESSAI_URL", served.base)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return served


def publish(monkeypatch, names: dict[int, str]) -> None:
    """Make ``names`` (quality -> file name) the MSE checkpoints of bmshj2018-factorized in model_urls."""
    from compressai.zoo.image import model_urls

    monkeypatch.setitem(model_urls[ARCH], "mse", {q: f"{PUBLISHED}/{name}" for q, name in names.items()})


def serve_all(server, monkeypatch, checkpoints, how: str = "ok") -> None:
    """Serve every checkpoint (``how``: the server's mode, "ok" or "truncated") and publish their names."""
    server.mode = how
    for name, data in checkpoints.values():
        server.files[name] = data
    publish(monkeypatch, {q: name for q, (name, _) in checkpoints.items()})


def hub(tmp_path: Path) -> Path:
    return tmp_path / "torch" / "hub" / "checkpoints"


def zoo_codec(name: str = CODEC):
    return discover(use_entry_points=False).get(name).cls


def image(height: int = 40, width: int = 56) -> np.ndarray:
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 255, width)[None, :, None] * np.ones((height, 1, 3))
    return np.clip(gradient + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)


def assert_one_line_naming(message: str, url: str, *words: str) -> None:
    assert "\n" not in message and url in message
    for word in words:
        assert word in message


def test_first_use_downloads_every_checkpoint_into_the_hub_cache_and_the_codec_codes_with_them(
    server, monkeypatch, tmp_path, checkpoints, capsys
):
    serve_all(server, monkeypatch, checkpoints)
    cls = zoo_codec()
    assert cls.checkpoint(1)[0] == f"{server.base}/{checkpoints[1][0]}"  # the base URL replaced, the name kept
    assert cls.unavailable_reason().startswith(f"8 pretrained checkpoint(s) not in {hub(tmp_path)}")

    cls.fetch(offline=False)

    assert f"{CODEC}: downloading 8 pretrained checkpoint(s) into {hub(tmp_path)}" in capsys.readouterr().err
    assert sorted(p.name for p in hub(tmp_path).iterdir()) == sorted(name for name, _ in checkpoints.values())
    assert (hub(tmp_path) / checkpoints[3][0]).read_bytes() == checkpoints[3][1]
    assert cls.unavailable_reason() is None
    pixels = image()
    decoded = cls().decode(cls().encode(pixels, 2))
    assert decoded.shape == pixels.shape and decoded.dtype == np.uint8
    asked = len(server.requests)
    cls.fetch(offline=False)  # only on first use: nothing is fetched again
    assert len(server.requests) == asked == 8


def test_a_truncated_download_is_refused_and_leaves_nothing_in_the_cache(server, monkeypatch, tmp_path, checkpoints):
    serve_all(server, monkeypatch, checkpoints, how="truncated")
    cls = zoo_codec()
    with pytest.raises(DownloadError) as refused:
        cls.fetch(offline=False)
    url = f"{server.base}/{checkpoints[1][0]}"
    size = len(checkpoints[1][1])
    assert_one_line_naming(str(refused.value), url, f"incomplete: {size // 2} of {size} bytes", "nothing was saved")
    assert list(hub(tmp_path).iterdir()) == []  # not even a temporary file
    assert cls.unavailable_reason() is not None


def test_a_download_with_another_hash_than_its_name_says_is_refused_and_leaves_nothing(
    server, monkeypatch, tmp_path, checkpoints
):
    good_name, other = checkpoints[1][0], checkpoints[2][1]
    server.files[good_name] = other  # the server sends another file under this name
    publish(monkeypatch, {q: good_name for q in QUALITIES})
    with pytest.raises(DownloadError) as refused:
        zoo_codec().fetch(offline=False)
    expected = hash_prefix(good_name)
    actual = hashlib.sha256(other).hexdigest()[:8]
    assert_one_line_naming(str(refused.value), f"{server.base}/{good_name}", f"sha256 {actual}..., not {expected}...")
    assert list(hub(tmp_path).iterdir()) == []


def test_offline_nothing_is_downloaded_and_the_reason_says_which_files_where_from_which_url(
    server, monkeypatch, tmp_path, checkpoints
):
    serve_all(server, monkeypatch, checkpoints)
    cls = zoo_codec()
    cls.fetch(offline=True)
    reason = cls.unavailable_reason()  # what `bench codecs` shows: it never downloads either
    assert server.requests == [] and not hub(tmp_path).exists()
    name = checkpoints[1][0]
    assert_one_line_naming(reason, f"{server.base}/{name}", f"not in {hub(tmp_path)}", name, "(about 140 MB")
    with pytest.raises(RunSetupError, match=f"codec '{CODEC}' is not available here: 8 pretrained checkpoint"):
        select_codecs(discover(use_entry_points=False), [CODEC], offline=True)
    with pytest.raises(VerifyError, match=f"codec '{CODEC}' is not available here: 8 pretrained checkpoint"):
        verify(VerifyConfig(CODEC, offline=True))
    assert server.requests == []


def test_without_network_the_error_names_the_url_and_the_files_to_place_where(monkeypatch, tmp_path, checkpoints):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("BENCH_COMPRESSAI_URL", f"http://127.0.0.1:{port}/zoo/")  # a trailing slash is fine
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    publish(monkeypatch, {q: name for q, (name, _) in checkpoints.items()})
    with pytest.raises(RunSetupError) as refused:
        select_codecs(discover(use_entry_points=False), [CODEC], offline=False)
    name = checkpoints[1][0]
    url = f"http://127.0.0.1:{port}/zoo/{name}"
    assert_one_line_naming(str(refused.value), url, f"cannot download {url}", f"missing in {hub(tmp_path)}", "by hand")
    assert list(hub(tmp_path).iterdir()) == []


def test_the_msssim_weights_are_codecs_of_their_own_outside_the_default_run(monkeypatch):
    from compressai.zoo.image import model_urls

    monkeypatch.delenv("BENCH_COMPRESSAI_URL", raising=False)
    registry = discover(use_entry_points=False)
    for arch, by_metric in model_urls.items():
        if f"compressai:{arch}" not in registry:
            continue
        entry = registry.get(f"compressai:{arch}-msssim")
        assert not entry.cls.in_default_run and entry.cls.metric == "ms-ssim" and entry.cls.arch == arch
        assert entry.cls.knob.sweep == tuple(sorted(by_metric["ms-ssim"]))
        url, path = entry.cls.checkpoint(1)
        assert url == by_metric["ms-ssim"][1] and path.name == url.rsplit("/", 1)[1] and "ms-ssim" in path.name
        assert entry.create("cpu").settings()["metric"] == "ms-ssim"
        assert registry.get(f"compressai:{arch}").cls.metric == "mse"


def test_bench_verify_fetches_first_and_a_failed_fetch_makes_the_codec_unavailable(
    server, monkeypatch, tmp_path, checkpoints
):
    serve_all(server, monkeypatch, checkpoints, how="truncated")
    with pytest.raises(VerifyError) as refused:
        verify(VerifyConfig(CODEC, dataset=str(tmp_path / "nowhere")))
    assert str(refused.value).startswith(f"codec '{CODEC}' is not available here: download of {server.base}/")
    assert "incomplete" in str(refused.value) and server.requests


def test_bench_run_offline_downloads_nothing_and_says_what_is_missing(server, monkeypatch, tmp_path, checkpoints):
    serve_all(server, monkeypatch, checkpoints)
    dataset = tmp_path / "images"
    dataset.mkdir()
    Image.fromarray(image()).save(dataset / "a.png")
    config = RunConfig(dataset=str(dataset), codecs=(CODEC,), qualities=(1,), offline=True, out=tmp_path / "run")
    with pytest.raises(RunSetupError) as refused:
        run(config, progress=False, echo=lambda line: None)
    assert server.requests == [] and not hub(tmp_path).exists()
    name = checkpoints[1][0]
    assert_one_line_naming(str(refused.value), f"{server.base}/{name}", f"not in {hub(tmp_path)}", "not with --offline")


def test_bench_run_fetches_the_weights_in_its_main_process_before_measuring(server, checkpoints, tmp_path):
    """End to end: `bench run` downloads in its main process; its workers then load the cached weights.

    Every process of the run sees the test's checkpoint names through a plugin file that edits
    model_urls (the workers do not share this process's memory)."""
    names = {q: name for q, (name, _) in checkpoints.items()}
    for name, data in checkpoints.values():
        server.files[name] = data
    plugin = tmp_path / "zoo_names.py"
    plugin.write_text(
        "import json\n"
        "from bench.api.metric import Metric, register_metric\n"
        "from bench.neural import import_compressai\n\n"
        f"NAMES = {json.dumps({str(q): n for q, n in names.items()})}\n"
        f"import_compressai().zoo.image.model_urls[{ARCH!r}]['mse'] = "
        f"{{int(q): {PUBLISHED!r} + '/' + n for q, n in NAMES.items()}}\n\n\n"
        "@register_metric\n"
        "class Unused(Metric):  # a plugin file must define a codec or a metric\n"
        "    name, label, axis_label = 'unused', 'unused', 'unused'\n\n"
        "    def compute(self, ref, dist):\n"
        "        return 0.0\n"
    )
    dataset = tmp_path / "images"
    dataset.mkdir()
    Image.fromarray(image(48, 64)).save(dataset / "a.png")
    env = {"BENCH_COMPRESSAI_URL": server.base, "TORCH_HOME": str(tmp_path / "torch"), "no_proxy": "127.0.0.1"}
    args = ("run", "--dataset", str(dataset), "--codec", CODEC, "--quality", "1", "--max-images", "1", "-j", "1",
            "--metrics", "psnr_rgb", "--plugin", str(plugin), "--no-progress", "--no-report")  # fmt: skip

    result = bench_cli(*args, "--out", str(tmp_path / "run"), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.requests) == 8
    assert sorted(p.name for p in hub(tmp_path).iterdir()) == sorted(names.values())
    records = (tmp_path / "run" / "records.csv").read_text().splitlines()
    assert len(records) == 2 and CODEC in records[1]


def test_zoo_codecs_say_which_file_to_place_where(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    reason = discover(use_entry_points=False).get("compressai:bmshj2018-hyperprior").unavailable_reason()
    assert f"not in {tmp_path / 'torch' / 'hub' / 'checkpoints'}" in reason
    assert "bmshj2018-hyperprior-1-7eb97409.pth.tar from https://compressai.s3.amazonaws.com/models/v1/" in reason


def test_zoo_codec_loads_checkpoints_from_the_hub_cache(monkeypatch, tmp_path, kodak_crop):
    """Checkpoints laid out as CompressAI publishes them (here a small untrained model in that format:
    this checks the loading and coding path, not CompressAI's results)."""
    import torch
    from compressai.models import ScaleHyperprior

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cls = discover(use_entry_points=False).get("compressai:bmshj2018-hyperprior").cls
    torch.manual_seed(0)
    net = ScaleHyperprior(N=8, M=8)
    net.update(force=True)
    for q in range(1, 9):
        path = cls.checkpoint(q)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
    assert cls.unavailable_reason() is None
    codec = cls()
    data = codec.encode(kodak_crop, 1)
    assert unpack(data)[0].model_id == bytes.fromhex("7eb97409")
    assert cls().decode(data).shape == kodak_crop.shape
