"""The standard conversation, end to end, with the offline assistant and the real engine.

One thread: attach a churn table, train, then each follow-up of the mission.
Numbers in the replies are checked against what the run stored.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from assistant.events import (
    Choices,
    Event,
    Figure,
    File,
    Notice,
    Table,
    TextDelta,
    ToolFinished,
    ToolProgress,
    TurnFinished,
)
from assistant.offline.replies import PICK_ONE
from assistant.session import Assistant
from assistant.settings import Settings
from tools.search.automl import base_family

pytestmark = pytest.mark.asyncio(loop_scope="module")
THREAD = "conversation"


def churn_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "tenure": rng.integers(1, 72, n),
            "monthly_charges": rng.normal(60, 20, n).round(2),
            "contract": rng.choice(["month", "year", "two-year"], n),
        }
    )
    risk = (frame["tenure"] < 18) & (frame["contract"] == "month")
    frame["churn"] = np.where(risk ^ (rng.random(n) < 0.08), "yes", "no")
    return frame


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def assistant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Assistant]:
    root = tmp_path_factory.mktemp("conversation")
    settings = Settings.from_env(
        {"MLCHAT_DATA_DIR": str(root / "data"), "MLCHAT_BUDGET_S": "6"}, env_file=root / "none.env"
    )
    churn_table().to_csv(root / "churn.csv", index=False)
    churn_table(40, seed=1).drop(columns="churn").to_csv(root / "new_customers.csv", index=False)
    helper = Assistant(settings)
    helper.files = root  # type: ignore[attr-defined]
    yield helper
    await helper.close()


async def say(assistant: Assistant, text: str, *attach: str) -> list[Event]:
    root: Path = assistant.files  # type: ignore[attr-defined]
    records = [assistant.attach_file(THREAD, root / name) for name in attach]
    return [event async for event in assistant.run_turn(THREAD, text, attachments=records)]


def reply_text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_train_streams_a_leaderboard_and_states_the_stored_score(
    assistant: Assistant,
) -> None:
    events = await say(assistant, "train a model on this file to predict churn", "churn.csv")
    boards = [e for e in events if isinstance(e, Table) and e.name == "leaderboard"]
    assert len(boards) >= 3  # one update per finished candidate, then the final table
    run = assistant.runs.latest(THREAD, with_model=True)
    assert run is not None and run.status == "finished"
    best = run.leaderboard[0]
    assert best["family"] == run.metrics["best_family"]
    text = reply_text(events)
    assert f"{best['score']:.4g}" in text
    assert "customer_id" in text  # the ID-like warning is passed on
    files = {e.path.name for e in events if isinstance(e, File)}
    assert files == {"model.joblib", "model_card.md", "train.py"}
    model = joblib.load(Path(run.artifacts["files"]["model"]))
    frame = churn_table(5, seed=3).drop(columns="churn")
    assert list(model.predict(frame)) == list(model.predict(frame))
    assert model.predict_proba(frame).shape == (5, 2)
    assert any(isinstance(e, Figure) and e.plotly_json for e in events)


async def test_why_is_a_feature_important_shows_a_figure_and_its_rank(assistant: Assistant) -> None:
    events = await say(assistant, "why is tenure important?")
    figures = [e for e in events if isinstance(e, Figure)]
    assert len(figures) == 1 and json.loads(figures[0].plotly_json or "{}")["data"]
    run = assistant.runs.latest(THREAD, with_model=True)
    assert run is not None
    rank = next(i["rank"] for i in run.metrics["importance"] if i["column"] == "tenure")
    assert f"tenure is ranked {rank} of" in reply_text(events)


async def test_predict_on_a_new_file_offers_a_csv_with_every_row(assistant: Assistant) -> None:
    events = await say(assistant, "predict on this file", "new_customers.csv")
    files = [e for e in events if isinstance(e, File)]
    assert len(files) == 1
    predictions = pd.read_csv(files[0].path)
    assert len(predictions) == 40
    assert "prediction" in predictions.columns
    assert "Wrote 40 predictions" in reply_text(events)


async def test_leaderboard_download_and_improvement_requests(assistant: Assistant) -> None:
    run = assistant.runs.latest(THREAD, with_model=True)
    assert run is not None
    board = next(e for e in await say(assistant, "show the leaderboard") if isinstance(e, Table))
    assert len(board.rows) == len(run.leaderboard)
    files = [e for e in await say(assistant, "download the model") if isinstance(e, File)]
    assert {"model.joblib", "model_card.md", "train.py", "report.json"} <= {
        f.path.name for f in files
    }
    assert all(f.path.is_file() for f in files)
    improve = reply_text(await say(assistant, "what would improve it?"))
    assert "suggestion" in improve and "\n- " in improve


async def test_tuning_continues_the_same_study_and_keeps_the_better_model(
    assistant: Assistant,
) -> None:
    before = assistant.runs.latest(THREAD, with_model=True)
    assert before is not None
    first = await say(assistant, "tune it for 10 seconds")
    second = await say(assistant, "tune it for 10 seconds")
    totals = []
    for events in (first, second):
        finished = next(e for e in events if isinstance(e, ToolFinished))
        assert finished.tool == "tune_model" and not finished.is_error, finished.summary
        payload = json.loads(finished.summary)
        totals.append(int(re.search(r"(\d+) in the study", payload["summary"]).group(1)))  # type: ignore[union-attr]
        assert any(isinstance(e, ToolProgress) and "best so far" in e.message for e in events)
    assert totals[1] > totals[0] > 0
    from tools.warmstart import WarmStartStore

    history = WarmStartStore(assistant.settings.data_dir / "optuna" / "warmstart.db")
    run = assistant.runs.latest(THREAD)
    assert run is not None
    family = json.loads(next(e for e in second if isinstance(e, ToolFinished)).summary)["summary"]
    assert history.similar(before.meta_features, _tuned_family(family), task="binary", k=1)
    after = assistant.runs.latest(THREAD, with_model=True)
    assert after is not None
    higher = before.metrics["metric"] not in ("log_loss", "root_mean_squared_error")
    old, new = before.leaderboard[0]["score"], after.leaderboard[0]["score"]
    assert (new >= old) if higher else (new <= old)


def _tuned_family(summary: str) -> str:
    from tools.models.families import MODEL_FAMILIES

    return next(
        name
        for name, spec in MODEL_FAMILIES.items()
        if f"({spec.label})" in summary or f"tuned {spec.label}" in summary
    )


async def test_plot_a_vs_b_and_a_distribution(assistant: Assistant) -> None:
    events = await say(assistant, "plot monthly charges vs tenure")
    figure = next(e for e in events if isinstance(e, Figure))
    assert figure.title == "monthly_charges vs tenure"
    events = await say(assistant, "distribution of contract")
    assert next(e for e in events if isinstance(e, Figure)).title == "Distribution of contract"


async def test_a_fenced_code_block_runs_in_the_sandbox(assistant: Assistant) -> None:
    events = await say(
        assistant, "```python\nprint(df['tenure'].max() - df['tenure'].min() + 1000)\n```"
    )
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.tool == "run_code" and not finished.is_error
    tenure = churn_table()["tenure"]
    assert str(int(tenure.max() - tenure.min() + 1000)) in reply_text(events)


async def test_metric_change_then_retrain_uses_it(assistant: Assistant) -> None:
    text = reply_text(await say(assistant, "use F1"))
    assert "Plan updated" in text
    await say(assistant, "retrain with only linear models")
    run = assistant.runs.latest(THREAD, with_model=True)
    assert run is not None
    assert run.plan["metric"] == "f1"
    assert {base_family(r["family"]) for r in run.leaderboard} - {"ensemble"} <= {
        "logistic_regression",
        "lda",
        "linear",
        "ridge",
        "lasso",
    }


async def test_a_typo_in_the_target_is_resolved_and_said(assistant: Assistant) -> None:
    events = await say(assistant, "train a model to predict chrun using only tree models")
    text = reply_text(events)
    assert "Using the column “churn” for “chrun”" in text


async def test_an_unknown_request_says_so_and_offers_two_requests_that_fit(
    assistant: Assistant,
) -> None:
    events = await say(assistant, "write a haiku about gradient descent")
    [choices] = [e for e in events if isinstance(e, Choices)]
    assert choices.question.startswith("I couldn't match that to something I can do without")
    assert choices.options == ("why is tenure important?", "average tenure by contract")
    assert reply_text(events) == PICK_ONE
    assert isinstance(events[-1], TurnFinished)


async def test_a_missing_target_is_asked_for_with_the_likeliest_columns(
    assistant: Assistant,
) -> None:
    before = assistant.runs.latest(THREAD)
    events = await say(assistant, "train a model to predict revenue")
    [choices] = [e for e in events if isinstance(e, Choices)]
    assert choices.question == (
        "This file has no column called “revenue”. Which column should I predict?"
    )
    assert choices.options[0] == "predict churn"
    assert assistant.runs.latest(THREAD) == before  # nothing was trained on a guess


async def test_stop_during_training_keeps_the_leaderboard_so_far(assistant: Assistant) -> None:
    seen: list[Event] = []

    async def consume() -> None:
        async for event in assistant.run_turn(
            THREAD, "train a model to predict churn with a 60 second budget"
        ):
            seen.append(event)

    task = asyncio.create_task(consume())
    while not any(isinstance(e, Table) and e.name == "leaderboard" for e in seen):
        await asyncio.sleep(0.05)
    started = time.monotonic()
    await assistant.stop(THREAD)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert time.monotonic() - started < 2.5
    run = assistant.runs.latest(THREAD)
    assert run is not None and run.status == "stopped"
    assert len(run.leaderboard) >= 1
    assert any(isinstance(e, ToolProgress) for e in seen)
    assert not any(isinstance(e, Notice) and e.level == "warning" for e in seen)


async def test_the_positive_class_sentence_moves_the_curves_and_f1(assistant: Assistant) -> None:
    text = reply_text(await say(assistant, "the positive class is no"))  # "yes" is the rarer one
    assert "Plan updated (positive class: no)" in text

    events = await say(assistant, "retrain with only linear models")

    run = assistant.runs.latest(THREAD, with_model=True)
    assert run is not None and run.plan["positive_class"] == "no"
    titles = [e.title for e in events if isinstance(e, Figure)]
    assert any(t.startswith("ROC curve (positive class “no”") for t in titles), titles
    assert 'Positive class (F1, threshold, ROC and PR curves): "no".' in reply_text(events)
    assert list(joblib.load(Path(run.artifacts["files"]["model"])).classes_) == ["yes", "no"]


async def test_treat_it_as_regression_on_a_text_target_is_one_sentence(
    assistant: Assistant,
) -> None:
    assert "Plan updated (task: regression)" in reply_text(
        await say(assistant, "treat it as regression")
    )

    text = reply_text(await say(assistant, "retrain"))

    assert "holds text (such as" in text and "cannot be treated as a regression" in text
    run = assistant.runs.latest(THREAD)
    assert run is not None and run.status == "failed"
