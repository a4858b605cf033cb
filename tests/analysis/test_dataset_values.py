"""Values of metrics over a whole dataset (FID, KID: ``DatasetMetric``; bench/analysis/dataset_values.py)
through the run, ``bench score``, the curves and the report, with a small plugin metric whose values are
easy to compute by hand.

``mean_shift``: the distance between the mean colours of all 32 x 32 blocks of the references and
of the decoded images; ``spread_ratio``: the ratio of their standard deviations. Both aggregate
the same features (``block_means``), which are stored once per record.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.analysis.curves import curves_from_run
from bench.report.writer import ReportConfig, make_report
from bench.run.runner import RunConfig, run
from bench.run.score import ScoreConfig, score
from bench.store.sqlite import Store
from conftest import TIMING, read_csv, without_timings, write_synthetic_images

PLUGIN = """
import numpy as np

from bench.api.metric import DatasetMetric, register_metric


class _BlockMeans(DatasetMetric):
    features = "block_means"
    higher_is_better = False

    def extract(self, image):
        h, w = image.shape[0] // 32 * 32, image.shape[1] // 32 * 32
        blocks = image[:h, :w].astype(np.float64).reshape(h // 32, 32, w // 32, 32, 3).mean(axis=(1, 3))
        return blocks.reshape(-1, 3).astype(np.float32)


@register_metric
class MeanShift(_BlockMeans):
    name = "mean_shift"
    label = "Mean shift"
    axis_label = "mean colour shift"
    convention = "distance of the mean colours of all 32 x 32 blocks"

    def aggregate(self, ref, dist):
        return float(np.linalg.norm(ref.astype(np.float64).mean(0) - dist.astype(np.float64).mean(0)))


@register_metric
class SpreadRatio(_BlockMeans):
    name = "spread_ratio"
    label = "Spread ratio"
    axis_label = "spread ratio"
    convention = "standard deviation of the decoded block means over that of the references"

    def aggregate(self, ref, dist):
        return float(dist.astype(np.float64).std() / ref.astype(np.float64).std())
"""


QUALITIES = (30, 70)


def block_means(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[0] // 32 * 32, image.shape[1] // 32 * 32
    blocks = image[:h, :w].astype(np.float64).reshape(h // 32, 32, w // 32, 32, 3).mean(axis=(1, 3))
    return blocks.reshape(-1, 3).astype(np.float32)


def by_hand(run_folder: Path, images: Path, codec: str, quality: int, names: list[str]) -> tuple[float, float]:
    """(mean_shift, spread_ratio) from the saved reconstructions and the reference files."""
    ref = np.concatenate([block_means(np.asarray(Image.open(images / name))) for name in sorted(names)])
    dist = np.concatenate(
        [
            block_means(np.asarray(Image.open(run_folder / "reconstructions" / codec / str(quality) / name)))
            for name in sorted(names)
        ]
    )
    ref, dist = ref.astype(np.float64), dist.astype(np.float64)
    return float(np.linalg.norm(ref.mean(0) - dist.mean(0))), float(dist.std() / ref.std())


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dataset_metrics")
    images = write_synthetic_images(root / "images", 3)
    plugin = root / "blocks.py"
    plugin.write_text(PLUGIN)
    common = dict(dataset=str(images), codecs=("jpeg", "webp"), qualities=QUALITIES, jobs=2,
                  save_reconstructions=True)  # fmt: skip
    folders = {"images": images, "plugin": plugin}
    for name, metrics in (("with", ("psnr_rgb", "mean_shift", "spread_ratio")), ("without", ("psnr_rgb",))):
        folders[name] = root / name
        config = RunConfig(**common, metrics=metrics, plugins=(str(plugin),), out=folders[name])
        made = run(config, progress=False, echo=lambda text: None)
        assert made.ok and len(made.records) == 12
    return folders


def test_a_run_stores_features_and_summarises_dataset_metrics_over_the_images_of_each_row(setup):
    folder = setup["with"]
    summary = read_csv(folder / "summary.csv")
    assert [c for c in summary[0] if c not in TIMING] == ["codec", "quality", "images", "bpp", "psnr_rgb",
                                                          "mean_shift", "spread_ratio"]  # fmt: skip
    assert list(summary[0])[7:9] == ["encode_s", "decode_s"]
    assert "mean_shift" not in read_csv(folder / "records.csv")[0]  # no per-image values
    names = [f"img{i}.png" for i in range(3)]
    for row in summary:
        shift, spread = by_hand(folder, setup["images"], row["codec"], int(row["quality"]), names)
        assert row["images"] == "3"
        assert math.isclose(float(row["mean_shift"]), shift, rel_tol=1e-6, abs_tol=1e-9)
        assert math.isclose(float(row["spread_ratio"]), spread, rel_tol=1e-6)
    shifts = {(r["codec"], r["quality"]): float(r["mean_shift"]) for r in summary}
    assert shifts["jpeg", "30"] > shifts["jpeg", "70"] > 0  # (the values depend on the decoded images)
    with Store(folder / "store.sqlite", read_only=True) as store:
        assert store.metrics() == ["psnr_rgb"] and store.dataset_metrics() == ["mean_shift", "spread_ratio"]
        assert len(store.feature_keys("block_means")) == 12  # once per record, shared by both metrics
        assert sorted(store.reference_features("block_means")) == names
        np.testing.assert_array_equal(
            store.reference_features("block_means")["img1.png"],
            block_means(np.asarray(Image.open(setup["images"] / "img1.png"))),
        )


def test_bench_score_adds_dataset_metrics_to_a_run_with_the_values_bench_run_computes(setup, tmp_path):
    folder = Path(shutil.copytree(setup["without"], tmp_path / "run"))
    config = ScoreConfig(run=folder, metrics=("mean_shift", "spread_ratio"), plugins=(str(setup["plugin"]),), jobs=1)
    report = score(config, progress=False, echo=lambda text: None)
    assert report.ok and report.scored == 12
    assert without_timings(read_csv(folder / "summary.csv")) == without_timings(read_csv(setup["with"] / "summary.csv"))
    again = score(config, progress=False, echo=lambda text: None)
    assert again.ok and again.scored == 0 and again.already == 12 and not again.changed


def test_curves_compute_dataset_metrics_over_the_images_a_comparison_uses(setup):
    folder = setup["with"]
    jpeg = next(c for c in curves_from_run(folder) if c.codec == "jpeg")
    assert jpeg.dataset_metrics == ("mean_shift", "spread_ratio")
    everything = jpeg.points.set_index("quality")
    one = jpeg.means({"img1.png"}).set_index("quality")
    for quality in QUALITIES:
        assert math.isclose(everything.loc[quality, "mean_shift"],
                            by_hand(folder, setup["images"], "jpeg", quality, ["img0.png", "img1.png", "img2.png"])[0],
                            rel_tol=1e-6)  # fmt: skip
        assert math.isclose(one.loc[quality, "mean_shift"],
                            by_hand(folder, setup["images"], "jpeg", quality, ["img1.png"])[0], rel_tol=1e-6)  # fmt: skip
        assert one.loc[quality, "images"] == 1


def test_the_report_tabulates_and_draws_dataset_metrics_but_has_no_per_image_bd_for_them(setup, tmp_path):
    result = make_report(ReportConfig(runs=(setup["with"],), metrics=("mean_shift",), out=tmp_path / "report"))
    rows = result.table[result.table["metric"] == "mean_shift"]
    mean_curve = rows[rows["aggregation"] == "mean-curve"].iloc[0]
    per_image = rows[rows["aggregation"] != "mean-curve"].iloc[0]
    assert mean_curve["codec"] == "webp" and math.isfinite(mean_curve["bd_rate"])
    assert math.isnan(per_image["bd_rate"]) and "computed over the whole dataset" in per_image["note"]
    assert (
        math.isnan(mean_curve["ci_low"])
        and "no interval: Mean shift is computed over the whole dataset" in (mean_curve["note"])
    )  # no per-image values to resample (issue 13)
    assert (tmp_path / "report" / "rd_mean_shift.png").is_file()
    exported = json.loads((tmp_path / "report" / "compressai" / "webp.json").read_text())
    summary = [r for r in read_csv(setup["with"] / "summary.csv") if r["codec"] == "webp"]
    assert exported["results"]["mean_shift"] == pytest.approx([float(r["mean_shift"]) for r in summary])


def test_a_dataset_value_is_not_given_over_images_whose_features_are_missing(setup, tmp_path):
    folder = Path(shutil.copytree(setup["with"], tmp_path / "run"))
    with sqlite3.connect(folder / "store.sqlite") as db:
        db.execute("DELETE FROM features WHERE codec='jpeg' AND quality=30 AND image='img2.png'")
    db.close()
    jpeg = next(c for c in curves_from_run(folder) if c.codec == "jpeg").points.set_index("quality")
    assert math.isnan(jpeg.loc[30, "mean_shift"]) and math.isfinite(jpeg.loc[70, "mean_shift"])
