"""fid_patch and kid_patch (bench/metrics/fid.py): the patches of neuralcompression's update_patch_fid, the features of
torch-fidelity's Inception, FID and KID equal to torchmetrics' on them, the weights fetched and checked.

The published Inception weights cannot be downloaded here, so the tests make their own: torch-fidelity's
``FeatureExtractorInceptionV3`` with random weights, its batch-norm statistics taken from a few Kodak
patches (so that the features are of the usual size, not vanishing), saved as the published file is (a
plain dict of tensors, no ``num_batches_tracked``) under the published name in a temporary
``$TORCH_HOME``; the metric classes are pointed at it (its URL on a local server, the first 8 hex digits
of its sha256, as the published file is checked), and the references (torch-fidelity, torchmetrics) load the same file. References get what their users give
them: ``uint8`` NCHW patches made as ``update_patch_fid`` makes them. A local HTTP server on 127.0.0.1
plays GitHub's release host (tests/http_server.py).
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import io
import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.api.metric_registry import discover_metrics
from bench.data.download import hash_prefix, hub_checkpoints
from bench.metrics import fid as metrics_fid
from bench.metrics.fid import (
    FEATURE_DIM,
    FEATURES,
    INCEPTION_V3_FID,
    INSTALL_HINT,
    FidPatch,
    KidPatch,
    frechet_distance,
    patch_origins,
    patches,
    polynomial_mmd2,
)
from bench.metrics.learned import WeightsError, WeightsFile
from conftest import bench_cli, jpeg_roundtrip, relative, require_module

torch = require_module("torch", "the features' network")
tfi = require_module("torch_fidelity.feature_extractor_inceptionv3", "the reference features (torch-fidelity)")
tm_fid = require_module("torchmetrics.image.fid", "the reference FID (torchmetrics)")
tm_kid = require_module("torchmetrics.image.kid", "the reference KID (torchmetrics)")
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # (conftest: quicker on a busy machine)


# Features: ours are torch-fidelity's to the bit (the same float32 operations on the same batches);
# asserted to 1e-5 of their largest value. FID and KID: see each test.
FEATURE_TOL = 1e-5


def reference_patches(image: np.ndarray) -> torch.Tensor:
    """The patches ``neuralcompression.metrics.update_patch_fid`` makes of one image (given in [0, 1]),
    ``N x 3 x 256 x 256`` ``uint8``: ``F.unfold`` with stride 256, then the same on the image cropped
    from (128, 128) when both sides are at least 1.5 x 256; ``round(x * 255)``."""
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].double() / 255

    def grid(t: torch.Tensor) -> torch.Tensor:
        unfolded = torch.nn.functional.unfold(t, kernel_size=256, stride=256)
        return unfolded.permute(0, 2, 1).reshape(-1, 3, 256, 256)

    out = [grid(x)]
    if x.shape[2] >= 1.5 * 256 and x.shape[3] >= 1.5 * 256:
        out.append(grid(x[:, :, 128:, 128:]))
    return torch.round(torch.cat(out) * 255.0).to(torch.uint8)


# ------------------------------------------------------------------------------------ test weights
@pytest.fixture(scope="module")
def inception_bytes(kodim01, kodak_dir) -> bytes:
    """A random torch-fidelity Inception v3 saved as the published file is; batch-norm statistics of
    four Kodak patches (its train mode, cumulative averages), scales and shifts random."""

    class Bare(tfi.FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):  # the random initialisation stays
            return None

    torch.manual_seed(3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfi, "load_state_dict_from_url", lambda *args, **kwargs: {})  # nothing downloaded
        net = Bare("bare", ["2048"])
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    kodim23 = np.asarray(Image.open(kodak_dir / "kodim23.png").convert("RGB"))
    calibration = np.stack([kodim01[:256, :256], kodim01[256:, 256:512], kodim23[:256, :256], kodim23[256:, 512:]])
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(calibration).permute(0, 3, 1, 2).contiguous())
    state = {k: v.detach().clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


@pytest.fixture
def server(http_server, inception_bytes):
    """A server on 127.0.0.1 holding the test weights under the published name (under /w/)."""
    return http_server({INCEPTION_V3_FID.name: inception_bytes}, prefix="w")


@pytest.fixture
def weights(server, inception_bytes) -> WeightsFile:
    """The test weights: the published name, the local server's URL, and like the published file
    checked by a sha256 prefix of 8 hex digits (theirs)."""
    url = f"http://127.0.0.1:{server.server_address[1]}/w/{INCEPTION_V3_FID.name}"
    return WeightsFile(INCEPTION_V3_FID.name, url, hashlib.sha256(inception_bytes).hexdigest()[:8], "test Inception v3")


@pytest.fixture
def hub(tmp_path, monkeypatch, weights) -> Path:
    """An empty torch hub cache ($TORCH_HOME), both metrics pointed at the test weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(FidPatch, "weights", weights)
    monkeypatch.setattr(KidPatch, "weights", weights)
    return hub_checkpoints()


