"""The vectorised PCHIP BD (bench/analysis/bdvector.py) equals the scalar ``bd_rate``/``bd_metric`` row by row:
on random, published and real per-image curves, over overlaps and fixed ranges."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis.bdvector import pchip_bd
from bench.analysis.bootstrap import _bd_of_one_row as bootstrap_scalar


def _scalar(ra, qa, rt, qt, kind: str, interval=None) -> float:
    """bench.analysis.bdrate's BD (the reference), NaN where it raises."""
    return bootstrap_scalar(ra, qa, rt, qt, kind, interval)


def _assert_matches(ra, qa, rt, qt, kind: str, interval=None) -> int:
    """The vectorised BD of every row equals bench.analysis.bdrate's to 1e-9, NaN where it raises; returns the NaNs."""
    got = pchip_bd(ra, qa, rt, qt, kind, interval=interval)
    nans = 0
    for i in range(len(got)):
        expected = _scalar(ra[i], qa[i], rt[i], qt[i], kind, interval)
        if math.isnan(expected):
            assert math.isnan(got[i]), (kind, i, got[i])
            nans += 1
        else:
            assert got[i] == pytest.approx(expected, abs=1e-9), (kind, i)
    return nans


def _random_curves(rng, rows: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    rate = np.sort(rng.uniform(0.05, 2.0, (rows, points)), axis=1)
    quality = 22 + np.cumsum(rng.uniform(0.05, 4.0, (rows, points)), axis=1)
    return rate, quality


@pytest.mark.parametrize("na, nt", [(2, 2), (2, 5), (4, 4), (6, 3), (10, 19)])
def test_vectorised_pchip_equals_bdrate_on_random_curves(na, nt):
    rng = np.random.default_rng(na * 100 + nt)
    ra, qa = _random_curves(rng, 200, na)
    rt, qt = _random_curves(rng, 200, nt)
    qt[::13] += 40  # no overlap
    qa[::17, 0] = qa[::17, -1] + 1  # quality falls with rate
    ra[::19, 0] = -1.0  # a rate <= 0
    qt[::23, -1] = math.nan  # a non-finite value
    order = rng.permutation(na)  # points in any order
    ra, qa = ra[:, order], qa[:, order]
    for kind in ("rate", "metric"):
        nans = _assert_matches(ra, qa, rt, qt, kind)
        assert 0 < nans < 100  # both kinds of row are checked


def test_vectorised_pchip_equals_bdrate_over_fixed_ranges():
    rng = np.random.default_rng(5)
    ra, qa = _random_curves(rng, 200, 5)
    rt, qt = _random_curves(rng, 200, 4)
    assert _assert_matches(ra, qa, rt, qt, "rate", (30.0, 34.0)) > 0
    assert _assert_matches(ra, qa, rt, qt, "metric", (0.4, 0.9)) > 0


def test_vectorised_pchip_equals_bdrate_on_published_kodak_curves(compressai_reference):
    curves = []
    for path in sorted(compressai_reference.glob("*.json")):
        results = json.loads(path.read_text())["results"]
        bpp, psnr = results.get("bpp"), results.get("psnr-rgb")
        if isinstance(psnr, list) and all(isinstance(v, (int, float)) for v in [*bpp, *psnr]):
            curves.append((np.array(bpp, float), np.array(psnr, float)))
    by_length: dict[int, list] = {}
    for curve in curves:
        by_length.setdefault(len(curve[0]), []).append(curve)
    checked = 0
    for anchors in by_length.values():
        for tests in by_length.values():
            pairs = [(a, t) for a in anchors for t in tests]
            arrays = [np.array([p[i][j] for p in pairs]) for i in (0, 1) for j in (0, 1)]
            for kind in ("rate", "metric"):
                _assert_matches(*arrays, kind)
            checked += len(pairs)
    assert checked > 500


def test_vectorised_pchip_equals_bdrate_on_real_per_image_curves(small_dataset, tmp_path):
    """Per-image curves of a real run (jpeg, webp and the default learned codec on four Kodak crops)."""
    from bench.run.runner import RunConfig, run

    config = RunConfig(dataset=str(small_dataset), codecs=("jpeg", "webp", "mean-scale-small"), jobs=2,
                       qualities=None, out=tmp_path / "run")  # fmt: skip
    assert run(config, progress=False, echo=lambda text: None).ok
    rows = pd.read_csv(tmp_path / "run" / "records.csv")
    curves = {
        (codec, image): (group["bpp"].to_numpy(float), group["psnr_y"].to_numpy(float))
        for (codec, image), group in rows.groupby(["codec", "image"])
    }
    jpeg = [curves[key] for key in sorted(curves) if key[0] == "jpeg"]
    for codec in ("webp", "mean-scale-small"):
        tests = [curves[key] for key in sorted(curves) if key[0] == codec]
        arrays = [np.array([c[i] for c in group]) for group in (jpeg, tests) for i in (0, 1)]
        for kind in ("rate", "metric"):
            _assert_matches(*arrays, kind)

    # the per-image aggregation computes these curves at once: the same table, notes included, as one by one
    import bench.analysis.bd_table as bd_table_module
    from bench.analysis.curves import curves_from_run

    run_curves = curves_from_run(tmp_path / "run")
    for anchor in [c for c in run_curves if c.label == "jpeg"]:
        at_once = bd_table_module.bd_table(run_curves, anchor, metrics=["psnr_rgb", "ms_ssim_db"], resamples=0)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bd_table_module, "_plain_pchip_images", lambda *args: {})
            one_by_one = bd_table_module.bd_table(run_curves, anchor, metrics=["psnr_rgb", "ms_ssim_db"], resamples=0)
        pd.testing.assert_frame_equal(at_once, one_by_one, rtol=1e-11, atol=1e-11)
        # the learned codec's narrow range: notes to write
        notes = at_once[(at_once.codec == "mean-scale-small") & (at_once.aggregation == "per-image")]["note"]
        assert notes.str.contains("images integrated over less than half").all()


@pytest.mark.parametrize("points", [2, 3, 7])
def test_vectorised_pchip_evaluation_equals_scipys_interpolant(points):
    from scipy.interpolate import PchipInterpolator

    from bench.analysis.bdvector import pchip_at

    rng = np.random.default_rng(points)
    x = np.cumsum(rng.uniform(0.1, 3.0, (40, points)), axis=1)
    y = rng.normal(0, 2, (40, points))  # any shape, turns included
    inside = x[:, :1] + (x[:, -1:] - x[:, :1]) * rng.uniform(0, 1, (40, 6))
    wanted = np.concatenate([inside, x, x[:, :1] - 0.5, x[:, -1:] + 0.5, np.full((40, 1), np.nan)], axis=1)
    got = pchip_at(x, y, wanted)
    for row in range(40):
        expected = PchipInterpolator(x[row], y[row], extrapolate=False)(wanted[row])
        assert np.array_equal(np.isnan(got[row]), np.isnan(expected))  # outside the range and not finite: NaN
        assert np.nanmax(np.abs(got[row] - expected)) <= 1e-12 * np.nanmax(np.abs(expected)), row
