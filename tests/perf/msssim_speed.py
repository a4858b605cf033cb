"""MS-SSIM: ours (bench.metrics.fidelity.ms_ssim) vs pytorch_msssim.ms_ssim, one CPU thread, 768x512 Kodak.

Prints the median time of each over all 24 Kodak images x 3 JPEG qualities, the speed ratio and
the largest absolute difference of the values.
"""

from __future__ import annotations

import io
import statistics

import cv2
import numpy as np
import torch
from PIL import Image
from pytorch_msssim import ms_ssim as reference

from _common import best_of, data_dir, machine
from bench.metrics.fidelity import ms_ssim

REPEATS = 5


def main() -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    ours_t, ref_t, diffs = [], [], []
    for path in sorted((data_dir() / "kodak").glob("kodim*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        for quality in (10, 50, 90):
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, "JPEG", quality=quality)
            decoded = np.asarray(Image.open(buf).convert("RGB"))
            x = torch.from_numpy(image.copy()).float().permute(2, 0, 1)[None]
            y = torch.from_numpy(decoded.copy()).float().permute(2, 0, 1)[None]
            ms_ssim(image, decoded), reference(x, y, data_range=255)  # warm-up
            ours_t.append(best_of(lambda a=image, b=decoded: ms_ssim(a, b), REPEATS))
            # the reference gets its tensors ready-made: only the metric itself is timed
            ref_t.append(best_of(lambda a=x, b=y: reference(a, b, data_range=255), REPEATS))
            diffs.append(abs(ms_ssim(image, decoded) - reference(x, y, data_range=255).item()))
    ours, ref = statistics.median(ours_t), statistics.median(ref_t)
    print(f"machine: {machine()}; torch {torch.__version__}, OpenCV {cv2.__version__}, one thread each")
    print(f"images: 24 Kodak x JPEG q10/50/90 = {len(diffs)} pairs, best of {REPEATS} per pair, median over pairs")
    print(f"bench.metrics.fidelity.ms_ssim     {ours * 1e3:7.2f} ms")
    print(f"pytorch_msssim.ms_ssim    {ref * 1e3:7.2f} ms")
    print(f"speed-up                  {ref / ours:7.2f}x")
    print(f"max |difference|          {max(diffs):.2e}")


if __name__ == "__main__":
    main()
