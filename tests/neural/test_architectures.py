"""The architectures `bench train` builds (bench/neural/architectures.py), by name."""

from __future__ import annotations

import warnings

import pytest

from conftest import require_module

require_module("compressai", "the architectures' layers and entropy coders")
from bench.neural.architectures import ARCHITECTURES, build, train_architecture  # noqa: E402
from bench.neural.portable import PortableMeanScaleHyperprior  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration:UserWarning")  # torch.backends.mkldnn.flags


def test_bench_train_arch_names():
    assert train_architecture("hyperprior") == "portable-hyperprior"
    assert train_architecture("mean-scale") == "portable-mean-scale"
    assert train_architecture("mean-scale-float") == "mean-scale-float"
    assert isinstance(build("portable-mean-scale", 8, 8), PortableMeanScaleHyperprior)
    assert type(build("hyperprior", 8, 8)).__name__ == "ScaleHyperprior"  # a family.json's old name: float
    assert type(build("mean-scale-float", 8, 8)).__name__ == "MeanScaleHyperprior"
    assert ARCHITECTURES["portable-hyperprior"].portable and not ARCHITECTURES["hyperprior"].portable
