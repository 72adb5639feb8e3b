"""The positive class of a binary target, F1 ranked at the shipped threshold, and task overrides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from tools.analyze.profile import profile_table
from tools.classes import class_order, match_class, minority_class
from tools.errors import PlanError, TargetError
from tools.plan import build_plan, update_plan
from tools.search.automl import fit_automl
from tools.search.train import train


def _fraud(n_rows: int = 500, seed: int = 0) -> pd.DataFrame:
    """About 15 % "fraud" rows, which sort before "ok"."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=n_rows)
    night = rng.normal(size=n_rows)
    logit = -2.4 + 1.6 * amount + 0.8 * night
    is_fraud = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    noise = rng.normal(size=n_rows)
    return pd.DataFrame(
        {
            "amount": amount,
            "night": night,
            "noise": noise,
            "label": np.where(is_fraud, "fraud", "ok"),
        }
    )


def _best_cut_f1(truth: np.ndarray, proba: np.ndarray, folds: np.ndarray) -> float:
    """Fold-mean F1 at the highest cut with the best F1 on all rows (brute force, scikit-learn)."""
    cuts = np.unique(proba)[::-1]
    pooled = [f1_score(truth, proba >= cut, zero_division=0) for cut in cuts]
    cut = cuts[int(np.argmax(pooled))]
    return float(
        np.mean(
            [
                f1_score(truth[folds == f], proba[folds == f] >= cut, zero_division=0)
                for f in set(folds)
            ]
        )
    )


def test_the_default_positive_class_is_the_minority_and_goes_second() -> None:
    frame = _fraud()
    profile = profile_table(frame, target="label")

    plan = build_plan(profile, models=["logistic_regression"], budget_s=10)
    result = train(frame, plan, profile=profile)

    assert plan.positive_class == "fraud"  # not "ok", the alphabetically second label
    assert "Positive class: “fraud”" in plan.describe()
    assert list(result.classes) == ["ok", "fraud"]
    assert list(result.model.classes_) == ["ok", "fraud"]
    proba = result.model.predict_proba(frame)
    is_fraud = frame["label"].eq("fraud").to_numpy()
    assert proba[is_fraud, 1].mean() > 2 * proba[~is_fraud, 1].mean()  # column 1 is fraud
    assert result.positive_class == "fraud"


def test_a_named_positive_class_changes_the_order_and_the_metrics() -> None:
    frame = _fraud()
    profile = profile_table(frame, target="label")
    base = build_plan(profile, metric="f1", models=["logistic_regression"], budget_s=10)

    fraud = train(frame, base, profile=profile)
    ok = train(frame, update_plan(base, profile, positive_class="OK"), profile=profile)

    assert update_plan(base, profile, positive_class="OK").positive_class == "ok"
    assert list(ok.model.classes_) == ["fraud", "ok"] and ok.positive_class == "ok"
    # F1 of the common class is far higher than F1 of the rare one
    assert ok.cv_metrics["f1"] > 0.9 > 0.8 > fraud.cv_metrics["f1"]
    assert ok.cv_metrics["roc_auc"] == pytest.approx(fraud.cv_metrics["roc_auc"], abs=1e-9)
    assert any("threshold for “ok”" in note for note in ok.notes)
    with pytest.raises(PlanError, match="“maybe” is not a class of “label”"):
        update_plan(base, profile, positive_class="maybe")


