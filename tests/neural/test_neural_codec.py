"""Learned codecs (bench/neural/codec.py): a family's codec codes from the bytes alone, its bitstreams name
their model, old family.json files still load, and the own-model guide's plugin runs and verifies."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bench.api.codec import CodecError
from bench.api.codec_registry import load_plugin_file
from bench.neural.bitstream import Header, pack, unpack
from conftest import bench_cli, doc_example, require_module

require_module("compressai", "the families' models (CompressAI's layers and entropy coders)")
import torch  # noqa: E402

from bench.neural.architectures import build  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning")  # torch.backends.mkldnn.flags


def test_the_family_codec_round_trips_from_bytes_alone(tiny_family, kodak_crop):
    module = load_plugin_file(tiny_family / "plugin.py")
    codec_cls = module.FamilyCodec
    assert codec_cls.name == "tiny" and codec_cls.kind == "neural" and codec_cls.knob.sweep == (1, 2)
    encoder, decoder = codec_cls(), codec_cls()
    data = encoder.encode(kodak_crop, 2)
    header, groups = unpack(data)
    assert (header.quality, header.height, header.width) == (2, 256, 384)
    decoded = decoder.decode(data)
    assert decoded.shape == kodak_crop.shape and decoded.dtype == np.uint8
    assert encoder.analyze(kodak_crop, 2)["estimated_bits"] > 0
    odd = np.ascontiguousarray(kodak_crop[:101, :77])  # padding to the stride, cropped after decoding
    assert decoder.decode(encoder.encode(odd, 1)).shape == odd.shape


def test_bitstreams_name_their_model(tiny_family, kodak_crop):
    codec = load_plugin_file(tiny_family / "plugin.py").FamilyCodec()
    header, groups = unpack(codec.encode(kodak_crop, 1))
    forged = pack(Header(b"\xde\xad\xbe\xef", header.quality, header.height, header.width), groups)
    with pytest.raises(CodecError, match="made by model deadbeef.*different weights"):
        codec.decode(forged)
    # the family is portable (--arch hyperprior): a file claiming compressai's float entropy model, or
    # another padding, is refused rather than decoded into garbage
    for entropy, padding, message in (
        (0, "replicate", "coded with compressai's float entropy model.*decodes with portable integer"),
        (1, "compressai", "padded 'compressai'.*pads 'replicate'"),
    ):
        other = pack(Header(header.model_id, header.quality, header.height, header.width, entropy, padding), groups)
        with pytest.raises(CodecError, match=message):
            codec.decode(other)
    assert codec.decode(pack(header, groups)).shape == kodak_crop.shape


def test_portable_families_refuse_half_precision(tiny_family, kodak_crop):
    codec = load_plugin_file(tiny_family / "plugin.py").FamilyCodec(half=True)
    with pytest.raises(CodecError, match="half precision is for compressai's float models"):
        codec.encode(kodak_crop, 1)


def test_the_own_model_guides_plugin_runs_and_verifies(tmp_path, small_dataset):
    """The plugin example of the guide 'Benchmark your own model' (docs/guides/own-model.md), with a small compressai
    model standing in for the user's ``my_package.MyModel``."""
    import torch
    from compressai.models import ScaleHyperprior
    from safetensors.torch import save_file

    plugin = tmp_path / "mymodel.py"
    plugin.write_text(doc_example("guides/own-model.md"))
    (tmp_path / "my_package.py").write_text(
        "from compressai.models import ScaleHyperprior\n\n\nclass MyModel(ScaleHyperprior):\n"
        "    def __init__(self):\n        super().__init__(N=8, M=8)\n"
    )
    for q in (1, 2, 3):
        torch.manual_seed(q)
        net = ScaleHyperprior(N=8, M=8)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / f"q{q}.safetensors"))
    env = {"PYTHONPATH": str(tmp_path)}
    out = tmp_path / "run"
    result = bench_cli("run", "--dataset", str(small_dataset), "--plugin", str(plugin), "--codec", "mymodel",
                       "--quality", "1,3", "--max-images", "1", "--out", str(out), "--no-report", env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert len((out / "records.csv").read_text().strip().splitlines()) == 1 + 2
    verify = bench_cli("verify", "mymodel", "--plugin", str(plugin), "--dataset", str(small_dataset),
                       "--max-images", "1", "--quality", "2", "--no-perturb", env=env)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "1 of 1 identical  mymodel: encoded on cpu" in verify.stdout


def test_a_family_json_naming_hyperprior_still_loads_the_float_model(tmp_path, kodak_crop):
    """family.json files written before the portable models name the float models 'hyperprior'."""
    from safetensors.torch import save_file

    from bench.api.files import sha256_file
    from bench.neural.codec import make_family_codec

    torch.manual_seed(0)
    net = build("hyperprior-float", 8, 8)
    net.update(force=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "q1.safetensors"))
    family = {"format": "codec-bench neural family", "format_version": 1, "name": "old", "architecture": "hyperprior",
              "N": 8, "M": 8, "models": [{"quality": 1, "lambda": 0.01, "weights": "q1.safetensors",
                                          "sha256": sha256_file(tmp_path / "q1.safetensors")}]}  # fmt: skip
    (tmp_path / "family.json").write_text(json.dumps(family))
    codec = make_family_codec(tmp_path, name="old-hyperprior", module=__name__)()
    assert type(codec.model(1)).__name__ == "ScaleHyperprior"
    data = codec.encode(kodak_crop, 1)
    assert codec.decode(data).shape == kodak_crop.shape
