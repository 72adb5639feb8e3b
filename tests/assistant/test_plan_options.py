"""The model can set the hard-case options of the plan (class weights, target transform)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from assistant.events import ToolFinished
from assistant.plan_changes import load_changes
from assistant.session import Assistant
from tests.assistant.scripted import ScriptedProvider, call, say
from tests.reliability.common import offline_settings, turn


def _rare_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x.round(3), "z": rng.normal(size=n).round(3)})
    frame["fraud"] = np.where(x + rng.normal(0, 0.5, n) > 1.6, "yes", "no")
    return frame


async def test_set_plan_class_weight_reaches_the_trained_run(tmp_path: Path) -> None:
    _rare_table().to_csv(tmp_path / "fraud.csv", index=False)
    model = ScriptedProvider([])
    assistant = Assistant(offline_settings(tmp_path, MLCHAT_BUDGET_S="5"), provider=model)
    try:
        record = assistant.attach_file("t", tmp_path / "fraud.csv")
        model.replies[:] = [
            call("set_plan", call_id="c1", class_weight="balanced", models=["logistic_regression"]),
            call("train_models", call_id="c2", target="fraud"),
            say("Trained."),
        ]
        events = await turn(assistant, "t", "weight the rare class and train", [record])
        model.replies[:] = [call("set_plan", call_id="c3", class_weight="heavy"), say("Sorry.")]
        refused = await turn(assistant, "t", "use heavy weights")
    finally:
        await assistant.close()

    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(e.tool, e.is_error) for e in finished] == [
        ("set_plan", False),
        ("train_models", False),
    ]
    run = assistant.runs.latest("t", with_model=True)
    assert run is not None and run.plan["class_weight"] == "balanced"
    error = next(e for e in refused if isinstance(e, ToolFinished))
    assert error.is_error and "balanced" in error.summary


async def test_a_plan_change_is_checked_when_it_is_set(tmp_path: Path) -> None:
    model = ScriptedProvider([])
    assistant = Assistant(offline_settings(tmp_path), provider=model)
    try:
        model.replies[:] = [
            call("set_plan", call_id="c1", budget_s=120, metric="f1"),
            call("set_plan", call_id="c2", budget_s=0),
            say("Done."),
        ]
        events = await turn(assistant, "t", "use f1 and a 2 minute budget, then a 0 s budget")
    finally:
        await assistant.close()

    finished = {e.call_id: e for e in events if isinstance(e, ToolFinished)}
    assert not finished["c1"].is_error
    assert finished["c2"].is_error and "budget_s" in finished["c2"].summary
    stored = load_changes(assistant.db, "t")
    assert (stored.budget_s, stored.metric) == (120, "f1")  # the refused change left it as it was
