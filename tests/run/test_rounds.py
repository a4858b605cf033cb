"""Rate-matched runs (`bench run --target-bpp`, bench/run/rounds.py): each target reached on each image,
resumable, reported; a failed probe stops its search; targets beyond a learned family's models."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from PIL import Image

from bench.analysis.curves import curves_from_run
from bench.report.writer import ReportConfig, make_report
from bench.run.runner import RunConfig, RunSetupError, run
from conftest import read_csv


def test_quality_and_targets_together_are_refused(tmp_path):
    config = RunConfig(dataset=str(tmp_path), codecs=("jpeg",), qualities=(50,), target_bpp=(0.5,), jobs=1)
    with pytest.raises(RunSetupError, match="--quality and --target-bpp cannot be used together"):
        run(config, progress=False, echo=lambda text: None)


# --- real runs -------------------------------------------------------------------------------------


def quiet_run(**kwargs):
    kwargs.setdefault("jobs", 1)
    lines: list[str] = []
    report = run(RunConfig(**kwargs), progress=False, echo=lines.append)
    return report, "\n".join(lines)


def test_a_rate_matched_kodak_run_reaches_its_targets_resumes_and_reports(tmp_path, small_dataset):
    out = tmp_path / "r"
    args = dict(dataset=str(small_dataset), codecs=("jpeg", "webp"), target_bpp=(0.5, 0.75, 50.0), out=out,
                max_images=3)  # fmt: skip
    report, printed = quiet_run(**args)
    assert report.ok and report.measured_now > 0
    images = ["crop01.png", "crop04.png", "crop13.png"]
    records = {(r["codec"], float(r["quality"]), r["image"]): r for r in read_csv(out / "records.csv")}
    per_image = read_csv(out / "target_rates_per_image.csv")
    assert len(per_image) == 2 * 3 * 3
    for row in per_image:
        record = records[row["codec"], float(row["knob"]), row["image"]]  # the chosen probe is a measured record
        assert float(row["bpp"]) == float(record["bpp"]) and row["psnr_rgb"] == record["psnr_rgb"]
        assert float(row["knob"]).is_integer() and 0 <= float(row["knob"]) <= 100
        assert 2 <= int(row["probes"]) <= 8
        if row["target_bpp"] == "50":  # far above what either codec makes of these crops
            assert (row["status"], row["reached"], row["knob"]) == ("above", "False", "100")
        else:
            assert row["status"] == "reached"
            assert abs(float(row["bpp"]) / float(row["target_bpp"]) - 1) <= 0.15
    summary = {(r["codec"], r["target_bpp"]): r for r in read_csv(out / "target_rates.csv")}
    assert set(summary) == {(c, t) for c in ("jpeg", "webp") for t in ("0.5", "0.75", "50")}
    for (codec, target), row in summary.items():
        assert row["images"] == "3" and row["tolerance"] == "0.15"
        if target == "50":
            assert row["images_reached"] == "0" and row["bpp"] == ""
            assert row["note"].startswith("above the highest rate: ") and all(i in row["note"] for i in images)
        else:
            assert row["images_reached"] == "3" and row["note"] == ""
            chosen = [r for r in per_image if (r["codec"], r["target_bpp"]) == (codec, target)]
            assert float(row["bpp"]) == pytest.approx(np.mean([float(r["bpp"]) for r in chosen]), rel=1e-9)
            assert float(row["psnr_rgb"]) == pytest.approx(np.mean([float(r["psnr_rgb"]) for r in chosen]), rel=1e-9)
            assert abs(float(row["bpp"]) / float(target) - 1) <= 0.15
    assert "jpeg: 0.5: 3/3" in printed and "50: 0/3" in printed
    doc = json.loads((out / "run.json").read_text())
    assert doc["config"]["target_bpp"] == [0.5, 0.75, 50.0] and doc["config"]["target_tolerance"] == 0.15
    assert doc["rate_matching"]["knobs"]["jpeg"] == {"low": 1, "high": 100, "integer": True, "rate_grows": True,
                                                     "start": [5, 95]}  # fmt: skip

    # resumable: the same command again measures nothing and gives the same tables
    before = (out / "target_rates.csv").read_text()
    again, _ = quiet_run(**args)
    assert again.ok and again.measured_now == 0 and (out / "target_rates.csv").read_text() == before

    # curves: one point per target reached on every image, at the chosen records; report section
    curves = {c.codec: c for c in curves_from_run(out)}
    for codec, curve in curves.items():
        assert sorted(curve.points["quality"]) == [0.5, 0.75] and list(curve.points["images"]) == [3, 3]
        for row in curve.per_image.itertuples():
            assert records[codec, row.knob, row.image]["bpp"] == repr(row.bpp)
    made = make_report(ReportConfig(runs=(out,), bootstrap=0, out=tmp_path / "report"))
    page = (tmp_path / "report" / "report.md").read_text()
    assert "## At target rates" in page and "### 0.5 bpp (+-15%)" in page and "| jpeg | 3/3 |" in page
    assert (tmp_path / "report" / "target_rates.csv").read_text() == before
    assert set(made.table["codec"]) == {"webp"}  # BD-rates of the matched points against jpeg's
    # the page's viewer: each codec at each target reached, at the knob the rate matching chose for the image
    text = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    viewer = json.loads(text.split('<script id="report-data" type="application/json">')[1].split("</script>")[0])[
        "viewer"
    ]
    assert viewer["targets"] == [0.5, 0.75] and viewer["refused"] == []
    chosen = {(r["codec"], float(r["target_bpp"]), r["image"]): float(r["knob"]) for r in per_image}
    assert len(viewer["entries"]) == 2 * 2 * 2  # jpeg and webp, two images, two targets
    for entry in viewer["entries"]:
        (target,) = entry["targets"]
        assert entry["quality"] == chosen[entry["curve"], target, entry["image"]]


PICKY_PLUGIN = '''
import io
import numpy as np
from PIL import Image
from bench.api.codec import Codec, CodecError, Knob, register_codec

@register_codec
class Picky(Codec):
    """JPEG that fails at qualities 30 to 70."""
    name = "picky"
    knob = Knob("quality", 1, 100, (10, 90))

    def encode(self, image, quality):
        if 30 <= quality <= 70:
            raise CodecError("no middle qualities")
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
        return buf.getvalue()

    def decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def settings(self): return {}
    def versions(self): return {"picky": "1"}
'''


def test_a_failed_probe_stops_that_search_and_is_reported(tmp_path, small_dataset):
    plugin = tmp_path / "picky.py"
    plugin.write_text(textwrap.dedent(PICKY_PLUGIN))
    args = dict(dataset=str(small_dataset), codecs=("picky",), target_bpp=(0.75,), out=tmp_path / "r",
                plugins=(str(plugin),), max_images=2, metrics=("psnr_rgb",))  # fmt: skip
    failed = None
    for attempt in range(2):  # a second run tries the failed probes once more, and stops again
        report, printed = quiet_run(**args)
        assert not report.ok and report.failures
        assert all(f.stage == "encode" and 30 <= f.quality <= 70 for f in report.failures)
        assert failed is None or [f.key for f in report.failures] == failed
        failed = [f.key for f in report.failures]
        rows = read_csv(tmp_path / "r" / "target_rates_per_image.csv")
        stopped = [r["image"] for r in rows if r["status"] == "incomplete"]
        assert stopped and sorted(stopped) == sorted({f.image for f in report.failures})
        for image in stopped:
            assert f"search stopped: picky on {image}: the probe at" in printed
        assert "search incomplete" in read_csv(tmp_path / "r" / "target_rates.csv")[0]["note"]
        assert attempt == 0 or report.measured_now == 0


def test_a_learned_family_reports_the_targets_beyond_its_models(tmp_path, kodak_dir):
    folder = tmp_path / "one"
    folder.mkdir()
    image = np.asarray(Image.open(kodak_dir / "kodim23.png").convert("RGB"))
    Image.fromarray(np.ascontiguousarray(image[100:196, 200:328])).save(folder / "a.png")
    report, printed = quiet_run(dataset=str(folder), codecs=("mean-scale-small",), target_bpp=(0.01, 50.0),
                                out=tmp_path / "r", metrics=("psnr_rgb",))  # fmt: skip
    assert report.ok and report.measured_now == 2  # models 1 and 6 tell it all
    rows = {r["target_bpp"]: r for r in read_csv(tmp_path / "r" / "target_rates_per_image.csv")}
    assert (rows["0.01"]["status"], rows["0.01"]["knob"]) == ("below", "1")
    assert (rows["50"]["status"], rows["50"]["knob"]) == ("above", "6")
    notes = [r["note"] for r in read_csv(tmp_path / "r" / "target_rates.csv")]
    assert notes[0].startswith("below the lowest rate: a.png") and notes[1].startswith("above the highest rate: a.png")
