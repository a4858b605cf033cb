"""Where a learned codec's CPU decode time goes, and what channels-last memory format would give.

For the shipped learned codecs (``factorized-small``, ``mean-scale-small``), on one thread and ``--images N``
Kodak images at each quality: ``bench``'s decode time (median over the images), split as a run records it
into the network (``decode_network_s``: the synthesis transform, and the hyper-synthesis of the float
models) and the rest (``decode_coding_s``: entropy decoding, the portable families' integer
hyper-synthesis, padding and rounding); then the same decodes with the synthesis transform ``g_s`` (weights
and input) in channels-last memory format: the time, whether every decoded pixel is the same, and whether
``g_s``'s floats are bit for bit the same. ``torch.inference_mode`` is on in every call already.

Found (2026-12-07, torch 2.14.1, this 2-core AMD EPYC): channels-last takes 5-20% off these decodes with
the same pixels and the same floats. But the same switch on other models (``bench train`` architectures
at N=32, M=48, and CompressAI's zoo architectures, random weights, latents of 8x12 to 32x48) gave floats
that differ in their last bits (oneDNN picks its algorithm by shape and layout), which can move a pixel
that sits on a rounding edge. Since a run's decoded pixels must not depend on such a switch, the codecs
do not use it.

    .venv/bin/python tests/perf/learned_cpu_decode.py --images 4
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import torch
from PIL import Image

from _common import data_dir, machine
from bench.api.codec_registry import discover


@contextlib.contextmanager
def channels_last(g_s):
    """``g_s``'s weights and input in channels-last memory format while inside."""
    g_s.to(memory_format=torch.channels_last)
    hook = g_s.register_forward_pre_hook(lambda _, args: (args[0].contiguous(memory_format=torch.channels_last),))
    try:
        yield
    finally:
        hook.remove()
        g_s.to(memory_format=torch.contiguous_format)


def decode(codec, data: bytes, latents: list) -> tuple[float, dict, np.ndarray]:
    """(seconds, the codec's recorded split, pixels) of one decode; ``g_s``'s input is appended to ``latents``."""
    start = time.perf_counter()
    pixels = codec.decode(data)
    return time.perf_counter() - start, codec.last_stats(), pixels


def same_floats(g_s, latents: list) -> bool:
    """Whether ``g_s`` gives bit for bit the same floats for every latent in both memory formats."""
    with torch.inference_mode():
        plain = [g_s(y).contiguous() for y in latents]
        with channels_last(g_s):
            fast = [g_s(y).contiguous() for y in latents]
    return all(torch.equal(a, b) for a, b in zip(plain, fast, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--codecs", default="factorized-small,mean-scale-small")
    args = parser.parse_args()
    torch.set_num_threads(1)
    registry = discover()
    paths = sorted((data_dir() / "kodak").glob("kodim*.png"))[: args.images]
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    print(f"machine: {machine()}; torch {torch.__version__}, one thread; {len(images)} Kodak images (768x512)")
    print(f"{'codec':18} {'q':>3} {'decode ms':>10} {'network':>8} {'coding':>8} {'channels-last ms':>17} "
          f"{'same pixels':>12} {'same g_s floats (latent sizes)':>32}")  # fmt: skip
    for name in args.codecs.split(","):
        encoder = registry.get(name).create("cpu", False)
        decoder = registry.get(name).create("cpu", False)
        for quality in range(int(encoder.knob.low), int(encoder.knob.high) + 1):
            streams = [encoder.encode(image, quality) for image in images]
            g_s = decoder._model(quality).g_s
            latents: list = []
            hook = g_s.register_forward_pre_hook(lambda _, a, seen=latents: seen.append(a[0].detach().clone()))
            decoder.decode(streams[0])  # warm-up
            plain = [decode(decoder, s, latents) for s in streams]
            hook.remove()
            with channels_last(g_s):
                decoder.decode(streams[0])
                fast = [decode(decoder, s, latents) for s in streams]
            pixels = all(np.array_equal(a[2], b[2]) for a, b in zip(plain, fast, strict=True))
            # the images' latents, and the same cropped to other sizes
            sizes = [latents[0], latents[0][..., :13, :21], latents[0][..., :8, :12]]
            floats = same_floats(g_s, sizes)
            ms = lambda rows, key=None: 1e3 * statistics.median(r[1][key] if key else r[0] for r in rows)  # noqa: E731
            print(f"{name:18} {quality:>3} {ms(plain):>10.1f} {ms(plain, 'decode_network_s'):>8.1f} "
                  f"{ms(plain, 'decode_coding_s'):>8.1f} {ms(fast):>17.1f} {'yes' if pixels else 'NO':>12} "
                  f"{'yes' if floats else 'NO':>32}")  # fmt: skip


if __name__ == "__main__":
    main()