@pytest.fixture
def cached(hub, weights, inception_bytes) -> Path:
    """The test weights file in ``hub``."""
    hub.mkdir(parents=True)
    weights.path.write_bytes(inception_bytes)
    return weights.path


class Float64(torch.nn.Module):
    """A feature extractor's float32 features as float64 (torchmetrics' KID computes in their dtype)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).double()


class Given(torch.nn.Module):
    """Features given as they are (torchmetrics' FID and KID on ready-made features)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.num_features = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# --------------------------------------------------------------------------------------- conventions
def test_metrics_are_registered_with_their_conventions():
    registry = discover_metrics(use_entry_points=False)
    fid, kid = registry.get("fid_patch"), registry.get("kid_patch")
    assert (fid, kid) == (FidPatch, KidPatch)
    for cls in (fid, kid):
        assert not cls.per_image and not cls.higher_is_better and cls.unit == ""
        assert cls.features == FEATURES == "inception_v3_pool3_patch256" and cls.weights == INCEPTION_V3_FID
        assert "torch-fidelity" in cls.packages
        assert "256 x 256" in cls.convention and "(128, 128)" in cls.convention and "update_patch_fid" in cls.convention
    assert "unbiased covariances" in fid.convention and "float64" in fid.convention
    assert "(x.y/2048 + 1)^3" in kid.convention and "not x1000" in kid.convention and "subsets=1" in kid.convention


def test_weights_are_torch_fidelitys_published_file():
    """Our URL is torch-fidelity's own (it would download the same file, under the same name)."""
    assert INCEPTION_V3_FID.url == tfi.URL_INCEPTION_V3
    assert INCEPTION_V3_FID.name == tfi.URL_INCEPTION_V3.rsplit("/", 1)[1]
    assert INCEPTION_V3_FID.sha256 == hash_prefix(INCEPTION_V3_FID.name) == "6726825d"


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (512, 768, [(0, 0), (0, 256), (0, 512), (256, 0), (256, 256), (256, 512), (128, 128), (128, 384)]),
        (768, 512, [(0, 0), (0, 256), (256, 0), (256, 256), (512, 0), (512, 256), (128, 128), (384, 128)]),
        (383, 500, [(0, 0)]),
        (500, 383, [(0, 0)]),
        (384, 384, [(0, 0), (128, 128)]),
        (640, 640, [(0, 0), (0, 256), (256, 0), (256, 256), (128, 128), (128, 384), (384, 128), (384, 384)]),
        (255, 1000, []),
        (1000, 255, []),
    ],
    ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_patch_origins(height, width, expected):
    """Kodak landscape (768 wide, 512 high) and portrait: 6 + 2; a side under 384: no second grid;
    a side under 256: nothing."""
    assert patch_origins(height, width) == expected


