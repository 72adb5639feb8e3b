from __future__ import annotations

from assistant.grounding import find_ungrounded

RESULTS = [
    '{"best": "lightgbm", "roc_auc": 0.84312, "rows": 7043, "importance": {"tenure": 0.1234}}'
]


def test_rounded_metrics_counts_and_percentages_are_grounded() -> None:
    reply = "LightGBM reached a ROC AUC of 0.843 (84.3%) on 7,043 rows; tenure matters most (0.12)."
    assert find_ungrounded(reply, RESULTS) == []


def test_an_invented_metric_is_caught() -> None:
    reply = "The model is excellent: ROC AUC 0.97 on 7043 rows."
    assert find_ungrounded(reply, RESULTS) == ["0.97"]


def test_a_wrongly_rounded_number_is_caught() -> None:
    assert find_ungrounded("AUC is 0.85.", RESULTS) == ["0.85"]


def test_small_integers_years_and_the_users_own_numbers_are_not_claims() -> None:
    reply = "I tried 3 models in 2024 and used your budget of 120 seconds."
    assert find_ungrounded(reply, [*RESULTS, "tune for 120 seconds"]) == []
