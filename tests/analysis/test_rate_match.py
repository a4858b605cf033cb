"""Rate matching's search (bench/analysis/rate_match.py, target_rates.py): each target found on each image
in a few probes, the targets a codec cannot reach and why, the curves at the chosen records."""

from __future__ import annotations

import argparse
import math
import random

import pytest

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
