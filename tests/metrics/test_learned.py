"""Learned metrics (bench/metrics/learned.py): LPIPS equal to the lpips package and DISTS to DISTS_pytorch
with the same weights, and their weights fetched on first use, hash-checked, never used when missing or
different.

The published weights cannot be downloaded here, so the tests make their own: random AlexNet and VGG16
``features`` saved as torchvision saves whole models, random LPIPS linear layers and DISTS alpha/beta,
in a temporary ``$TORCH_HOME``; the metric classes (or, for ``bench run``, plugin subclasses) are
pointed at them, and the reference packages' models get the same tensors. The references get what
their users give them: ``lpips.im2tensor`` (RGB in [-1, 1]) and ``DISTS_pytorch``'s ``prepare_image``
(RGB in [0, 1], not resized). A local HTTP server on 127.0.0.1 plays the weights' hosts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.api.metric import MetricError
from bench.api.metric_registry import compute, discover_metrics
from bench.data.download import hub_checkpoints
from bench.metrics.learned import (
    ALEXNET,
    DISTS_WEIGHTS,
    LPIPS_ALEX_V01,
    LPIPS_MIN_SIDE,
    VGG16,
    Dists,
    Lpips,
    WeightsError,
    WeightsFile,
    load_weights,
)
from conftest import bench_cli, jpeg_roundtrip, relative, require_module

torch = require_module("torch", "the networks")
torchvision = require_module("torchvision", "the AlexNet and VGG16 trunks (of lpips and DISTS_pytorch too)")
lpips_package = require_module("lpips", "the reference LPIPS")
dists_package = require_module("DISTS_pytorch.DISTS_pt", "the reference DISTS")
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # (conftest: quicker on a busy machine)


# Asserted: 1e-5 relative; the largest differences seen on these pairs are 3.2e-7 (LPIPS) and 0 (DISTS):
# the same float32 operations in the same order. A slip in a convention (a constant, a layer) shows.
REL = 1e-5


SIZES = [(64, 96), (67, 101)]


def saved(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def random_trunk(features: torch.nn.Module, seed: int) -> bytes:
    """A torchvision-style state dict (``features.*``, and a classifier that must be ignored) of
    ``features`` with its default random initialisation and small random biases."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v.clone() for k, v in features.state_dict().items()}
    for key, value in state.items():
        if key.endswith("bias"):
            value.uniform_(-0.05, 0.05)
    state["classifier.1.weight"] = torch.randn(4, 4)
    return saved(state)


@pytest.fixture(scope="module")
def weights() -> dict[str, bytes]:
    """The bytes of the four test weights files, by role."""
    torch.manual_seed(7)
    heads = {f"lin{k}.model.1.weight": torch.randn(1, c, 1, 1).abs() for k, c in enumerate((64, 192, 384, 256, 256))}
    alpha_beta = {"alpha": torch.empty(1, 1475, 1, 1).normal_(0.1, 0.01), "beta": torch.empty(1, 1475, 1, 1).normal_(0.1, 0.01)}  # fmt: skip
    return {
        "alexnet": random_trunk(torchvision.models.alexnet(weights=None).features, 1),
        "lpips": saved(heads),
        "vgg16": random_trunk(torchvision.models.vgg16(weights=None).features, 2),
        "dists": saved(alpha_beta),
    }


@pytest.fixture
def server(http_server):
    """The weights' hosts (tests/http_server.py): files under /w/, the test weights put there by ``files``."""
    return http_server(prefix="w")


@pytest.fixture
def files(weights, server) -> dict[str, WeightsFile]:
    """The test weights as :class:`WeightsFile` s served by ``server``; torchvision's files are named
    and checked by their sha256 prefix, like the real ones, the others by their whole sha256."""
    out = {}
    for role, ext, whole in (("alexnet", "pth", False), ("lpips", "pth", True), ("vgg16", "pth", False),
                             ("dists", "pt", True)):  # fmt: skip
        digest = hashlib.sha256(weights[role]).hexdigest()
        name = f"test-{role}-{digest[:8]}.{ext}"
        server.files[name] = weights[role]
        out[role] = WeightsFile(name, f"{server.base}/{name}", digest if whole else digest[:8], f"test {role}")
    return out


@pytest.fixture
def hub(tmp_path, monkeypatch, files) -> Path:
    """An empty torch hub cache ($TORCH_HOME), the metric classes pointed at the test weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(Lpips, "trunk", files["alexnet"])
    monkeypatch.setattr(Lpips, "head", files["lpips"])
    monkeypatch.setattr(Dists, "trunk", files["vgg16"])
    monkeypatch.setattr(Dists, "head", files["dists"])
    return hub_checkpoints()


@pytest.fixture
def cached(hub, files, weights) -> Path:
    """``hub`` holding the four test weights files."""
    hub.mkdir(parents=True)
    for role, file in files.items():
        (hub / file.name).write_bytes(weights[role])
    return hub


def pairs(kodak_crop: np.ndarray, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two crops of kodim01 of ``size`` (H x W), each with its JPEG at q10 and q50."""
    h, w = size
    out = []
    for y, x in ((0, 0), (150, 250)):
        ref = np.ascontiguousarray(kodak_crop[y : y + h, x : x + w])
        out += [(ref, jpeg_roundtrip(ref, 10)), (ref, jpeg_roundtrip(ref, 50))]
    return out


