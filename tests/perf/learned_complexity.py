"""Encoder and decoder kMAC/pixel and parameters of codec-bench's shipped families and CompressAI's zoo architectures.

Counts ``compress`` and ``decompress`` of a Kodak-sized image (768 x 512, a multiple of 64: no padding)
as ``bench run`` does (:func:`bench.neural.complexity.count_macs`), for every quality of each family
and zoo architecture. The zoo models are built with random weights (``pretrained=False``: the counts
and parameter numbers do not depend on the weights, so no checkpoint is downloaded); the entropy
models' tables are computed with ``update(force=True)`` so that ``compress`` runs. The families use
their shipped weights. One table row per architecture and group of qualities with the same numbers.

    python tests/perf/learned_complexity.py [--arch mbt2018,...]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from _common import machine
from bench.neural.complexity import count_macs, parameters_by_part
from bench_codecs.compressai_zoo import ZOO  # architecture -> number of qualities

HEIGHT, WIDTH = 512, 768
FAMILIES = ("mean-scale-small", "factorized-small")


def counts(net) -> tuple[float, float, int, int, int, float]:
    """(enc kMAC/px, dec kMAC/px, parameters, enc parameters, dec parameters, seconds) of ``net``."""
    x = torch.rand(1, 3, HEIGHT, WIDTH)
    start = time.perf_counter()
    enc = count_macs(net, lambda: net.compress(x))
    dec = count_macs(net, lambda: net.decompress(enc.result["strings"], enc.result["shape"]))
    params = parameters_by_part(net)
    pixels = 1000.0 * HEIGHT * WIDTH
    return (enc.total / pixels, dec.total / pixels, sum(params.values()),
            sum(params.get(p, 0) for p in enc.parts), sum(params.get(p, 0) for p in dec.parts),
            time.perf_counter() - start)  # fmt: skip


def zoo_model(arch: str, quality: int):
    from compressai.zoo import image_models

    net = image_models[arch](quality=quality, pretrained=False).eval()
    net.update(force=True)
    return net


def family_models(name: str):
    from bench.api.codec_registry import discover

    codec = discover().get(name).create("cpu")
    for quality in sorted(codec.family.models):
        yield quality, codec.model(quality)


def rows_of(name: str, models) -> list[str]:
    found: dict[tuple, list[int]] = {}
    for quality, net in models:
        enc, dec, params, enc_params, dec_params, seconds = counts(net)
        key = (round(enc, 3), round(dec, 3), params, enc_params, dec_params)
        found.setdefault(key, []).append(quality)
        print(f"  {name} q{quality}: counted in {seconds:.1f} s", flush=True)
    lines = []
    for (enc, dec, params, enc_params, dec_params), qualities in found.items():
        q = f"{qualities[0]}-{qualities[-1]}" if len(qualities) > 1 else str(qualities[0])
        lines.append(f"| {name} | {q} | {enc:.2f} | {dec:.2f} | {params / 1e6:.3f} M | {enc_params / 1e6:.3f} M | "
                     f"{dec_params / 1e6:.3f} M |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default=",".join([*FAMILIES, *ZOO]), help="families and zoo architectures")
    names = parser.parse_args().arch.split(",")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    np.random.seed(0)
    torch.manual_seed(0)
    print(f"machine: {machine()}, torch {torch.__version__}; image {WIDTH}x{HEIGHT}")
    table = ["| codec | qualities | enc kMAC/px | dec kMAC/px | parameters | enc parameters | dec parameters |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for name in names:
        if name in FAMILIES:
            table += rows_of(name, family_models(name))
        else:
            table += rows_of(f"compressai:{name}", ((q, zoo_model(name, q)) for q in range(1, ZOO[name] + 1)))
    print("\n".join(table))


if __name__ == "__main__":
    main()