def test_f1_candidates_are_ranked_by_f1_at_their_own_threshold() -> None:
    frame = _fraud(600, 1)
    profile = profile_table(frame, target="label")
    plan = build_plan(
        profile, metric="f1", models=["logistic_regression", "naive_bayes", "knn"], budget_s=20
    )

    result = train(frame, plan, profile=profile)

    truth = result.oof_y.to_numpy() == "fraud"
    ok = [row for row in result.leaderboard if row.status == "ok"]
    assert len(ok) == 3
    at_half = {}
    for row in ok:
        proba = result.oof[row.family][:, 1]
        assert row.score == pytest.approx(_best_cut_f1(truth, proba, result.oof_folds), abs=1e-12)
        assert row.message.startswith("F1 at threshold ")
        at_half[row.family] = np.mean(
            [
                f1_score(truth[result.oof_folds == f], proba[result.oof_folds == f] >= 0.5)
                for f in set(result.oof_folds)
            ]
        )
    assert [row.score for row in ok] == sorted((row.score for row in ok), reverse=True)
    assert result.best_family == ok[0].family
    assert all(row.score >= at_half[row.family] - 0.02 for row in ok)
    assert any(row.score > at_half[row.family] + 0.01 for row in ok)  # the cut matters here


def test_automl_ranks_tuned_trials_and_the_ensemble_by_thresholded_f1(tmp_path: Path) -> None:
    frame = _fraud(600, 2)
    profile = profile_table(frame, target="label")
    plan = build_plan(
        profile, metric="f1", models=["logistic_regression", "random_forest"], budget_s=6
    )

    result = fit_automl(frame, plan, profile=profile, storage=tmp_path / "s.journal")

    truth = result.oof_y.to_numpy() == "fraud"
    ok = [row for row in result.leaderboard if row.status == "ok"]
    assert len(ok) >= 2
    for row in ok:
        proba = result.oof[row.family][:, 1]
        assert row.score == pytest.approx(_best_cut_f1(truth, proba, result.oof_folds), abs=1e-12)
    assert result.best_family == ok[0].family
    # One definition of a metric: the winner's F1 is its leaderboard score (fold mean at
    # the shipped threshold), not a pooled figure that disagrees with it.
    assert result.cv_metrics["f1"] == pytest.approx(ok[0].score, abs=1e-12)
    winner = result.oof[result.best_family][:, 1]
    per_fold = [
        f1_score(
            truth[result.oof_folds == fold], winner[result.oof_folds == fold] >= result.threshold
        )
        for fold in np.unique(result.oof_folds)
    ]
    assert result.cv_metrics["f1"] == pytest.approx(np.mean(per_fold), abs=1e-12)


def test_class_order_and_matching_handle_mixed_case_and_ties() -> None:
    y = pd.Series(["no", "Yes", "no", "Yes", "no"], name="bought")

    assert list(class_order(y, task="binary")) == ["no", "Yes"]  # "Yes" is rarer
    assert list(class_order(y, task="binary", positive="no")) == ["Yes", "no"]
    assert match_class(["no", "Yes"], "yes") == "Yes"
    assert minority_class({"a": 3, "b": 3}) == "b"  # a tie keeps the old rule: the later label
    assert minority_class({0: 5, 1: 9}) == 0
    assert list(class_order(pd.Series([2, 0, 1, 1]), task="multiclass")) == [0, 1, 2]


def test_a_numeric_code_can_be_treated_as_classes_and_a_count_as_numbers() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=45)
    frame = pd.DataFrame({"x": x, "grade": np.digitize(x, [-0.5, 0.5])})  # 0/1/2 on 45 rows

    inferred = profile_table(frame, target="grade")
    forced = profile_table(frame, target="grade", task="classification")
    codes = pd.DataFrame({"x": np.arange(200.0), "grade": np.arange(200) % 3})
    back = profile_table(codes, target="grade", task="regression")

    assert inferred.task == "regression"  # 3 values are 6.7 % of the rows: read as numbers
    assert forced.task == "multiclass" and "as asked" in forced.task_reason
    assert build_plan(forced, models=["logistic_regression"]).task == "multiclass"
    assert profile_table(codes, target="grade").task == "multiclass"
    assert back.task == "regression"


def test_a_text_target_cannot_be_a_regression_in_one_sentence() -> None:
    frame = _fraud(60)

    with pytest.raises(TargetError) as raised:
        profile_table(frame, target="label", task="regression")

    assert str(raised.value) == (
        "The target “label” holds text (such as “ok”), not numbers, so it cannot be treated "
        "as a regression; keep it a classification or pick a numeric column."
    )
