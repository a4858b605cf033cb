"""What the network / entropy-coding time split costs the timed calls of learned codecs (CPU, one thread).

The split wraps the model's network parts while ``encode`` and ``decode`` run (``bench/neural/complexity.py``,
``PartWatch``: two ``perf_counter`` calls and a dictionary update per part call). Times each call with the
split and with ``PartWatch`` replaced by a context that does nothing, alternating, median of ``ROUNDS``:

* ``mean-scale-small`` (shipped weights) on kodim01: four part calls per encode, two per decode;
* CompressAI's ``mbt2018`` quality 1 (random weights: the time does not depend on them) on a 256 x 256
  crop of kodim01: its autoregressive loop calls ``entropy_parameters`` once per latent position (256).

    python tests/perf/time_split_overhead.py
"""

from __future__ import annotations

import contextlib
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import bench.neural.codec as codec_module
from _common import machine
from bench.api.codec import Knob
from bench.neural.codec import CompressAICodec

ROUNDS = 15
KODIM01 = Path(__file__).resolve().parents[3] / "shared/datasets/kodak/kodim01.png"


class _Unwatched(contextlib.nullcontext):
    """PartWatch's interface, measuring nothing."""

    network_s = 0.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(self)


class _Mbt2018(CompressAICodec):
    """CompressAI's mbt2018 at quality 1 with random weights, through the learned-codec base."""

    name = "mbt2018-random"
    padding = "compressai"
    knob = Knob("quality", 1, 1, sweep=(1,))

    def __init__(self) -> None:
        super().__init__("cpu")
        from compressai.zoo import mbt2018

        self.net = mbt2018(quality=1, pretrained=False).eval()
        self.net.update(force=True)

    def model(self, quality: int):
        return self.net

    def model_id(self, quality: int) -> bytes:
        return b"rand"

    def settings(self):
        return {}


def timed(codec, image: np.ndarray, quality: int) -> tuple[float, float]:
    start = time.perf_counter()
    data = codec.encode(image, quality)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    codec.decode(data)
    return encode_s, time.perf_counter() - start


def compare(label: str, codec, image: np.ndarray, quality: int) -> None:
    real = codec_module.PartWatch
    timed(codec, image, quality)  # warm-up
    watched, unwatched = [], []
    for _ in range(ROUNDS):
        codec_module.PartWatch = real
        watched.append(timed(codec, image, quality))
        codec_module.PartWatch = _Unwatched
        unwatched.append(timed(codec, image, quality))
    codec_module.PartWatch = real
    for i, call in enumerate(("encode", "decode")):
        a = statistics.median(t[i] for t in watched)
        b = statistics.median(t[i] for t in unwatched)
        print(f"  {label} {call}: with the split {1e3 * a:9.2f} ms, without {1e3 * b:9.2f} ms, "
              f"difference {1e3 * (a - b):+7.2f} ms = {100 * (a - b) / b:+.2f}%")  # fmt: skip


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    print(f"machine: {machine()}, torch {torch.__version__}; median of {ROUNDS} alternating calls")
    image = np.asarray(Image.open(KODIM01).convert("RGB"))
    from bench.api.codec_registry import discover

    compare("mean-scale-small q3, kodim01", discover().get("mean-scale-small").create("cpu"), image, 3)
    crop = np.ascontiguousarray(image[:256, :256])
    compare("mbt2018 q1, 256x256", _Mbt2018(), crop, 1)


if __name__ == "__main__":
    main()
