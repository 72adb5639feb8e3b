"""The offline parser on phrasings it was not tuned on (issue 18): floors, not targets.

The held-out set was measured at 86% (127 of 147) before any rule was changed
for it and at 93% (137 of 147) after tuning on the dev set only; the floor
below keeps that from sliding back. Tune on ``offline_dev.py``, never here.
"""

from __future__ import annotations

from tests.assistant import offline_dev, offline_heldout
from tests.assistant.offline_scoring import Case, accuracy, calls_of, verdict

HELD_OUT_FLOOR = 0.92
DEV_FLOOR = 0.97


def test_the_sets_are_large_distinct_and_cover_every_intent() -> None:
    held, dev = offline_heldout.CASES, offline_dev.CASES
    assert len(held) >= 100 and len(dev) >= 100
    assert not {c.text for c in held} & {c.text for c in dev}
    intents = {
        "train", "target", "metric", "models", "budget", "tune", "explain", "why",
        "leaderboard", "download", "plot", "profile", "predict", "feature", "data", "several",
    }  # fmt: skip
    assert {c.intent for c in held} >= intents and {c.intent for c in dev} >= intents


def test_the_held_out_set_stays_above_its_floor() -> None:
    assert accuracy(offline_heldout.CASES) >= HELD_OUT_FLOOR


def test_the_dev_set_stays_above_its_floor() -> None:
    assert accuracy(offline_dev.CASES) >= DEV_FLOOR


def test_the_scorer_tells_right_from_asked_from_wrong() -> None:
    from tests.assistant.offline_heldout import HR, HR_TRAINED

    case = Case("plot", "plot monthly income against age", (("plot_columns", {"x": "age"}),), HR)
    assert verdict(case, [("plot_columns", {"x": "monthly_income", "y": "age"})]) == "wrong"
    assert verdict(case, [("ask_user", {"question": "?"})]) == "asked"
    flipped = Case("plot", "x", (("plot_columns", {"x": "age", "y": "monthly_income"}),), HR)
    assert verdict(flipped, [("plot_columns", {"x": "monthly_income", "y": "age"})]) == "right"
    merged = Case("several", "f1 then train", (("train_models", {"metric": "f1"}),), HR)
    split = [("set_plan", {"metric": "f1"}), ("train_models", {})]
    assert verdict(merged, split) == "right"
    assert calls_of(Case("x", "show the leaderboard", (), HR, HR_TRAINED))[0][0] == (
        "show_leaderboard"
    )