def reference_lpips(files: dict[str, WeightsFile]):
    """``lpips.LPIPS(net='alex', version='0.1')`` with a random trunk, then the test weights loaded."""
    with warnings.catch_warnings():  # torchvision's deprecation of lpips's pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        net = lpips_package.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    slice_of = {i: 1 + sum(i >= b for b in (2, 5, 8, 10)) for i in range(12)}
    state = {}
    for key, value in torch.load(files["alexnet"].path, weights_only=True).items():
        if key.startswith("features."):
            index, param = key.removeprefix("features.").split(".")
            state[f"net.slice{slice_of[int(index)]}.{index}.{param}"] = value
    state.update(torch.load(files["lpips"].path, weights_only=True))
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith(("scaling_layer.", "lins.")) for k in missing), (missing, unexpected)
    return lambda ref, dist: net(lpips_package.im2tensor(ref), lpips_package.im2tensor(dist)).item()


def reference_dists(files: dict[str, WeightsFile], monkeypatch):
    """``DISTS_pytorch.DISTS()``, built without downloading (torchvision's VGG16 with weights=None,
    alpha and beta not loaded), then the test weights loaded."""
    vgg16 = torchvision.models.vgg16
    monkeypatch.setattr(dists_package.models, "vgg16", lambda pretrained=True: vgg16(weights=None))
    model = dists_package.DISTS(load_weights=False)
    stage_of = {i: 1 + sum(i >= b for b in (4, 9, 16, 23)) for i in range(30)}
    state = {}
    for key, value in torch.load(files["vgg16"].path, weights_only=True).items():
        if key.startswith("features."):
            index, param = key.removeprefix("features.").split(".")
            state[f"stage{stage_of[int(index)]}.{index}.{param}"] = value
    state.update(torch.load(files["dists"].path, weights_only=True))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k in ("mean", "std") or k.endswith(".filter") for k in missing), (missing, unexpected)

    def score(ref: np.ndarray, dist: np.ndarray) -> float:
        prepare = dists_package.prepare_image
        return model(prepare(Image.fromarray(ref), resize=False), prepare(Image.fromarray(dist), resize=False)).item()

    return score


# ------------------------------------------------------------------------------------- computation
def test_metrics_are_registered_with_their_conventions():
    registry = discover_metrics(use_entry_points=False)
    lp, di = registry.get("lpips"), registry.get("dists")
    assert not lp.higher_is_better and not di.higher_is_better and lp.per_image and di.per_image
    assert "lpips.LPIPS(net='alex', version='0.1')" in lp.convention and "[-1, 1]" in lp.convention
    assert "DISTS_pytorch.DISTS()" in di.convention and "not resized" in di.convention
    assert (lp.trunk, lp.head, di.trunk, di.head) == (ALEXNET, LPIPS_ALEX_V01, VGG16, DISTS_WEIGHTS)
    assert ALEXNET.url == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    assert VGG16.url == "https://download.pytorch.org/models/vgg16-397923af.pth"


def test_published_lpips_and_dists_weights_are_those_of_the_packages():
    """The whole sha256 we expect of alex.pth and weights.pt is that of the files the packages ship."""
    lpips_file = Path(lpips_package.__file__).parent / "weights" / "v0.1" / "alex.pth"
    dists_file = Path(dists_package.__file__).parent / "weights.pt"
    assert hashlib.sha256(lpips_file.read_bytes()).hexdigest() == LPIPS_ALEX_V01.sha256
    assert hashlib.sha256(dists_file.read_bytes()).hexdigest() == DISTS_WEIGHTS.sha256


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lpips_equals_the_lpips_package_with_the_same_weights(cached, files, kodak_crop, size):
    reference = reference_lpips(files)
    for ref, dist in pairs(kodak_crop, size):
        ours, theirs = compute("lpips", ref, dist), reference(ref, dist)
        assert theirs > 0 and relative(ours, theirs) <= REL, (ours, theirs)


