"""Complexity of learned codecs (bench/neural/complexity.py): MACs counted on the real tensors equal hand counts
and a second counter (ptflops), per part; parameters per part; the network / entropy-coding time split."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from conftest import REPO, require_module

require_module("compressai", "the models counted (CompressAI's layers and entropy coders)")
import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.neural.complexity import OTHER_PART, PartWatch, count_macs, parameters_by_part  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
KODAK_H, KODAK_W = 512, 768


class _TinyCodecNet(nn.Module):
    """An analysis convolution and a synthesis transposed convolution, plus a product outside both parts."""

    def __init__(self) -> None:
        super().__init__()
        self.g_a = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
        self.g_s = nn.ConvTranspose2d(8, 3, kernel_size=4, stride=2, padding=1)
        self.mix = nn.Parameter(torch.ones(8, 8))  # used outside any part: counted under "other"

    def forward(self, x):
        y = self.g_a(x)
        y = torch.einsum("oc,bchw->bohw", self.mix, y)
        return self.g_s(y)


def _hand_counts(height: int, width: int) -> dict[str, int]:
    """MACs by hand: a convolution costs C_out x H_out x W_out x C_in x k x k; a transposed one
    C_in x H_in x W_in x C_out x k x k (every input pixel scatters a k x k kernel to every output channel)."""
    h, w = height // 2, width // 2
    return {"g_a": 8 * h * w * 3 * 3 * 3, OTHER_PART: 8 * 8 * h * w, "g_s": 8 * h * w * 3 * 4 * 4}


def test_counts_equal_hand_counts_of_a_convolution_and_a_transposed_convolution():
    net = _TinyCodecNet().eval()
    x = torch.rand(1, 3, 32, 48)
    counted = count_macs(net, lambda: net(x))
    hand = _hand_counts(32, 48)
    assert counted.by_part == {"g_a": hand["g_a"], "g_s": hand["g_s"], OTHER_PART: hand[OTHER_PART]}
    assert counted.total == sum(hand.values())
    assert counted.result.shape == (1, 3, 32, 48)  # the call really ran


def test_counts_equal_ptflops_module_counts_of_the_transposed_convolution():
    ptflops = pytest.importorskip("ptflops")
    net = _TinyCodecNet().eval()
    for part, shape in (("g_a", (3, 32, 48)), ("g_s", (8, 16, 24))):
        module, x = getattr(net, part), torch.rand(1, *shape)
        theirs, _ = ptflops.get_model_complexity_info(module, shape, as_strings=False, print_per_layer_stat=False,
                                                      backend="pytorch")  # fmt: skip
        out = module(x)
        bias = out.shape[1] * out.shape[2] * out.shape[3]  # ptflops adds one per output value; we count weights only
        assert count_macs(module, lambda m=module, x=x: m(x)).total == theirs - bias


def _hyperprior():
    from compressai.zoo import bmshj2018_hyperprior

    net = bmshj2018_hyperprior(quality=3, pretrained=False).eval()  # random weights: counts do not depend on them
    net.update(force=True)
    return net


def test_the_hyperprior_count_at_kodak_size_matches_ptflops_within_one_percent():
    ptflops = pytest.importorskip("ptflops")
    net = _hyperprior()
    x = torch.rand(1, 3, KODAK_H, KODAK_W)
    encoding = count_macs(net, lambda: net.compress(x))
    decoding = count_macs(net, lambda: net.decompress(encoding.result["strings"], encoding.result["shape"]))
    assert list(encoding.by_part) == ["g_a", "h_a", "h_s"] and list(decoding.by_part) == ["h_s", "g_s"]

    def theirs(part: str, shape: tuple[int, ...]) -> float:  # ptflops's own ATen formulas, one part at a time
        macs, _ = ptflops.get_model_complexity_info(getattr(net, part), shape, as_strings=False,
                                                    print_per_layer_stat=False, backend="aten")  # fmt: skip
        return macs

    n, m = net.g_a[0].out_channels, net.g_a[-1].out_channels
    y, z = (m, KODAK_H // 16, KODAK_W // 16), (n, KODAK_H // 64, KODAK_W // 64)
    parts = {"g_a": theirs("g_a", (3, KODAK_H, KODAK_W)), "h_a": theirs("h_a", y), "h_s": theirs("h_s", z),
             "g_s": theirs("g_s", y)}  # fmt: skip
    for ours, names in ((encoding, ("g_a", "h_a", "h_s")), (decoding, ("h_s", "g_s"))):
        expected = sum(parts[name] for name in names)
        assert abs(ours.total - expected) / expected < 0.01
        for name in names:
            assert abs(ours.by_part[name] - parts[name]) / parts[name] < 0.01, name
    # GDN's normalisation is a 1x1 convolution: a module-hook counter that does not know GDN misses it
    hooks, _ = ptflops.get_model_complexity_info(net.g_a, (3, KODAK_H, KODAK_W), as_strings=False,
                                                 print_per_layer_stat=False, backend="pytorch")  # fmt: skip
    assert hooks < 0.95 * encoding.by_part["g_a"]


def test_parameters_by_part_add_up_to_the_model():
    net = _hyperprior()
    by_part = parameters_by_part(net)
    assert set(by_part) == {"entropy_bottleneck", "gaussian_conditional", "g_a", "g_s", "h_a", "h_s"}
    assert sum(by_part.values()) == sum(p.numel() for p in net.parameters())
    assert by_part["g_a"] == sum(p.numel() for p in net.g_a.parameters())


def test_a_part_watch_restores_the_model_and_times_each_part():
    net = _TinyCodecNet().eval()
    with torch.no_grad(), PartWatch(net) as watch:
        assert "forward" in vars(net.g_a)
        net(torch.rand(1, 3, 32, 48))
    assert "forward" not in vars(net.g_a) and "forward" not in vars(net.g_s)
    assert watch.called == ["g_a", "g_s"] and all(s > 0 for s in watch.seconds.values())
    assert watch.network_s == pytest.approx(sum(watch.seconds.values()))


@pytest.fixture(scope="module")
def mean_scale_small():
    from bench.api.codec_registry import discover

    entry = discover().get("mean-scale-small")
    if entry.cls.unavailable_reason():
        pytest.skip(entry.cls.unavailable_reason())
    return entry.create("cpu")


def test_a_shipped_family_counts_what_its_training_recorded_and_splits_its_times(mean_scale_small, kodak_crop):
    codec = mean_scale_small
    family = json.loads((REPO / "bench_codecs/weights/mean-scale-small/family.json").read_text())
    image = np.zeros((KODAK_H, KODAK_W, 3), np.uint8)
    counted = codec.complexity(image, 3)
    assert counted["enc_kmac_px"] == pytest.approx(family["kmac_per_pixel"]["encoder"], rel=1e-9)
    assert counted["dec_kmac_px"] == pytest.approx(family["kmac_per_pixel"]["decoder"], rel=1e-9)
    # the portable models' integer h_s runs through `exact`: it is a part on both sides
    assert list(counted["enc_kmac_px_by_part"]) == ["g_a", "h_a", "h_s"]
    assert list(counted["dec_kmac_px_by_part"]) == ["h_s", "g_s"]
    assert counted["dec_params"] == counted["params_by_part"]["h_s"] + counted["params_by_part"]["g_s"]
    assert counted["params"] == sum(counted["params_by_part"].values())

    data = codec.encode(kodak_crop, 3)
    encoding = codec.last_stats()
    codec.decode(data)
    decoding = codec.last_stats()
    assert encoding["encode_network_s"] > 0 and encoding["encode_coding_s"] > 0
    assert decoding["decode_network_s"] > 0 and decoding["decode_coding_s"] > 0


def test_counts_are_per_image_pixel_and_made_once_per_padded_size(mean_scale_small, kodak_crop, monkeypatch):
    import bench.neural.codec as codec_module

    calls = []
    real = codec_module.count_macs
    monkeypatch.setattr(codec_module, "count_macs", lambda *a, **k: calls.append(1) or real(*a, **k))
    codec = type(mean_scale_small)()
    crop = np.ascontiguousarray(kodak_crop[:250, :380])  # pads to 256 x 384, as the full crop
    full, cropped = codec.complexity(kodak_crop, 2), codec.complexity(crop, 2)
    assert len(calls) == 2  # compress and decompress counted once for both images
    pixels = kodak_crop.shape[0] * kodak_crop.shape[1]
    assert cropped["dec_kmac_px"] == pytest.approx(full["dec_kmac_px"] * pixels / (250 * 380))


def test_the_autoregressive_loop_counts_its_masked_convolution_under_other_and_uses_the_context_model():
    from compressai.zoo import mbt2018

    net = mbt2018(quality=1, pretrained=False).eval()
    net.update(force=True)
    x = torch.rand(1, 3, 64, 64)
    encoding = count_macs(net, lambda: net.compress(x))
    decoding = count_macs(net, lambda: net.decompress(encoding.result["strings"], encoding.result["shape"]))
    # compressai's loop convolves each latent's 5x5 neighbourhood with the masked weights itself (F.conv2d),
    # outside the context_prediction module: those MACs are "other", and the module's weights are used
    m, positions = net.M, (64 // 16) ** 2
    masked_conv = positions * 2 * m * m * 5 * 5  # one 5x5 convolution, M to 2M channels, per latent position
    assert decoding.by_part[OTHER_PART] == masked_conv
    assert "context_prediction" in decoding.parts and "context_prediction" not in decoding.by_part
    assert {"h_s", "entropy_parameters", "g_s"} <= set(decoding.by_part)


def test_a_count_that_fails_loses_its_columns_not_the_measurement(mean_scale_small, kodak_crop, monkeypatch):
    import bench.neural.codec as codec_module

    def broken(*args, **kwargs):
        raise RuntimeError("an operator the counter cannot follow")

    monkeypatch.setattr(codec_module, "count_macs", broken)
    codec = type(mean_scale_small)()
    analysis = codec.analyze(kodak_crop, 1)
    assert analysis["estimated_bits"] > 0 and "enc_kmac_px" not in analysis
    assert analysis["complexity_error"] == "RuntimeError: an operator the counter cannot follow"
