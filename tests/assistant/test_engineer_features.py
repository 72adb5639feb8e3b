"""engineer_features through the real Assistant, tools and worker, with a scripted model.

The model trains, proposes one feature outside the grammar (a tool error it can
read), then a good one; the kept feature is in the retrained model's pipeline,
model card and script, and predicting a new file needs only the original columns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from assistant.events import Table, ToolFinished
from assistant.offline import Intent, narrate, parse_request
from assistant.session import Assistant
from tests.assistant.scripted import ScriptedProvider, call, say
from tests.reliability.common import offline_settings, turn
from tools.search.automl import base_family


def _ratio_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.uniform(1, 10, n)
    b = rng.uniform(1, 10, n)
    frame = pd.DataFrame({"a": a.round(3), "b": b.round(3), "c": rng.normal(size=n).round(3)})
    frame["y"] = (a / b + rng.normal(0, 0.05, n)).round(4)
    return frame


async def test_a_bad_expression_is_a_tool_error_then_a_good_feature_is_kept(
    tmp_path: Path,
) -> None:
    _ratio_table().to_csv(tmp_path / "ratio.csv", index=False)
    model = ScriptedProvider([])
    assistant = Assistant(offline_settings(tmp_path, MLCHAT_BUDGET_S="5"), provider=model)
    try:
        record = assistant.attach_file("t", tmp_path / "ratio.csv")
        model.replies[:] = [
            call("set_plan", call_id="c1", models=["ridge"]),
            call("train_models", call_id="c2", target="y"),
            call("suggest_improvements", call_id="c3"),
            say("Trained."),
        ]
        await turn(assistant, "t", "train a model to predict y", [record])
        suggestions = model.requests[-1][-1].content
        assert re.search(r"add a feature (a_per_b = a / b|b_per_a = b / a)”", suggestions)
        before = assistant.runs.latest("t", with_model=True)
        assert before is not None and base_family(before.metrics["best_family"]) == "ridge"

        model.replies[:] = [
            call("engineer_features", call_id="f1", features=["ab = a.__class__"]),
            call("engineer_features", call_id="f2", features=["ab_ratio = a / b"]),
            say("Added the ratio."),
        ]
        events = await turn(assistant, "t", "add a feature a / b")
    finally:
        await assistant.close()

    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(e.tool, e.is_error) for e in finished] == [
        ("engineer_features", True),
        ("engineer_features", False),
    ]
    error_seen_by_model = model.requests[-2][-1].content
    assert "attribute access (a.b), which is not allowed" in error_seen_by_model
    assert "Allowed: column names" in error_seen_by_model

    result = json.loads(model.requests[-1][-1].content)
    assert result["kept"] == ["ab_ratio"]
    verdict = result["features"][0]
    assert verdict["kept"] is True and verdict["score_with"] < 0.2 * verdict["score_without"]
    assert any(isinstance(e, Table) and e.name.startswith("features-") for e in events)

    run = assistant.runs.latest("t", with_model=True)
    assert run is not None and run.id != before.id
    assert run.plan["derived_features"] == [{"name": "ab_ratio", "expression": "a / b"}]
    fitted = joblib.load(Path(run.artifacts["files"]["model"]))
    assert fitted.pipeline_.steps[0][0] == "derive"
    assert run.leaderboard[0]["score"] < 0.5 * before.leaderboard[0]["score"]
    card = Path(run.artifacts["files"]["card"]).read_text(encoding="utf-8")
    assert "`ab_ratio = a / b`" in card
    assert "('ab_ratio', 'a / b')" in Path(run.artifacts["files"]["script"]).read_text()
    new_rows = _ratio_table(10, seed=3)
    predicted = fitted.predict(new_rows[["a", "b", "c"]])
    np.testing.assert_allclose(predicted, new_rows["a"] / new_rows["b"], atol=0.3)


@pytest.mark.parametrize(
    ("proposal", "words"),
    [
        ("ab = __import__('os').system('id')", "not a plain function name"),
        ("ab = a / missing_column", "no usable column named “missing_column”"),
        ("y2 = y * 2", "“y” is the target"),
    ],
)
async def test_refused_proposals_name_the_problem_before_any_scoring(
    tmp_path: Path, proposal: str, words: str
) -> None:
    from assistant.errors import ToolError
    from assistant.toolbox.feature_tools import _checked

    with pytest.raises(ToolError) as caught:
        _checked([proposal, "fine = a * b"], [], {"a": "numeric", "b": "numeric"}, target="y")
    message = str(caught.value)
    assert message.startswith("1 of 2 feature(s) were refused and nothing was scored")
    assert words in message
    assert message.count("Allowed:") == 1


@pytest.mark.parametrize(
    ("text", "features"),
    [
        ("add feature income_per_age = income / age", ["income_per_age = income / age"]),
        ("Add a feature: income / age", ["income_age = income / age"]),
        ("add features r = a / b; d = a - b.", ["r = a / b", "d = a - b"]),
        ('try the feature pro = plan == "pro"', ['pro = plan == "pro"']),
    ],
)
def test_the_offline_assistant_turns_add_a_feature_into_the_tool_call(
    text: str, features: list[str]
) -> None:
    intent = parse_request(text, {"engineer_features", "train_models", "set_plan"})
    assert intent == Intent("engineer_features", {"features": features})
    assert parse_request(text, {"train_models"}) != intent  # only when the tool is offered


def test_words_about_features_without_an_expression_are_not_a_feature() -> None:
    assert parse_request("try feature selection", {"engineer_features"}) is None


def test_the_offline_narration_lists_each_verdict() -> None:
    result = {
        "summary": "Scored 2 feature(s).",
        "features": [
            {"feature": "r", "expression": "a / b", "kept": True, "why": "improves RMSE by 0.6"},
            {"feature": "n", "expression": "c * 2", "kept": False, "why": "does not improve RMSE"},
        ],
    }
    assert narrate("engineer_features", json.dumps(result)) == (
        "Scored 2 feature(s).\n\n"
        "- r = a / b: kept (improves RMSE by 0.6)\n"
        "- n = c * 2: not kept (does not improve RMSE)"
    )
