"""Derived features: the whitelist grammar, the transformer, the CV gate and the export."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.tools.scripts import run_exported_script
from tools.analyze.profile import profile_table
from tools.errors import FeatureError
from tools.export.folder import export_run
from tools.feature_grammar import (
    DerivedFeature,
    check_features,
    parse_feature,
    referenced_columns,
)
from tools.features import DerivedFeatures, input_columns
from tools.io.load import load_table
from tools.plan import Plan, build_plan, update_plan
from tools.predict import predict_file
from tools.search import feature_selection
from tools.search.feature_selection import select_features
from tools.search.results import CandidateResult
from tools.search.train import train

KINDS = {
    "income": "numeric",
    "age": "numeric",
    "signup": "datetime",
    "churned_at": "datetime",
    "plan": "categorical",
    "monthly fee": "numeric",
    "flag": "boolean",
}


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": [100.0, 50.0, 0.0, np.nan, 80.0],
            "age": [20, 0, 40, 30, 16],
            "signup": pd.to_datetime(
                ["2021-01-04", "2022-06-05", None, "2023-03-01", "2020-12-31 15:00"],
                format="mixed",
            ),
            "churned_at": pd.to_datetime(["2021-01-14"] * 5),
            "plan": ["basic", "pro", "basic", None, "pro"],
            "monthly fee": [10.0, 20.0, 30.0, 40.0, 50.0],
            "flag": [True, False, True, False, True],
        }
    )


DOCUMENTED = {
    "ratio = income / age": [5.0, np.nan, 0.0, np.nan, 5.0],
    "gap = income - age": [80.0, 50.0, -40.0, np.nan, 64.0],
    "signup_year = year(signup)": [2021.0, 2022.0, np.nan, 2023.0, 2020.0],
    "signup_dow = dayofweek(signup)": [0.0, 6.0, np.nan, 2.0, 3.0],
    "signup_hour = hour(signup)": [0.0, 0.0, np.nan, 0.0, 15.0],
    "tenure_days = days_between(churned_at, signup)": [10.0, -507.0, np.nan, -776.0, 13.375],
    "both = income * age": [2000.0, 0.0, 0.0, np.nan, 1280.0],
    "square = age ** 2": [400.0, 0.0, 1600.0, 900.0, 256.0],
    "inverse = age ** -1": [0.05, np.nan, 0.025, 1 / 30, 0.0625],
    "log_income = log(income)": [np.log(100), np.log(50), np.nan, np.nan, np.log(80)],
    "log1p_income = log1p(income)": [np.log1p(100), np.log1p(50), 0.0, np.nan, np.log1p(80)],
    "root = sqrt(abs(age - 25))": [np.sqrt(5), 5.0, np.sqrt(15), np.sqrt(5), 3.0],
    "capped = clip(income, 10, 90)": [90.0, 50.0, 10.0, np.nan, 80.0],
    "smaller = min(income, age, 60)": [20.0, 0.0, 0.0, 30.0, 16.0],
    "adult = age >= 18": [1.0, 0.0, 1.0, 1.0, 0.0],
    "middle = 18 <= age < 35": [1.0, 0.0, 0.0, 1.0, 0.0],
    'is_pro = plan == "pro"': [0.0, 1.0, 0.0, np.nan, 1.0],
    "pro_income = (plan == 'pro') * income": [0.0, 50.0, 0.0, np.nan, 80.0],
    "fee_per_age = `monthly fee` / age": [0.5, np.nan, 0.75, 40 / 30, 50 / 16],
    'fee_twice = col("monthly fee") * 2 + -1': [19.0, 39.0, 59.0, 79.0, 99.0],
    "no_income = is_missing(income)": [0.0, 0.0, 0.0, 1.0, 0.0],
    "flagged_income = flag * income": [100.0, 0.0, 0.0, np.nan, 80.0],
}


@pytest.mark.parametrize("text", sorted(DOCUMENTED))
def test_each_documented_form_parses_and_computes_the_expected_values(text: str) -> None:
    feature = parse_feature(text)
    check_features([feature], KINDS)
    frame = _frame()
    added = DerivedFeatures(((feature.name, feature.expression),)).fit_transform(frame)
    np.testing.assert_allclose(added[feature.name].to_numpy(), DOCUMENTED[text], rtol=1e-9)
    assert list(added.columns) == [*frame.columns, feature.name]


ATTACKS = {
    "__import__('os')": "function __import__",
    "__import__('os').system('id')": "not a plain function name",
    "open('/etc/passwd')": "function open",
    "income.__class__": "attribute access",
    "().__class__.__bases__[0].__subclasses__()": "not a plain function name",
    "().__class__": "attribute access",
    "getattr(income, 'x')": "function getattr",
    "lambda: 1": "a lambda",
    "[x for x in income]": "comprehension",
    "income[0]": "indexing",
    "__builtins__": "the name __builtins__",
    "income if age else 0": "if / else",
    "income and age": "and / or",
    "(x := 1)": "assignment",
    "f'{income}'": "f-string",
    "'text'": "the value 'text'",
    "income ** age": "power",
    "income ** 1000": "power",
    "income % 7": "operator Mod",
    "bin(income, 1000)": "bin() with these arguments",
    "col(income)": "col() with anything",
    "income " + "+ income " * 200: "characters long",
    "income +": "not a valid expression",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_anything_outside_the_grammar_is_refused_in_plain_words(attack: str) -> None:
    with pytest.raises(FeatureError) as caught:
        check_features([parse_feature(f"x = {attack}")], KINDS)
    message = str(caught.value)
    assert ATTACKS[attack] in message
    if "characters" not in message:
        assert "Allowed:" in message and "log1p" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x = incme / age", "no usable column named “incme”. Closest columns: income"),
        ("x = plan * 2", "“plan” is a categorical column, not a number"),
        ("x = signup + 1", "“signup” is a datetime column, not a number. Use year()"),
        ("x = year(income)", "year() needs a date column; “income” is numeric"),
        ("x = 1 + 2", "uses no column"),
        ("income = age * 2", "“income” is already a column"),
        ("x = churn * 2", "“churn” is the target"),
        ("2x = age", "cannot name a feature"),
        ("x == age", "not of the form name = expression"),
    ],
)
def test_column_and_name_mistakes_name_the_fix(text: str, words: str) -> None:
    with pytest.raises(FeatureError, match=re.escape(words)):
        check_features([parse_feature(text)], {**KINDS, "churn": "categorical"}, target="churn")


def test_a_feature_may_use_an_earlier_one_and_inputs_are_the_original_columns() -> None:
    features = [parse_feature("ratio = income / age"), parse_feature("log_ratio = log(ratio)")]
    check_features(features, KINDS)
    pairs = [(f.name, f.expression) for f in features]
    assert referenced_columns("`monthly fee` / age + year(signup)") == [
        "monthly fee",
        "age",
        "signup",
    ]
    assert input_columns(["age", "ratio", "log_ratio"], pairs) == ["age", "income"]


def test_bins_learn_their_edges_on_the_fitting_rows_only() -> None:
    train_rows = pd.DataFrame({"x": np.arange(100.0)})
    other_rows = pd.DataFrame({"x": np.arange(1000.0, 1100.0)})
    binner = DerivedFeatures((("x_bin", "bin(x, 4)"),)).fit(train_rows)
    np.testing.assert_allclose(binner.bin_edges_[0][0], [24.75, 49.5, 74.25])
    assert set(binner.transform(other_rows)["x_bin"]) == {3.0}  # edges were not refit
    restored = pickle.loads(pickle.dumps(binner))
    pd.testing.assert_frame_equal(restored.transform(train_rows), binner.transform(train_rows))
    assert sorted(restored.transform(train_rows)["x_bin"].value_counts()) == [25, 25, 25, 25]


def _ratio_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.uniform(1, 10, n)
    b = rng.uniform(1, 10, n)
    frame = pd.DataFrame({"a": a, "b": b, "c": rng.normal(size=n), "noise": rng.normal(size=n)})
    frame["y"] = a / b + rng.normal(0, 0.05, n)
    return frame


def test_the_cv_gate_keeps_a_ratio_that_helps_and_drops_noise() -> None:
    frame = _ratio_table()
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, models=["ridge"], budget_s=30)
    proposals = [
        DerivedFeature("random_mix", "noise * c"),
        DerivedFeature("ratio", "a / b"),
        DerivedFeature("ratio_again", "log(a) - log(b)"),
    ]

    selection = select_features(frame, plan, proposals, family="ridge", profile=profile)

    assert [t.kept for t in selection.trials] == [False, True, False]
    assert selection.kept == (DerivedFeature("ratio", "a / b"),)
    ratio = selection.trials[1]
    assert ratio.score_with < 0.2 * ratio.score_without  # RMSE: lower is better
    assert selection.final == ratio.score_with and selection.baseline == ratio.score_without
    assert selection.trials[2].score_without == ratio.score_with  # greedy: ratio stays in


def test_kept_features_live_in_the_model_card_and_the_exported_script(tmp_path: Path) -> None:
    csv = tmp_path / "ratio.csv"
    _ratio_table().to_csv(csv, index=False)
    table = load_table(csv)
    profile = profile_table(table.frame, target="y")
    plan = build_plan(profile, models=["ridge"], budget_s=30, seed=1)
    plan = update_plan(plan, profile, derived_features=[{"name": "ratio", "expression": "a / b"}])
    result = train(table.frame, plan, profile=profile)
    run = tmp_path / "run"
    export_run(result, out_dir=run, frame=table.frame, data_path=csv)

    assert "Derived features, computed inside the pipeline" in (run / "model_card.md").read_text()
    assert "`ratio = a / b`" in (run / "model_card.md").read_text()
    # mlchat's own predict needs only the original columns
    new_rows = tmp_path / "new.csv"
    _ratio_table(20, seed=5).drop(columns="y").to_csv(new_rows, index=False)
    predicted = predict_file(run, new_rows, out=tmp_path / "predictions.csv")
    assert predicted.n_rows == 20
    values = pd.read_csv(tmp_path / "predictions.csv")["prediction"].to_numpy()
    expected = _ratio_table(20, seed=5)
    np.testing.assert_allclose(values, expected["a"] / expected["b"], atol=0.3)

    script = (run / "train.py").read_text(encoding="utf-8")
    assert "class DerivedFeatures" in script and "('ratio', 'a / b')" in script
    assert "import tools" not in script and "from tools" not in script
    score, metric = run_exported_script(run / "train.py", csv)
    assert metric == "root_mean_squared_error"
    assert abs(score - result.leaderboard[0].score) <= 0.02 * result.leaderboard[0].score


def test_automl_tunes_and_ensembles_with_the_derived_features() -> None:
    from tools.search.automl import fit_automl

    frame = _ratio_table(240)
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, models=["ridge", "lightgbm"], budget_s=6)
    plan = update_plan(plan, profile, derived_features=[DerivedFeature("ratio", "a / b")])

    result = fit_automl(frame, plan, profile=profile)

    assert result.model.input_columns_ == ["a", "b", "c", "noise"]
    assert result.leaderboard[0].score < 0.2  # RMSE; without the ratio ridge gets about 0.67
    new_rows = _ratio_table(20, seed=7)
    np.testing.assert_allclose(
        result.model.predict(new_rows[["a", "b", "c", "noise"]]),
        new_rows["a"] / new_rows["b"],
        atol=0.3,
    )


def test_feature_selection_shares_its_budget_and_stops_at_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = _ratio_table()
    profile = profile_table(frame, target="y")
    plan = build_plan(profile, models=["ridge"], budget_s=60)
    now = [0.0]
    calls: list[tuple[float, float]] = []

    def four_seconds_of_training(frame: object, plan: Plan, **kwargs: Any) -> Any:
        calls.append((plan.budget_s, kwargs["deadline"].at_s))
        now[0] += 4.0
        row = CandidateResult("ridge", 1.0, 0.0, 4.0, "ok", n_folds=3)
        return SimpleNamespace(leaderboard=[row], oof_rows=np.arange(len(calls)))

    monkeypatch.setattr(feature_selection, "train", four_seconds_of_training)
    proposals = [DerivedFeature(f"f{i}", f"a * {i + 2}") for i in range(5)]
    selection = select_features(
        frame, plan, proposals, family="ridge", profile=profile, budget_s=10, clock=lambda: now[0]
    )

    # The baseline and each proposal get an equal share of what is left, never past 10 s.
    assert [budget for budget, _ in calls] == pytest.approx([10 / 6, 6 / 5, 1.0])
    assert all(at <= 10.0 for _, at in calls)
    reasons = [trial.reason for trial in selection.trials]
    assert reasons[2:] == ["not evaluated: time budget used up"] * 3
