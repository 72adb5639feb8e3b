"""The model can set the hard-case options of the plan (class weights, target transform)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


async def test_train_models_refuses_a_bad_argument_before_any_run_starts(tmp_path: Path) -> None:
    _rare_table(n=60).to_csv(tmp_path / "fraud.csv", index=False)
    model = ScriptedProvider([call("train_models", call_id="c1", target="fraud", budget_s=0)])
    model.replies.append(say("Sorry."))
    assistant = Assistant(offline_settings(tmp_path), provider=model)
    try:
        record = assistant.attach_file("t", tmp_path / "fraud.csv")
        events = await turn(assistant, "t", "train a model to predict fraud", [record])
        started = assistant.runs.latest("t")
    finally:
        await assistant.close()

    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.is_error and "budget_s" in finished.summary
    assert started is None  # refused where it was set, not inside the worker


def test_the_panel_and_run_again_write_the_typed_plan(tmp_path: Path) -> None:
    from assistant.plan_changes import update_changes
    from tools.errors import UserFacingError

    assistant = Assistant(offline_settings(tmp_path))
    try:
        assistant.conversations.ensure_thread("t")
        update_changes(assistant.db, "t", metric="f1")
        assistant.choose("t", {"budget_s": 90})
        after_panel = load_changes(assistant.db, "t")

        plan = {"target": "churn", "metric": "f1", "task": "binary", "seed": 7, "budget_s": 30}
        assistant.runs.start("r1", thread_id="t", dataset_id="d1", plan=plan, owner="1:1")
        assistant.prepare_rerun("t", "r1")
        after_rerun = load_changes(assistant.db, "t")

        broken = {"target": "churn", "budget_s": 0}
        assistant.runs.start("r2", thread_id="t", dataset_id="d1", plan=broken, owner="1:1")
        with pytest.raises(UserFacingError, match="can no longer be used"):
            assistant.prepare_rerun("t", "r2")
        after_refusal = load_changes(assistant.db, "t")
    finally:
        asyncio.run(assistant.close())

    assert after_panel.as_dict() == {"metric": "f1", "budget_s": 90}
    assert after_rerun.as_dict() == {"target": "churn", "metric": "f1", "budget_s": 30}
    assert after_refusal == after_rerun  # a refused rerun leaves the plan as it was