@pytest.mark.parametrize(
    "size", [(520, 780), (780, 520), (400, 300), (384, 640), (700, 900)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_patches_are_those_of_update_patch_fid(size):
    """The same pixels in the same order as neuralcompression's unfold recipe."""
    image = np.random.default_rng(size[0] * size[1]).integers(0, 256, (*size, 3), dtype=np.uint8)
    ours = patches(image)
    assert ours.dtype == np.uint8 and ours.shape == (len(patch_origins(*size)), 256, 256, 3)
    assert torch.equal(torch.from_numpy(ours).permute(0, 3, 1, 2), reference_patches(image))


def test_patch_pixels_and_inputs():
    image = np.random.default_rng(1).integers(0, 256, (512, 768, 3), dtype=np.uint8)
    got = patches(image)
    assert np.array_equal(got[7], image[128:384, 384:640]) and np.array_equal(got[2], image[:256, 512:768])
    assert patches(image[:255]).shape == (0, 256, 256, 3)
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        patches(image[..., 0])
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        patches(image.astype(np.float32))


def test_an_image_without_patches_has_no_features_and_needs_no_weights(hub):
    for cls in (FidPatch, KidPatch):
        features = cls().extract(np.zeros((255, 1000, 3), np.uint8))
        assert features.shape == (0, FEATURE_DIM) and features.dtype == np.float32


# ------------------------------------------------------------------------------------------ features
def test_features_are_torch_fidelitys_and_torchmetrics_without_antialias(cached, kodim01):
    """Our features are those of torch-fidelity's extractor and of torchmetrics' Inception with
    ``antialias=False`` on update_patch_fid's patches; torchmetrics' default resize gives others."""
    image = np.ascontiguousarray(kodim01[:300, 100:620])  # 2 patches, no second grid
    ours = FidPatch().extract(image)
    assert ours.shape == (2, FEATURE_DIM) and ours.dtype == np.float32 and ours.std() > 0.05
    x = reference_patches(image)
    fidelity = tfi.FeatureExtractorInceptionV3("ref", ["2048"], feature_extractor_weights_path=str(cached))
    compat = tm_fid.NoTrainInceptionV3("inception-v3-compat", ["2048"], str(cached), antialias=False)
    default = tm_fid.NoTrainInceptionV3("inception-v3-compat", ["2048"], str(cached))
    with torch.inference_mode():
        theirs, theirs_tm, antialiased = fidelity(x)[0].numpy(), compat(x).numpy(), default(x).numpy()
    scale = np.abs(theirs).max()
    assert np.abs(ours - theirs).max() <= FEATURE_TOL * scale
    assert np.abs(ours - theirs_tm).max() <= FEATURE_TOL * scale
    assert np.abs(ours - antialiased).max() > 1e-3 * scale
    assert np.array_equal(KidPatch().extract(image), ours)  # one network, shared


def test_fid_and_kid_equal_torchmetrics_on_kodak_crops(cached, kodim01, kodak_dir):
    """Two Kodak crops (6 + 1 patches) and their JPEGs at quality 5, through torchmetrics'
    FrechetInceptionDistance (same weights file, ``antialias=False``) and KernelInceptionDistance
    (subsets=1, subset_size=7, the same network's features as float64), fed update_patch_fid's patches.

    KID: 1e-9 relative. It is negative here, for both: the two sets are paired (each patch and its
    JPEG) and the unbiased estimator's cross term counts the pairs.

    FID: 1e-4 relative to torchmetrics' value, seen 3e-5: our trace term is exact, torchmetrics' (the
    eigenvalues of the 2048 x 2048 product of two covariances of rank 6) adds the square roots of the
    rounding noise of its ~2042 zero eigenvalues (and it returns float32). Hence also: torchmetrics' FID
    of its own features (those its KID stored) in an orthonormal basis of their 15-dimensional span, an
    exact change of basis that leaves FID as it is and drops the zero eigenvalues: 1e-9, seen 1e-11.
    """
    other = np.asarray(Image.open(kodak_dir / "kodim23.png").convert("RGB"))
    refs = [np.ascontiguousarray(kodim01[:512, :640]), np.ascontiguousarray(other[:300, :400])]
    dists = [jpeg_roundtrip(ref, 5) for ref in refs]
    fid_metric, kid_metric = FidPatch(), KidPatch()
    ref_features = np.concatenate([fid_metric.extract(r) for r in refs])
    dist_features = np.concatenate([fid_metric.extract(d) for d in dists])
    assert ref_features.shape == dist_features.shape == (7, FEATURE_DIM)
    fid, kid = fid_metric.aggregate(ref_features, dist_features), kid_metric.aggregate(ref_features, dist_features)

    theirs_fid = tm_fid.FrechetInceptionDistance(
        feature=2048, feature_extractor_weights_path=str(cached), antialias=False
    )
    net = tm_fid.NoTrainInceptionV3("inception-v3-compat", ["2048"], str(cached), antialias=False)
    with warnings.catch_warnings():  # "will save all extracted features in buffer"
        warnings.simplefilter("ignore", UserWarning)
        theirs_kid = tm_kid.KernelInceptionDistance(feature=Float64(net), subsets=1, subset_size=7)
    for ref, dist in zip(refs, dists, strict=True):
        for metric in (theirs_fid, theirs_kid):
            metric.update(reference_patches(ref), real=True)
            metric.update(reference_patches(dist), real=False)
    expected_fid, expected_kid = theirs_fid.compute().item(), theirs_kid.compute()[0].item()
    assert fid > 1 and relative(fid, expected_fid) <= 1e-4, (fid, expected_fid)
    assert abs(kid) > 1e-3 and relative(kid, expected_kid) <= 1e-9, (kid, expected_kid)

    theirs_ref, theirs_dist = (torch.cat(f).numpy() for f in (theirs_kid.real_features, theirs_kid.fake_features))
    assert np.abs(theirs_ref - ref_features).max() <= FEATURE_TOL * np.abs(theirs_ref).max()
    assert np.abs(theirs_dist - dist_features).max() <= FEATURE_TOL * np.abs(theirs_dist).max()
    centred = [
        theirs_ref - theirs_ref.mean(0),
        theirs_dist - theirs_dist.mean(0),
        theirs_ref.mean(0) - theirs_dist.mean(0),
    ]
    basis = np.linalg.qr(np.vstack(centred).T)[0]  # 2048 x 15, orthonormal
    assert relative(fid, torchmetrics_fid(theirs_ref @ basis, theirs_dist @ basis)) <= 1e-9


# ---------------------------------------------------------------------------------------- aggregates
def random_features(n: int, m: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent sets of non-negative float32 features like pool3's, the second one shifted."""
    rng = np.random.default_rng(seed)
    return np.abs(rng.normal(0.3, 0.3, (n, d))).astype(np.float32), np.abs(rng.normal(0.33, 0.3, (m, d))).astype(
        np.float32
    )


def torchmetrics_fid(a: np.ndarray, b: np.ndarray) -> float:
    metric = tm_fid.FrechetInceptionDistance(feature=Given(a.shape[1]))
    metric.update(torch.from_numpy(a).double(), real=True)
    metric.update(torch.from_numpy(b).double(), real=False)
    return metric.compute().item()


def sqrtm_fid(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch-fid's formula: ``tr sqrt(S1 S2)`` by scipy.linalg.sqrtm (float64)."""
    import scipy.linalg

    a, b = a.astype(np.float64), b.astype(np.float64)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)


@pytest.mark.parametrize(("n", "m", "d"), [(300, 260, 64), (300, 40, 64), (40, 300, 64), (40, 55, 128)])
def test_fid_equals_torchmetrics_and_sqrtm_on_random_features(n, m, d):
    """More features than dimensions (the QR-reduced path, on one side or both) and fewer (Kodak's 192
    patches of 2048 are so): 1e-6 relative; seen at most 4e-8 against either."""
    a, b = random_features(n, m, d, seed=n + m + d)
    ours = frechet_distance(a, b)
    assert ours > 0.1
    assert relative(ours, torchmetrics_fid(a, b)) <= 1e-6
    assert relative(ours, sqrtm_fid(a, b)) <= 1e-6


def test_fid_is_exact_where_sqrtm_is_not():
    """4 and 6 features of 10: the trace term from the eigenvalues of S1 S2 in 50-digit arithmetic, 1e-12
    relative (sqrtm and torchmetrics add the square roots of their zero eigenvalues' rounding noise)."""
    mpmath = pytest.importorskip("mpmath")
    a, b = random_features(4, 6, 10, seed=11)
    with mpmath.workdps(50):
        mp = mpmath.mp

        def moments(x: np.ndarray):
            rows = mp.matrix([[mp.mpf(float(v)) for v in row] for row in x])
            mean = mp.ones(1, x.shape[0]) * rows / x.shape[0]
            centred = rows - mp.ones(x.shape[0], 1) * mean
            return mean, centred.T * centred / (x.shape[0] - 1)

        (mu1, s1), (mu2, s2) = moments(a), moments(b)
        trace_sqrt = sum(mp.sqrt(max(mp.re(e), 0)) for e in mp.eig(s1 * s2, left=False, right=False))
        diff = mu1 - mu2
        exact = float((diff * diff.T)[0] + sum(s1[i, i] + s2[i, i] for i in range(10)) - 2 * trace_sqrt)
    assert relative(frechet_distance(a, b), exact) <= 1e-12


def test_fid_of_one_set_with_itself_is_zero():
    a, _ = random_features(30, 30, 64, seed=2)
    assert abs(frechet_distance(a, a)) < 1e-12 * float(np.square(a).sum())
    a, _ = random_features(100, 100, 16, seed=3)  # QR-reduced path
    assert abs(frechet_distance(a, a)) < 1e-12 * float(np.square(a).sum())


def test_kid_equals_torchmetrics_with_one_subset_of_all():
    a, b = random_features(50, 50, 64, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = tm_kid.KernelInceptionDistance(feature=Given(64), subsets=1, subset_size=50)
    metric.update(torch.from_numpy(a).double(), real=True)
    metric.update(torch.from_numpy(b).double(), real=False)
    ours = polynomial_mmd2(a, b)
    assert ours > 0 and relative(ours, metric.compute()[0].item()) <= 1e-10


def test_kid_is_the_mean_of_torchmetrics_subset_estimates():
    """Over every choice of the two subsets (torchmetrics draws them independently): 6 and 6 features,
    subsets of 4, the 225 pairs of subsets through torchmetrics' poly_mmd."""
    a, b = random_features(6, 6, 8, seed=8)
    x, y = torch.from_numpy(a).double(), torch.from_numpy(b).double()
    subsets = [list(s) for s in itertools.combinations(range(6), 4)]
    values = [tm_kid.poly_mmd(x[s], y[t]).item() for s in subsets for t in subsets]
    assert len(values) == 225 and relative(polynomial_mmd2(a, b), float(np.mean(values))) <= 1e-12


def test_kid_is_the_u_statistic_over_all_pairs(monkeypatch):
    """Unequal sets, kernel sums over several row blocks: the formula written out."""
    a, b = random_features(23, 31, 16, seed=6)
    x, y = a.astype(np.float64), b.astype(np.float64)
    kxx, kyy, kxy = ((x @ x.T) / 16 + 1) ** 3, ((y @ y.T) / 16 + 1) ** 3, ((x @ y.T) / 16 + 1) ** 3
    expected = (kxx.sum() - np.trace(kxx)) / (23 * 22) + (kyy.sum() - np.trace(kyy)) / (31 * 30) - 2 * kxy.mean()
    monkeypatch.setattr(metrics_fid, "_BLOCK", 7)
    assert relative(polynomial_mmd2(a, b), expected) <= 1e-12
    assert relative(KidPatch().aggregate(a, b), expected) <= 1e-12


@pytest.mark.parametrize("cls", [FidPatch, KidPatch])
@pytest.mark.parametrize(("n", "m"), [(1, 5), (5, 0), (0, 0)])
def test_fewer_than_two_features_a_side_give_nan_with_a_warning(cls, n, m):
    with pytest.warns(RuntimeWarning, match=f"{cls.name} needs at least 2 features on each side"):
        assert math.isnan(cls().aggregate(np.ones((n, FEATURE_DIM), np.float32), np.ones((m, FEATURE_DIM), np.float32)))


@pytest.mark.parametrize("cls", [FidPatch, KidPatch])
def test_features_of_other_sizes_are_refused(cls):
    with pytest.raises(ValueError, match="two n x d arrays of one d"):
        cls().aggregate(np.ones((4, 2048), np.float32), np.ones((4, 64), np.float32))


# ------------------------------------------------------------------------------------------ weights
def test_weights_are_downloaded_on_first_use_checked_and_recorded(hub, server, weights, kodim01):
    registry = discover_metrics(use_entry_points=False)
    reason = registry.ready("fid_patch", offline=True)
    assert reason and "\n" not in reason and server.requests == []
    assert weights.name in reason and weights.url in reason and "--offline" in reason and str(hub) in reason
    assert registry.ready("fid_patch", offline=False) is None
    assert server.requests == [weights.name] and sorted(p.name for p in hub.iterdir()) == [weights.name]
    assert registry.ready("kid_patch", offline=False) is None and len(server.requests) == 1  # not fetched again
    description = KidPatch().describe()
    assert description["features"] == FEATURES and not description["per_image"]
    whole = hashlib.sha256(weights.path.read_bytes()).hexdigest()
    assert description["weights"] == [{"file": weights.name, "sha256": whole}] and whole.startswith(weights.sha256)
    assert "torch-fidelity" in description["versions"]


def test_a_download_that_is_not_the_weights_is_refused_and_leaves_nothing(hub, server, weights):
    server.files[weights.name] = b"not the weights" * 100
    reason = discover_metrics(use_entry_points=False).ready("kid_patch", offline=False)
    assert reason and "\n" not in reason and "sha256" in reason and weights.url in reason
    assert server.requests == [weights.name]
    assert not hub.exists() or not list(hub.iterdir())


def test_a_cached_file_with_another_sha256_is_never_used(cached, weights, inception_bytes):
    cached.write_bytes(inception_bytes + b"\0")  # loads the same tensors
    reason = FidPatch.unavailable_reason()
    assert reason and "\n" not in reason and str(cached) in reason and "sha256" in reason and weights.url in reason
    assert discover_metrics(use_entry_points=False).ready("fid_patch", offline=False) == reason  # not replaced
    with pytest.raises(WeightsError, match="sha256"):
        KidPatch().extract(np.zeros((256, 256, 3), np.uint8))  # as a worker computes it: refused too


@pytest.mark.parametrize("content", ["tensors that do not fit", "not tensors only"])
def test_weights_with_the_expected_hash_that_are_not_inception_are_refused(tmp_path, monkeypatch, content):
    """A file with the expected sha256 but the wrong content: refused before torch-fidelity reads it
    (not tensors only: ``weights_only=True`` refuses it) or by its strict loading."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    state = {"fc.weight": torch.zeros(3, 3)} if content.startswith("tensors") else {"when": datetime.date(2020, 1, 1)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    file = WeightsFile(f"wrong-{hashlib.sha256(data).hexdigest()[:8]}.pth", "http://127.0.0.1:9/none",
                       hashlib.sha256(data).hexdigest(), "test")  # fmt: skip
    file.path.parent.mkdir(parents=True)
    file.path.write_bytes(data)
    monkeypatch.setattr(FidPatch, "weights", file)
    assert FidPatch.unavailable_reason() is None  # the hash is right
    match = "does not fit torch-fidelity's Inception v3" if content.startswith("tensors") else "cannot read"
    with pytest.raises(WeightsError, match=match):
        FidPatch().extract(np.zeros((256, 256, 3), np.uint8))


def test_without_torch_fidelity_the_metrics_are_unavailable_and_fetch_nothing(hub, server, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch_fidelity" else find_spec(name, *a)
    )
    for cls in (FidPatch, KidPatch):
        cls.fetch(offline=False)
        assert cls.unavailable_reason() == f"torch-fidelity is not installed ({INSTALL_HINT})"
    assert server.requests == [] and INSTALL_HINT == "pip install 'codec-bench[metrics]'"


def test_bench_metrics_lists_them_with_why_not(tmp_path):
    proc = bench_cli("metrics", "--json", env={"TORCH_HOME": str(tmp_path / "torch")})
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    for name in ("fid_patch", "kid_patch"):
        row = rows[name]
        assert not row["available"] and not row["higher_is_better"] and "torch-fidelity" in row["versions"]
        assert INCEPTION_V3_FID.name in row["reason"] and INCEPTION_V3_FID.url in row["reason"]
