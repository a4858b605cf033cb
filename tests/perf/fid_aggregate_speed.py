"""fid_patch and kid_patch aggregates vs torchmetrics' compute on 192 x 2048 features, one CPU thread.

192 features a side is Kodak's count (24 images x 8 patches). The features are random, non-negative
like Inception pool3's (two independent sets, the second shifted; float32, as stored), since the
published Inception weights may not be here; the aggregates do not depend on where features come from.

* FID: ours (:func:`bench.metrics.fid.frechet_distance`, float64, the trace term as a nuclear norm) vs
  ``torchmetrics.image.fid.FrechetInceptionDistance.compute`` (float64 covariances, eigenvalues of their
  2048 x 2048 product) and pytorch-fid's formula (``scipy.linalg.sqrtm``). Only torchmetrics' compute is
  timed: its ``update`` (summing the features and their outer products) is left out; ours is timed from
  the float32 features.
* KID: ours (:func:`bench.metrics.fid.polynomial_mmd2`) vs
  ``torchmetrics.image.kid.KernelInceptionDistance(subsets=1, subset_size=192).compute`` on the same
  features as float64 (the same value; its default of 100 subsets costs 100 times that).

Prints the best of REPEATS wall times of each (sqrtm: one run), the speed-up and the relative difference.
With ``--extract``, also the time of ``FidPatch().extract`` on a Kodak image (8 patches), when the
Inception weights are in torch's hub cache.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy and torch load their BLAS/LAPACK libraries

import argparse  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: E402
from torchmetrics.image.kid import KernelInceptionDistance  # noqa: E402

from _common import best_of, data_dir, machine  # noqa: E402
from bench.metrics.fid import FidPatch, frechet_distance, polynomial_mmd2  # noqa: E402

REPEATS = 3
N, D = 192, 2048


class Given(torch.nn.Module):
    """Ready-made features, as they are (torchmetrics' metrics on them)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.num_features = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def uncached(metric) -> Any:
    """``metric.compute()`` computed again (torchmetrics keeps the last value until the next update)."""
    metric._computed = None
    return metric.compute()


def sqrtm_fid(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)


def row(name: str, ours_s: float, ours: float, ref_s: float, ref: float) -> str:
    return (f"{name:<38} ours {ours_s * 1e3:9.1f} ms   reference {ref_s * 1e3:9.1f} ms   x{ref_s / ours_s:7.1f}   "
            f"rel. diff {abs(ours - ref) / abs(ref):.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extract", action="store_true", help="also time FidPatch().extract on kodim01")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    a = np.abs(rng.normal(0.3, 0.3, (N, D))).astype(np.float32)
    b = np.abs(rng.normal(0.33, 0.3, (N, D))).astype(np.float32)
    print(f"{machine()}; torch threads {torch.get_num_threads()}; features {N} x {D} a side")

    fid = FrechetInceptionDistance(feature=Given(D))
    fid.update(torch.from_numpy(a), real=True)
    fid.update(torch.from_numpy(b), real=False)
    ours = frechet_distance(a, b)
    theirs = fid.compute().item()
    print(row("FID vs torchmetrics compute", best_of(lambda: frechet_distance(a, b), REPEATS), ours,
              best_of(lambda: uncached(fid), REPEATS), theirs))  # fmt: skip
    print(row("FID vs scipy.linalg.sqrtm (1 run)", best_of(lambda: frechet_distance(a, b), REPEATS), ours,
              best_of(lambda: sqrtm_fid(a, b), 1), sqrtm_fid(a, b)))  # fmt: skip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=Given(D), subsets=1, subset_size=N)
    kid.update(torch.from_numpy(a).double(), real=True)
    kid.update(torch.from_numpy(b).double(), real=False)
    print(row("KID vs torchmetrics (1 subset of all)", best_of(lambda: polynomial_mmd2(a, b), REPEATS),
              polynomial_mmd2(a, b), best_of(lambda: uncached(kid), REPEATS), kid.compute()[0].item()))  # fmt: skip

    if args.extract:
        reason = FidPatch.unavailable_reason()
        if reason:
            print(f"extract: not timed, fid_patch is unavailable here: {reason}")
        else:
            image = np.asarray(Image.open(data_dir() / "kodak" / "kodim01.png").convert("RGB"))
            metric = FidPatch()
            metric.extract(image)  # loads the network
            print(f"extract, kodim01 (8 patches): {best_of(lambda: metric.extract(image), REPEATS):.2f} s")


if __name__ == "__main__":
    main()
