"""The offline assistant inside a real session: it reads the attached file's columns (issue 18)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pandas as pd
import pytest
import pytest_asyncio

from assistant.events import Event, TextDelta, ToolFinished, ToolStarted
from assistant.offline.facts import ColumnFacts
from assistant.session import Assistant
from assistant.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _table(n: int = 60) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "tenure_months": [(i * 7) % 72 for i in range(n)],
            "contract": [("month-to-month", "one year", "two year")[i % 3] for i in range(n)],
            "churn": ["yes" if i % 4 == 0 else "no" for i in range(n)],
        }
    )
    frame.loc[1, "contract"] = None  # a missing value among the sample rows the profile shows
    return frame


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def assistant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Assistant]:
    root = tmp_path_factory.mktemp("offline")
    settings = Settings.from_env(
        {"MLCHAT_DATA_DIR": str(root / "data")}, env_file=root / "none.env"
    )
    _table().to_csv(root / "customers.csv", index=False)
    helper = Assistant(settings)
    assert helper.is_offline
    helper.attach_file("t1", root / "customers.csv")
    helper.attach_file("t2", root / "customers.csv")
    helper.attach_file("t3", root / "customers.csv")
    yield helper
    await helper.close()


async def _say(assistant: Assistant, text: str, thread: str = "t1") -> list[Event]:
    return [event async for event in assistant.run_turn(thread, text)]


def _text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_the_offline_rules_know_the_attached_files_columns(assistant: Assistant) -> None:
    facts = assistant.file_facts("t1")
    assert facts is not None and facts.names == (
        "customer_id",
        "tenure_months",
        "contract",
        "churn",
    )
    assert facts.column("churn") == ColumnFacts("churn", False, ("no", "yes"))
    assert facts.column("customer_id").is_unique  # type: ignore[union-attr]
    assert assistant.file_facts("no-such-thread") is None


async def test_a_profile_with_missing_values_in_its_sample_rows_works(assistant: Assistant) -> None:
    events = await _say(assistant, "describe this dataset")
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(e.tool, e.is_error) for e in finished] == [("profile_dataset", False)]


async def test_several_requests_run_in_order_and_errors_read_as_next_steps(
    assistant: Assistant,
) -> None:
    events = await _say(assistant, "use f1 and only trees, then show the leaderboard")
    started = [(e.tool, e.arguments.get("metric")) for e in events if isinstance(e, ToolStarted)]
    assert started == [("set_plan", "f1"), ("show_leaderboard", None)]
    text = _text(events)
    assert "Plan updated (metric: f1" in text
    assert "No model has been trained in this conversation yet." in text
    assert "Ask the user" not in text and "call " not in text


async def test_a_tool_error_reaches_the_tool_step_worded_for_a_person(
    assistant: Assistant,
) -> None:
    """The step a front end shows for a failed call is not the text written for a model."""
    events = await _say(assistant, "deploy the model", thread="t3")
    [finished] = [e for e in events if isinstance(e, ToolFinished)]
    assert (finished.tool, finished.is_error) == ("deploy_model", True)
    assert finished.summary == "There is no trained model yet: train one first."
    stored = [m for m in assistant.conversations.messages("t3") if m.role == "tool"]
    assert stored[-1].content.endswith("(train_models).")  # the model-facing text is kept


async def test_an_unclear_target_is_asked_with_choices_and_a_number_answers(
    assistant: Assistant,
) -> None:
    from assistant.events import Choices

    events = await _say(assistant, "train a model", thread="t2")
    assert events == [e for e in events if not isinstance(e, ToolStarted) or e.tool == "ask_user"]
    [choices] = [e for e in events if isinstance(e, Choices)]
    assert choices.question == "Which column should I predict?"
    assert choices.options[0] == "predict churn"
    assert "predict customer_id" not in choices.options
    answered = await _say(assistant, "1", thread="t2")
    started = [(e.tool, e.arguments.get("target")) for e in answered if isinstance(e, ToolStarted)]
    assert started == [("train_models", "churn")]


async def test_a_data_question_is_answered_exactly_without_a_language_model(
    assistant: Assistant,
) -> None:
    from assistant.events import Figure

    expected = int((_table()["tenure_months"] > 50).sum())
    events = await _say(assistant, "how many customers have a tenure above 50?", thread="t3")
    assert f"rows where tenure_months > 50: {expected} of 60." in _text(events)
    grouped = await _say(assistant, "average tenure by contract", thread="t3")
    assert [e.title for e in grouped if isinstance(e, Figure)] == [
        "mean of tenure_months per contract"
    ]
    assert "mean of tenure_months per contract: " in _text(grouped)


async def test_a_question_beyond_the_rules_says_so_and_offers_what_works(
    assistant: Assistant,
) -> None:
    from assistant.events import Choices

    events = await _say(assistant, "what's the weather like in Paris today?", thread="t3")
    [choices] = [e for e in events if isinstance(e, Choices)]
    assert choices.question.startswith("I couldn't match that to something I can do without")
    assert choices.options == (
        "train a model to predict churn",
        "average tenure_months by contract",
    )


async def test_a_question_with_dates_and_two_groupings_is_answered_with_a_chart(
    assistant: Assistant, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import json

    from assistant.events import Figure

    path = tmp_path_factory.mktemp("dated") / "orders.csv"
    dates = pd.date_range("2023-01-01", periods=120, freq="5D")
    orders = pd.DataFrame(
        {
            "order_date": dates.strftime("%Y-%m-%d"),
            "region": ["north", "south", "east"] * 40,
            "revenue": [float(10 + i % 7) for i in range(120)],
        }
    )
    orders.to_csv(path, index=False)
    assistant.attach_file("t5", path)
    facts = assistant.file_facts("t5")
    assert facts is not None and facts.column("order_date").is_date  # type: ignore[union-attr]

    latest = dates.max()
    month_end = latest + pd.offsets.MonthEnd(0)
    last_month = orders[(dates.year == latest.year) & (dates.month == latest.month)]
    events = await _say(assistant, "total revenue last month", thread="t5")
    assert (
        f"sum of revenue (rows where order_date in last month ({latest:%Y-%m}-01 to "
        f"{month_end:%Y-%m-%d})): {last_month['revenue'].sum():,.0f} (over {len(last_month)} rows)"
    ) in _text(events)

    grouped = await _say(assistant, "average revenue by region and year", thread="t5")
    [figure] = [e for e in grouped if isinstance(e, Figure)]
    assert figure.title == "mean of revenue per region and year of order_date"
    traces = json.loads(figure.plotly_json or "{}")["data"]
    assert sorted(t["name"] for t in traces) == ["2023", "2024"]  # one bar colour per year
    assert "mean of revenue per region and year of order_date: east · 2023 " in _text(grouped)
