"""The grounding check reads claims: value, precision, sign, unit and what a number is about."""

from __future__ import annotations

import pytest

from assistant.grounding import HeldText, Sources, split_sentences, unchecked_numbers
from assistant.numbers import numbers_in

TRAIN = {
    "summary": 'Trained 3 models on 1,000 rows to predict "churn" (binary). Best: LightGBM.',
    "best_model": "LightGBM",
    "metric": "ROC AUC",
    "leaderboard": [
        {"model": "LightGBM", "score": 0.9134, "std": 0.012, "status": "ok"},
        {"model": "Logistic regression", "score": 0.8712, "std": 0.02, "status": "ok"},
    ],
    "cv_metrics": {"roc_auc": 0.9134, "accuracy": 0.8523},
    "top_features": [
        {"column": "tenure", "importance": 0.1234},
        {"column": "age", "importance": 0.0456},
    ],
}


def _sources() -> Sources:
    sources = Sources()
    sources.add_tool_result("train_models", TRAIN)
    sources.add_tool_result("plot_columns", {"x": "age", "spearman_correlation": -0.42})
    sources.add_tool_result("run_code", {"stdout": "0.987\n", "output": "0.987"})
    sources.add_user_text('tune it for 2 minutes\n\n[Attached: "auc 0.99.csv" (dataset d1)]')
    return sources


@pytest.mark.parametrize(
    "reply",
    [
        "LightGBM reached a ROC AUC of 0.913 (91.3%) and an accuracy of 0.85.",
        "Logistic regression scored 0.87, LightGBM 0.91.",
        "LightGBM is about 1.05x better than logistic regression.",
        "age has a negative correlation of 0.42 with the target.",
        "I trained 3 models on 1,000 rows and tuned for 120 seconds.",
        "Ninety-one percent ROC AUC.",
        "```\n0.987\n```\n",
        "Say “tune it for 5 minutes” to go on.",
    ],
)
def test_true_claims_are_grounded(reply: str) -> None:
    assert unchecked_numbers(reply, _sources()) == []


@pytest.mark.parametrize(
    ("reply", "caught"),
    [
        ("The ROC AUC is 0.97.", "0.97"),  # invented
        ("Logistic regression scored 0.91.", "0.91"),  # right number, wrong model
        ("The accuracy is 0.91.", "0.91"),  # right number, wrong metric
        ("The ROC AUC is 0.987.", "0.987"),  # only run_code printed it
        ("The ROC AUC is 0.99.", "0.99"),  # only a file name said it
        ("ROC AUC of ninety-seven percent.", "ninety-seven percent"),
        ("An accuracy of 97%.", "97%"),
        ("LightGBM is 5x better than logistic regression.", "5x"),
        ("LightGBM is 2.7x better than logistic regression.", "2.7x"),  # tenure / age importance
        ("age correlates at +0.42 with the target.", "+0.42"),  # sign flipped
        ("I trained 4 models.", "4"),  # small integers are claims
        ("`age` has an importance of 0.123.", "0.123"),  # tenure's, not age's
        ("In 2023 the churn rate doubled.", "2023"),  # and so are years
    ],
)
def test_false_claims_are_caught(reply: str, caught: str) -> None:
    assert unchecked_numbers(reply, _sources()) == [caught]


def test_number_words_units_and_signs_are_read() -> None:
    read = [(n.text, n.value, n.kind) for n in numbers_in("ninety-seven percent, 5x, minus 0.3")]
    assert read == [
        ("ninety-seven percent", 0.97, "percent"),
        ("5x", 5.0, "ratio"),
        ("0.3", -0.3, "plain"),
    ]
    assert numbers_in("2 minutes")[0].seconds == 120.0
    assert numbers_in("12k")[0].value == 12_000


def test_sentences_split_losslessly_and_keep_decimals_and_code_blocks_whole() -> None:
    text = "AUC is 0.91. Good!\n```\nprint(1.5)\n```\nDone e.g. here."
    assert split_sentences(text) == [
        "AUC is 0.91. ",
        "Good!\n",
        "```\nprint(1.5)\n```\n",
        "Done e.g. here.",
    ]


def test_held_text_shows_checked_sentences_and_holds_from_the_first_failure() -> None:
    gate = HeldText(lambda s: unchecked_numbers(s, _sources()))
    shown = "".join(
        gate.feed(p) for p in ["LightGBM wins", " (0.91). It is 0.9", "9 ROC AUC. Next."]
    )
    tail, held = gate.finish()
    assert shown + tail == "LightGBM wins (0.91). "
    assert held.held == "It is 0.99 ROC AUC. Next." and held.unchecked == ("0.99",)


@pytest.mark.parametrize(
    ("reply", "user", "caught"),
    [
        ("LightGBM came out on top. It scored 0.913.", "", []),
        ("LightGBM came out on top. It scored 0.871.", "", ["0.871"]),  # the other model's
        ("Logistic regression came second. Its ROC AUC is 0.87.", "", []),
        ("Logistic regression came second. Its ROC AUC is 0.913.", "", ["0.913"]),
        ("It scored 0.913.", "", []),  # the conversation's subject: the best model
        ("It scored 0.871.", "", ["0.871"]),
        ("It scored 0.871.", "how did logistic regression do?", []),  # the user's subject
        ("LightGBM scored 0.913. That's 4.8% better than logistic regression.", "", []),
        ("LightGBM scored 0.913. That's 12% better than logistic regression.", "", ["12%"]),
        ("LightGBM won. It is 0.042 ahead of logistic regression.", "", []),
        ("`tenure` matters most. Its importance is 0.123.", "", []),
        ("`tenure` matters most. Its importance is 0.046.", "", ["0.046"]),  # age's
    ],
)
def test_a_sentence_naming_no_model_is_held_to_the_subject_before_it(
    reply: str, user: str, caught: list[str]
) -> None:
    sources = _sources()
    if user:
        sources.add_user_text(user)
    assert unchecked_numbers(reply, sources) == caught
