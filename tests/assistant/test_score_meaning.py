"""The sentence that says what a cross-validated score means, in the file's own words."""

from __future__ import annotations

import pytest

from assistant.toolbox._meaning import score_meaning


@pytest.mark.parametrize(
    ("metric", "score", "expected"),
    [
        ("roc_auc", 0.8876, 'it ranks a "yes" row above another row 89% of the time'),
        ("f1", 0.71, 'finding the "yes" rows against being right when it says "yes"'),
        ("accuracy", 0.9, 'it predicts the right "churn" for 90% of rows'),
        (
            "root_mean_squared_error",
            12.345,
            'a typical prediction of "churn" is off by about 12.35',
        ),
        ("r2", 0.42, 'it explains 42% of the variation in "churn"'),
    ],
)
def test_the_meaning_names_the_files_labels_and_the_number(
    metric: str, score: float, expected: str
) -> None:
    sentence = score_meaning(metric, score, target="churn", positive_class="yes")
    assert sentence.startswith("What that means: ") and expected in sentence


def test_an_unknown_metric_gets_no_sentence() -> None:
    assert score_meaning("made_up", 0.5, target="y", positive_class=None) == ""