@pytest.mark.parametrize("size", [*SIZES, (7, 9)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_dists_equals_dists_pytorch_with_the_same_weights(cached, files, kodak_crop, monkeypatch, size):
    """Not resized, at any size (the package computes down to one pixel)."""
    reference = reference_dists(files, monkeypatch)
    for ref, dist in pairs(kodak_crop, size):
        ours, theirs = compute("dists", ref, dist), reference(ref, dist)
        assert theirs > 0 and relative(ours, theirs) <= REL, (ours, theirs)


def test_identical_images_give_zero(cached, kodak_crop):
    image = np.ascontiguousarray(kodak_crop[:64, :96])
    assert compute("lpips", image, image) == 0.0
    assert abs(compute("dists", image, image)) < 1e-6


def test_lpips_below_its_size_limit_is_nan_with_the_reason_where_the_package_fails(cached, files, kodak_crop):
    reference = reference_lpips(files)
    ref = np.ascontiguousarray(kodak_crop[:LPIPS_MIN_SIDE, :80])
    dist = jpeg_roundtrip(ref, 20)
    assert relative(compute("lpips", ref, dist), reference(ref, dist)) <= REL
    small, small_dist = ref[:-1], dist[:-1]
    with pytest.raises(RuntimeError, match="too small"):
        reference(small, small_dist)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert math.isnan(compute("lpips", np.ascontiguousarray(small), np.ascontiguousarray(small_dist)))
    assert any("too small for lpips" in str(w.message) and "31" in str(w.message) for w in caught)


# ------------------------------------------------------------------------------------------ weights
def test_weights_are_downloaded_on_first_use_checked_and_kept(hub, server, files, kodak_crop):
    ref = np.ascontiguousarray(kodak_crop[:64, :96])
    dist = jpeg_roundtrip(ref, 30)
    with pytest.raises(MetricError) as offline:
        compute("lpips", ref, dist, offline=True)
    message = str(offline.value)
    assert "\n" not in message and server.requests == []
    assert files["alexnet"].name in message and files["alexnet"].url in message and files["lpips"].url in message
    value = compute("lpips", ref, dist)
    assert sorted(server.requests) == sorted([files["alexnet"].name, files["lpips"].name])
    assert sorted(p.name for p in hub.iterdir()) == sorted([files["alexnet"].name, files["lpips"].name])
    assert compute("lpips", ref, dist) == value and len(server.requests) == 2  # nothing fetched again
    assert Lpips.unavailable_reason() is None
    description = Lpips().describe()
    assert description["weights"] == [
        {"file": files["alexnet"].name, "sha256": hashlib.sha256((hub / files["alexnet"].name).read_bytes()).hexdigest()},
        {"file": files["lpips"].name, "sha256": files["lpips"].sha256},
    ]  # fmt: skip


@pytest.mark.parametrize("served", ["other bytes", "nothing"])
def test_a_download_that_is_not_the_weights_is_refused_and_leaves_nothing(hub, server, files, kodak_crop, served):
    file = files["dists"]
    if served == "other bytes":
        server.files[file.name] = b"not the weights" * 100
    else:
        del server.files[file.name]
    ref = np.ascontiguousarray(kodak_crop[:32, :32])
    with pytest.raises(MetricError) as refused:
        compute("dists", ref, ref)
    message = str(refused.value)
    assert "\n" not in message and file.url in message and file.name in message
    assert ("sha256" in message) if served == "other bytes" else ("404" in message)
    assert not (hub / file.name).exists() and not [p for p in hub.iterdir() if p.name.endswith(".part")]
    assert file.name in Dists.unavailable_reason()


@pytest.mark.parametrize("role", ["alexnet", "lpips"])
def test_a_cached_file_with_another_sha256_is_refused_never_used(cached, files, weights, role, kodak_crop):
    file = files[role]
    (cached / file.name).write_bytes(weights[role] + b"\0")  # one byte more: loads the same tensors
    reason = Lpips.unavailable_reason()
    assert reason and "\n" not in reason and str(cached / file.name) in reason and "sha256" in reason
    assert file.url in reason
    with pytest.raises(WeightsError, match="sha256"):
        load_weights(file)
    ref = np.ascontiguousarray(kodak_crop[:64, :96])
    with pytest.raises(MetricError, match="sha256"):
        compute("lpips", ref, ref)  # fetching does not replace it
    with pytest.raises(WeightsError, match="sha256"):
        Lpips().compute(ref, jpeg_roundtrip(ref, 30))  # as a worker computes it: refused too


def test_weights_that_do_not_fit_are_refused(cached, files, weights, kodak_crop):
    """A file with the expected hash but the wrong tensors (here: DISTS weights as LPIPS heads)."""
    data = weights["dists"]
    name = f"wrong-{hashlib.sha256(data).hexdigest()[:8]}.pt"
    (cached / name).write_bytes(data)
    wrong = WeightsFile(name, "http://127.0.0.1:9/none", hashlib.sha256(data).hexdigest(), "test")
    ref = np.ascontiguousarray(kodak_crop[:64, :96])

    class Wrong(Lpips):
        head = wrong

    with pytest.raises(WeightsError, match="does not fit: lin0.model.1.weight"):
        Wrong().compute(ref, ref)


def test_bench_metrics_lists_them_with_why_not(tmp_path):
    env = {"TORCH_HOME": str(tmp_path / "torch")}
    proc = bench_cli("metrics", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    for name, names in (("lpips", (ALEXNET, LPIPS_ALEX_V01)), ("dists", (VGG16, DISTS_WEIGHTS))):
        row = rows[name]
        assert not row["available"] and not row["higher_is_better"] and "torch" in row["versions"]
        for file in names:
            assert file.name in row["reason"] and file.url in row["reason"]
        assert str(tmp_path / "torch" / "hub" / "checkpoints") in row["reason"]
    text = bench_cli("metrics", env=env).stdout
    assert "lpips" in text and "why: weights not in" in text and "DISTS_pytorch.DISTS()(x, y)" in text


# ----------------------------------------------------------------------------------------- bench run
PLUGIN = """
from bench.api.metric import register_metric
from bench.metrics.learned import Dists, Lpips, WeightsFile


@register_metric
class TestLpips(Lpips):
    name = "lpips_test"
    trunk = WeightsFile(*{alexnet})
    head = WeightsFile(*{lpips})


@register_metric
class TestDists(Dists):
    name = "dists_test"
    trunk = WeightsFile(*{vgg16})
    head = WeightsFile(*{dists})
"""


def test_bench_run_fetches_the_weights_and_records_their_sha256(tmp_path, monkeypatch, server, files, small_dataset):
    """Plugin subclasses of the metrics with the test weights: ``--offline`` refuses them with one line
    naming the files and URLs; without it the main process downloads them and run.json records them.
    ``bench score --offline`` refuses the real ``lpips`` (no weights here) the same way."""
    plugin = tmp_path / "learned_test.py"
    fields = {role: repr((f.name, f.url, f.sha256, f.what)) for role, f in files.items()}
    plugin.write_text(textwrap.dedent(PLUGIN.format(**fields)))
    out = tmp_path / "run"
    env = {"TORCH_HOME": str(tmp_path / "torch")}
    args = ("run", "--dataset", str(small_dataset), "--codec", "jpeg", "--quality", "40", "--max-images", "1",
            "--metrics", "psnr_rgb,lpips_test,dists_test", "--plugin", str(plugin), "--out", str(out), "-j", "1",
            "--no-report", "--no-progress", "--save-reconstructions")  # fmt: skip
    offline = bench_cli(*args, "--offline", env=env)
    assert offline.returncode == 2 and server.requests == []
    lines = offline.stderr.strip().splitlines()
    assert len(lines) == 1 and files["alexnet"].name in lines[0] and files["lpips"].url in lines[0], offline.stderr

    proc = bench_cli(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(server.requests) == sorted(f.name for f in files.values())
    doc = json.loads((out / "run.json").read_text())
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    for name, roles in (("lpips_test", ("alexnet", "lpips")), ("dists_test", ("vgg16", "dists"))):
        recorded = doc["metric_implementations"][name]
        assert recorded["weights"] == [
            {"file": files[r].name, "sha256": hashlib.sha256((hub / files[r].name).read_bytes()).hexdigest()}
            for r in roles
        ]
    with open(out / "records.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    ref = np.asarray(Image.open(small_dataset / row["image"]).convert("RGB"))
    (recon,) = [p for p in (out / "reconstructions").rglob("*.png")]
    dist = np.asarray(Image.open(recon).convert("RGB"))
    monkeypatch.setenv("TORCH_HOME", env["TORCH_HOME"])
    for name in ("lpips_test", "dists_test"):
        value = compute(name, ref, dist, plugins=[plugin], offline=True)
        assert value > 0 and relative(float(row[name]), value) <= 1e-6

    scored = bench_cli("score", str(out), "--metrics", "lpips", "--offline", "--no-report", env=env)
    lines = scored.stderr.strip().splitlines()
    assert scored.returncode == 2 and len(lines) == 1, scored.stderr
    assert ALEXNET.name in lines[0] and ALEXNET.url in lines[0] and LPIPS_ALEX_V01.url in lines[0]


def test_the_networks_compute_on_the_device_they_are_given(cached, kodak_crop):
    """On the CPU given as a device, the values are those of the default (a GPU is checked where there is one)."""
    ref = np.ascontiguousarray(kodak_crop[:48, :64])
    dist = np.clip(ref.astype(int) + 9, 0, 255).astype(np.uint8)
    registry = discover_metrics()
    for name in ("lpips", "dists"):
        (default,) = registry.create([name])
        (on_cpu,) = registry.create([name], "cpu")
        assert on_cpu.compute(ref, dist) == default.compute(ref, dist)
