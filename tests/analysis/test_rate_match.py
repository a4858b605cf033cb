"""Rate matching (`bench run --target-bpp`): the search finds each target on each image in a few probes,
says which targets a codec cannot reach and why, and a rate-matched run is an ordinary run: measured
records, resumable, reported."""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.analysis.curves import curves_from_run
from bench.analysis.rate_match import (
    MAX_PROBES,
    SETTLE,
    KnobSpec,
    next_probes,
    search,
    status_of,
    target_list,
    tolerance_value,
)
from bench.report.writer import ReportConfig, make_report
from bench.run.runner import RunConfig, RunSetupError, run

JPEG_LIKE = KnobSpec(1, 100, integer=True, rate_grows=True, start=(5, 95))
QP_LIKE = KnobSpec(0, 51, integer=True, rate_grows=False, start=(47, 12))
DISTANCE_LIKE = KnobSpec(0, 25, integer=False, rate_grows=False, start=(15, 0.5))
BPP_KNOB = KnobSpec(0.01, 24, integer=False, rate_grows=True, start=(0.1, 3))
FAMILY = KnobSpec(1, 6, integer=True, rate_grows=True, start=(1, 6))
FAMILY_RATES = (0.1, 0.17, 0.26, 0.4, 0.57, 0.67)  # about mean-scale-small's on Kodak


def jpeg_rate(q: float) -> float:
    return 0.15 * math.exp(q / 28) + 0.002 * q


def qp_rate(qp: float) -> float:
    return 12 * 2 ** (-qp / 6)


def distance_rate(d: float) -> float:
    return 3.2 / (1 + d) ** 1.1


def bpp_knob_rate(b: float) -> float:
    return 1.03 * b + 0.004


def family_rate(q: float) -> float:
    return FAMILY_RATES[int(q) - 1]


def drive(knob: KnobSpec, rate, targets, probes: dict | None = None, order_seed: int | None = None):
    """Measure what the search asks for (``rate(knob value)``) until it asks for nothing; return the
    final search, the probes and the rounds. Checks on the way that no value is asked for twice."""
    probes = dict(probes or {})
    rounds = 0
    while wanted := next_probes(knob, targets, probes):
        assert len(set(wanted)) == len(wanted) and not set(wanted) & set(probes), "a value probed again"
        assert list(wanted) == sorted(wanted)
        if order_seed is not None:  # the store gives probes back in any order
            wanted = random.Random(order_seed + rounds).sample(list(wanted), len(wanted))
        for value in wanted:
            assert knob.low <= value <= knob.high
            assert not knob.integer or float(value).is_integer()
            probes[value] = rate(value)
        rounds += 1
        assert rounds <= 2 * MAX_PROBES
    return search(knob, targets, probes), probes, rounds


# --- the search on synthetic monotone rate functions -----------------------------------------------


@pytest.mark.parametrize(
    "knob, rate, targets",
    [
        (JPEG_LIKE, jpeg_rate, (0.25, 0.5, 0.75, 1.5)),
        (QP_LIKE, qp_rate, (0.06, 0.12, 0.25, 0.5, 0.75)),
        (DISTANCE_LIKE, distance_rate, (0.12, 0.25, 0.5, 0.75)),
        (BPP_KNOB, bpp_knob_rate, (0.06, 0.12, 0.25, 0.5, 0.75)),
    ],
    ids=["integer, rate grows", "integer, rate falls", "fractional, rate falls", "fractional bpp knob"],
)
def test_each_reachable_target_settles_within_2_percent_or_between_adjacent_values(knob, rate, targets):
    final, probes, _ = drive(knob, rate, targets)
    assert final.settled and final.next == ()
    for outcome in final.outcomes:
        knob_value, bpp = outcome.chosen
        assert bpp == rate(knob_value) and len(outcome.probes) <= MAX_PROBES
        assert outcome.status() == "reached", outcome
        if outcome.reason == "within":
            assert abs(bpp / outcome.target - 1) <= SETTLE
        else:  # integer knob: the two neighbours on either side of the target were both measured
            assert outcome.reason == "adjacent" and knob.integer
            below = max((v for v in probes if probes[v] < outcome.target), key=probes.get)
            above = min((v for v in probes if probes[v] > outcome.target), key=probes.get)
            assert abs(below - above) == 1 and knob_value in (below, above)


def test_a_typical_target_settles_in_a_few_probes():
    for knob, rate, targets in ((JPEG_LIKE, jpeg_rate, (0.25, 0.5, 0.75, 1.5)),
                                (DISTANCE_LIKE, distance_rate, (0.12, 0.25, 0.5, 0.75))):  # fmt: skip
        final, _, rounds = drive(knob, rate, targets)
        counts = [len(o.probes) for o in final.outcomes]
        assert max(counts) <= 7 and sum(counts) / len(counts) <= 6, counts
        assert rounds <= 6


def test_targets_beyond_the_range_are_unreachable_and_say_on_which_side():
    final, _, _ = drive(JPEG_LIKE, jpeg_rate, (0.01, 50.0))
    below, above = final.outcomes
    # the sweep's ends first, then the end of the range on the target's side, and no further
    assert [v for v, _ in below.probes] == [5, 95, 1] and below.chosen == (1, jpeg_rate(1))
    assert [v for v, _ in above.probes] == [5, 95, 100] and above.chosen == (100, jpeg_rate(100))
    assert (below.reason, below.end, below.status()) == ("range", "below", "below")
    assert (above.reason, above.end, above.status()) == ("range", "above", "above")
    # a knob whose rate falls as it grows: the highest rate is at the low end of the range
    final, _, _ = drive(QP_LIKE, qp_rate, (1e-4, 100.0))
    assert [o.chosen[0] for o in final.outcomes] == [51, 0] and [o.end for o in final.outcomes] == ["below", "above"]


