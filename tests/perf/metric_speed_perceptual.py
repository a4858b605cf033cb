"""FSIMc, IW-SSIM, NLPD: ours (bench.metrics.perceptual) vs their references, one CPU thread, Kodak.

References: ``piq.fsim(dist, ref, data_range=1.0, chromatic=True)``,
``piq.information_weighted_ssim(dist, ref, data_range=1.0)`` (float32 NCHW RGB in [0, 1]) and
``plenoptic.metric.nlpd(y_ref, y_dist, epsilon=0)`` (float32 luma in [0, 1]), each given its tensors
ready-made: only the metric itself is timed. Distorted images: JPEG quality 30 (Pillow).

Prints, per metric, the median over the Kodak images (24 by default; ``--images N`` for fewer) of the
best of REPEATS runs of each, the speed ratio and the largest absolute and relative differences.
Our FSIM builds its filter bank once per image size (a cache): the warm-up call of each pair pays it.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy and torch load their BLAS/FFT libraries

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import piq  # noqa: E402
import plenoptic  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from _common import best_of, data_dir, machine  # noqa: E402
from bench.metrics.perceptual import fsim, iw_ssim, nlpd  # noqa: E402

REPEATS = 3
QUALITY = 30
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255


# (name, ours(ref, dist), the reference's inputs from (ref, dist), the reference on them)
ROWS = [
    ("fsim", fsim, lambda r, d: (tensor(d), tensor(r)),
     lambda x, y: piq.fsim(x, y, data_range=1.0, chromatic=True).item()),
    ("iw_ssim", iw_ssim, lambda r, d: (tensor(d), tensor(r)),
     lambda x, y: piq.information_weighted_ssim(x, y, data_range=1.0).item()),
    ("nlpd", nlpd, lambda r, d: ((tensor(r) * _LUMA).sum(1, keepdim=True), (tensor(d) * _LUMA).sum(1, keepdim=True)),
     lambda x, y: plenoptic.metric.nlpd(x, y, epsilon=0.0).item()),
]  # fmt: skip
REFERENCE_NAMES = {
    "fsim": "piq.fsim (chromatic)",
    "iw_ssim": "piq.information_weighted_ssim",
    "nlpd": "plenoptic.metric.nlpd",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=24, help="how many Kodak images (default: all 24)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    paths = sorted((data_dir() / "kodak").glob("kodim*.png"))[: args.images]
    results = {name: ([], [], [], []) for name, *_ in ROWS}  # ours s, reference s, |diff|, |diff| / |ref|
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=QUALITY)
        decoded = np.asarray(Image.open(buf).convert("RGB"))
        for name, ours, inputs, reference in ROWS:
            x, y = inputs(image, decoded)
            with torch.no_grad():
                ours_value, ref_value = ours(image, decoded), reference(x, y)  # warm-up, and the values
                ours_t, ref_t, diffs, rels = results[name]
                ours_t.append(best_of(lambda o=ours, a=image, b=decoded: o(a, b), REPEATS))
                ref_t.append(best_of(lambda r=reference, a=x, b=y: r(a, b), REPEATS))
            diffs.append(abs(ours_value - ref_value))
            rels.append(abs(ours_value - ref_value) / abs(ref_value))
    print(f"machine: {machine()}; torch {torch.__version__}, OpenCV {cv2.__version__}, numpy {np.__version__}, "
          f"piq {piq.__version__}, plenoptic {plenoptic.__version__}; one thread each")  # fmt: skip
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"images: {len(paths)} Kodak x JPEG q{QUALITY}, best of {REPEATS} per pair, median over pairs")
    print(
        f"{'metric':9} {'ours ms':>9} {'reference ms':>13}  {'speed-up':>8}  {'max |diff|':>10}  {'max rel':>8}  reference"
    )
    for name, *_ in ROWS:
        ours_t, ref_t, diffs, rels = results[name]
        ours_ms, ref_ms = statistics.median(ours_t) * 1e3, statistics.median(ref_t) * 1e3
        print(f"{name:9} {ours_ms:9.1f} {ref_ms:13.1f}  {ref_ms / ours_ms:7.1f}x  {max(diffs):10.1e}  {max(rels):8.1e}  "
              f"{REFERENCE_NAMES[name]}")  # fmt: skip


if __name__ == "__main__":
    main()
