"""The shipped learned codec on the CPU: our encode/decode against compressai's own compress/decompress.

Same model, same images (Kodak), same thread count (1): ``bench``'s codec adds the conversion to a
tensor, padding, the bitstream header and, when decoding, cropping and rounding to 8 bits around
compressai's ``compress``/``decompress``. Prints per quality the median time of each over the
images, and the model's estimated bits against the real size.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numpy as np
import torch
from PIL import Image

from _common import data_dir, machine
from bench.api.codec_registry import discover

IMAGES = 8


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(name: str = "factorized-small") -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    codec = discover().get(name).create("cpu")
    images = [
        np.asarray(Image.open(p).convert("RGB")) for p in sorted((data_dir() / "kodak").glob("kodim*.png"))[:IMAGES]
    ]
    print(f"machine: {machine()}; torch {torch.__version__}, 1 thread; codec {name}; {IMAGES} Kodak images, best of 3")
    print(
        "quality | ours encode | compressai compress | ours decode | compressai decompress | bytes: ours / strings only | estimated bits / real bits"
    )
    for q in codec.knob.sweep:
        model = codec.model(q)
        rows = []
        for image in images:
            x = codec._padded_tensor(image)
            t_enc, data = timed(lambda image=image, q=q: codec.encode(image, q))
            with torch.inference_mode():
                t_cmp, out = timed(lambda x=x, model=model: model.compress(x))
            t_dec, _ = timed(lambda data=data: codec.decode(data))
            with torch.inference_mode():
                t_dcmp, _ = timed(lambda out=out, model=model: model.decompress(out["strings"], out["shape"]))
            strings = sum(len(s[0]) for s in out["strings"])
            est = codec.analyze(image, q)["estimated_bits"]
            rows.append((t_enc, t_cmp, t_dec, t_dcmp, len(data), strings, est / (8 * len(data))))
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        print(f"{q} | {1e3 * med[0]:.1f} ms | {1e3 * med[1]:.1f} ms | {1e3 * med[2]:.1f} ms | {1e3 * med[3]:.1f} ms | "
              f"{med[4]:.0f} / {med[5]:.0f} | {med[6]:.4f}")  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
