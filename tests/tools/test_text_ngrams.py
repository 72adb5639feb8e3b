"""Free-text columns give word n-gram features, so words that carry the signal are used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.analyze.profile import profile_table
from tools.models.preprocessing import TextNgrams
from tools.plan import build_plan
from tools.search.train import train

_WORDS = np.array(
    ["the", "order", "arrived", "late", "and", "box", "was", "open", "please", "call", "me"]
)


def _tickets(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    wants_refund = rng.random(n) < 0.4
    notes = []
    for refund in wants_refund:
        words = list(rng.choice(_WORDS, 8))
        # The signal is a word pair anywhere in the note; the other pair has the same length.
        words.insert(int(rng.integers(0, 8)), "money back" if refund else "cash later")
        notes.append(" ".join(words))
    return pd.DataFrame(
        {
            "note": notes,
            "amount": rng.normal(50, 10, n),
            "escalated": np.where(wants_refund ^ (rng.random(n) < 0.05), "yes", "no"),
        }
    )


def test_a_word_in_free_text_drives_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _tickets(600)
    profile = profile_table(frame, target="escalated")
    assert profile.column("note").kind == "text"
    plan = build_plan(profile, models=["logistic_regression", "lightgbm"], budget_s=10)

    result = train(frame, plan, profile=profile)

    assert result.leaderboard[0].score > 0.9  # ROC AUC
    scored = result.model.predict(frame.drop(columns="escalated").head(100))
    assert np.mean(scored == frame["escalated"].head(100)) > 0.85

    # Without the n-grams only the note's length and word count are left: no signal.
    monkeypatch.setattr(TextNgrams, "_fit_frame", _no_components)
    without = train(frame, plan, profile=profile)
    assert without.leaderboard[0].score < 0.65


def _no_components(self: TextNgrams, frame: pd.DataFrame) -> None:
    self.steps_ = [None] * frame.shape[1]


def test_text_without_repeated_words_gives_no_components() -> None:
    frame = pd.DataFrame({"note": [f"unique{i} words{i}" for i in range(30)]})

    transformer = TextNgrams().fit(frame)

    assert transformer.transform(frame).shape == (30, 0)
    assert list(transformer.get_feature_names_out()) == []