def test_a_learned_family_reaches_only_the_rates_of_its_models():
    final, probes, _ = drive(FAMILY, family_rate, (0.06, 0.12, 0.25, 0.5, 0.75, 2.0))
    assert set(probes) <= {1, 2, 3, 4, 5, 6}
    statuses = [o.status(0.15) for o in final.outcomes]
    # 0.06 below model 1; 0.12 between models 1 and 2 (0.1 is -17%, 0.17 is +42%); 0.25: model 3 (+4%);
    # 0.5: model 5 (+14%); 0.75: model 6 (-10.7%, within 15% though beyond the highest rate); 2: above
    assert statuses == ["below", "missed", "reached", "reached", "reached", "above"]
    assert [o.chosen[0] for o in final.outcomes] == [1, 1, 3, 5, 6, 6]
    assert final.outcomes[1].reason == "adjacent" and final.outcomes[-2].end == "above"


def test_a_jump_in_the_rate_settles_as_missed_within_the_probe_limit():
    def jumps(v: float) -> float:  # no value gives anything between 0.1 and 1 bpp
        return 0.1 if v < 37.3 else 1.0

    for knob in (JPEG_LIKE, KnobSpec(1, 100, integer=False, rate_grows=True, start=(5, 95))):
        final, _, _ = drive(knob, jumps, (0.3,))
        (outcome,) = final.outcomes
        assert outcome.done and outcome.status() == "missed" and len(outcome.probes) <= MAX_PROBES
    assert search(JPEG_LIKE, (0.3,), {}).outcomes[0].status() == "incomplete"  # nothing measured yet


def test_the_search_is_a_deterministic_replay_of_the_stored_probes():
    targets = (0.25, 0.5, 0.75)
    final, probes, _ = drive(JPEG_LIKE, jpeg_rate, targets)
    assert drive(JPEG_LIKE, jpeg_rate, targets, order_seed=3)[1] == probes  # whatever order probes come back in
    assert search(JPEG_LIKE, targets, probes) == search(JPEG_LIKE, targets, dict(reversed(list(probes.items()))))
    # a run killed after any number of probes resumes to the same probes: only what is missing is asked for
    made = [v for o in final.outcomes for v, _ in o.probes]
    for cut in range(len(probes)):
        kept = {v: probes[v] for v in list(dict.fromkeys(made))[:cut]}
        resumed, again, _ = drive(JPEG_LIKE, jpeg_rate, targets, kept)
        assert again == probes and resumed == final
    # each target's search is its own: asking for other targets too changes no target's result
    alone = [search(JPEG_LIKE, (t,), drive(JPEG_LIKE, jpeg_rate, (t,))[1]).outcomes[0] for t in targets]
    assert alone == list(final.outcomes)


def test_a_search_waiting_for_a_failed_probe_is_incomplete():
    final, probes, _ = drive(JPEG_LIKE, jpeg_rate, (0.5,))
    last = final.outcomes[0].probes[-1][0]
    del probes[last]  # that probe failed: it is not in the store
    waiting = search(JPEG_LIKE, (0.5,), probes)
    assert waiting.next == (last,) and not waiting.outcomes[0].done
    assert status_of(waiting.outcomes[0], 0.01) == "incomplete"


def test_curves_keep_the_targets_reached_on_every_image_at_their_chosen_records():
    import pandas as pd

    from bench.analysis.rate_match import RateMatching
    from bench.analysis.target_rates import matched_records

    rates = {"a.png": jpeg_rate, "b.png": lambda q: 2 * jpeg_rate(q)}  # b.png cannot go below 0.3 bpp
    rows = []
    for image, rate in rates.items():
        for q in drive(JPEG_LIKE, rate, (0.25, 0.5))[1]:
            rows.append({"codec": "jpeg", "quality": q, "image": image, "bpp": rate(q), "psnr_rgb": q / 2})
    rows.append({"codec": "other", "quality": 7.0, "image": "a.png", "bpp": 1.0, "psnr_rgb": 30.0})
    frame = pd.DataFrame(rows)
    matching = RateMatching((0.25, 0.5), 0.15, {"jpeg": JPEG_LIKE})
    matched, chosen = matched_records(frame, matching)
    jpeg = matched[matched["codec"] == "jpeg"]
    assert sorted(jpeg["quality"]) == [0.5, 0.5]  # 0.25 is not reached on b.png: no point at 0.25
    for row in jpeg.itertuples():
        assert row.bpp == rates[row.image](row.knob) and chosen["jpeg", 0.5, row.image] == row.knob
        assert abs(row.bpp / 0.5 - 1) <= SETTLE
    assert matched[matched["codec"] == "other"][["quality", "knob"]].values.tolist() == [[7.0, 7.0]]


def test_option_values():
    assert target_list("0.06,0.12, 0.25,0.5,0.75") == (0.06, 0.12, 0.25, 0.5, 0.75)
    assert tolerance_value("0.15") == tolerance_value("15%") == 0.15
    for bad in ("0", "-1", "a", "nan", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            target_list(bad)
    for bad in ("0", "1", "150%", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            tolerance_value(bad)


def test_quality_and_targets_together_are_refused(tmp_path):
    config = RunConfig(dataset=str(tmp_path), codecs=("jpeg",), qualities=(50,), target_bpp=(0.5,), jobs=1)
    with pytest.raises(RunSetupError, match="--quality and --target-bpp cannot be used together"):
        run(config, progress=False, echo=lambda text: None)


# --- real runs -------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


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
