"""Bootstrap intervals of the BD table: their cost on a Kodak run, and vectorised vs scalar BD, one CPU thread.

* The best of three times of the BD table (:func:`bench.analysis.bd_table.bd_table`) of a run folder (default ``results/kodak``, the default
  ``bench run --dataset kodak``) with ``--bootstrap 0`` and with 1,000 resamples: the difference is
  what the intervals cost (both aggregations, every pair and metric). The same for a 10-codec table:
  the run's curves plus copies of two of them with their per-image values perturbed (1%), so that a
  24-image table has 9 pairs x 3 metrics x 2 aggregations whatever the run holds.
* One pair and metric (webp against jpeg, PSNR-RGB, mean curves): ``SUBSET`` resamples' BD-rates
  from :func:`bench.analysis.bootstrap.resampled_bd` (vectorised PCHIP) vs a loop over
  :func:`bench.analysis.bdrate.bd_rate` on the same resampled mean curves: time per resample and the largest
  difference.

Usage: ``.venv/bin/python tests/perf/bootstrap_speed.py [RUN] [--resamples N]``.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _common import REPO, best_of, machine  # noqa: E402
from bench.analysis.bd_table import bd_table  # noqa: E402
from bench.analysis.bdrate import bd_rate  # noqa: E402
from bench.analysis.bootstrap import curve_values, resample_counts, resampled_bd  # noqa: E402
from bench.analysis.curves import curves_from_run  # noqa: E402

SUBSET = 200
REPEATS = 3  # best of, for the table times


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _perturbed(curve, label: str, seed: int):
    rng = np.random.default_rng(seed)
    rows = curve.per_image.copy()
    for column in ("bpp", "psnr_rgb", "psnr_y"):
        rows[column] = rows[column] * (1 + 0.01 * rng.standard_normal(len(rows)))
    rows["codec"] = label
    return replace(curve, label=label, codec=label, per_image=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", default=str(REPO / "results" / "kodak"))
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    curves = curves_from_run(Path(args.run))
    anchor = next(c for c in curves if c.codec == "jpeg")
    print(f"machine: {machine()}; run {args.run}: {len(curves)} codecs")
    ten = curves + [_perturbed(c, f"{c.label}-copy", i) for i, c in enumerate(curves[:2])][: max(0, 10 - len(curves))]
    for name, table_curves in (("run", curves), ("10 codecs", ten)):
        off = best_of(lambda c=table_curves: bd_table(c, anchor, resamples=0), REPEATS)
        on = best_of(lambda c=table_curves: bd_table(c, anchor, resamples=args.resamples), REPEATS)
        table = bd_table(table_curves, anchor, resamples=args.resamples)
        pairs = len(table_curves) - 1
        metrics = table["metric"].nunique()
        print(
            f"{name}: {pairs} pairs x {metrics} metrics x 2 aggregations: table {off:.2f} s without intervals, "
            f"{on:.2f} s with {args.resamples} resamples: the intervals cost {on - off:.2f} s"
        )

    webp = next(c for c in curves if c.codec == "webp")
    images = sorted(anchor.complete_images() & webp.complete_images())
    counts = resample_counts(len(images), SUBSET, 0)
    va, vt = (curve_values(c.per_image, images, "psnr_rgb") for c in (anchor, webp))
    vec, (rates, _) = _timed(lambda: resampled_bd(va, vt, counts))
    ra, qa = va.means(counts)
    rt, qt = vt.means(counts)

    def scalar() -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.array([bd_rate(ra[i], qa[i], rt[i], qt[i], "pchip") for i in range(SUBSET)])

    loop, expected = _timed(scalar)
    print(
        f"webp vs jpeg, PSNR-RGB, {SUBSET} resamples of {len(images)} images: vectorised {1e3 * vec / SUBSET:.3f} "
        f"ms per resample (BD-rate and BD-metric, means included), scalar bd_rate loop {1e3 * loop / SUBSET:.3f} ms "
        f"(BD-rate only): {loop / vec:.0f}x; largest difference {np.max(np.abs(rates - expected)):.1e} "
        "percentage points"
    )


if __name__ == "__main__":
    main()
