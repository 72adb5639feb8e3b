"""Calls that change the conversation's state run in the model's order, before the reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from assistant.agent import Agent
from assistant.events import ToolFinished
from assistant.providers.base import ChatSettings
from assistant.session import Assistant
from assistant.store import ConversationStore, Database
from assistant.toolbox import all_tools
from assistant.toolkit import ToolResult, changes_state, tool
from tests.assistant.scripted import ScriptedProvider, batch, say
from tests.reliability.common import offline_settings, small_table, turn

LOG: list[str] = []


async def _step(name: str) -> None:
    LOG.append(f"{name} start")
    for _ in range(5):
        await asyncio.sleep(0)  # yield to the loop: concurrent calls would interleave here
    LOG.append(f"{name} end")


@changes_state
async def set_plan(ctx: Any, label: str) -> ToolResult:
    """A stand-in for the real set_plan (a state change without a rule at the door never runs).

    Args:
        label: Name of the note.
    """
    await _step(label)
    return ToolResult(for_model="written")


async def read_note(ctx: Any, label: str) -> ToolResult:
    """Read a note.

    Args:
        label: Name of the note.
    """
    await _step(label)
    return ToolResult(for_model="read")


@changes_state
async def tune_model(ctx: Any, label: str) -> ToolResult:
    """A stand-in for the real tune_model: a state change the user must ask for.

    Args:
        label: Name of the run.
    """
    await _step(label)
    return ToolResult(for_model="tuned")


def test_the_toolbox_declares_which_tools_change_state() -> None:
    changing = {t.name for t in all_tools() if t.changes_state}
    assert changing == {
        "deploy_model",
        "load_sql_table",
        "set_plan",
        "train_models",
        "tune_model",
        "engineer_features",
        "run_code",
    }


async def test_writes_run_one_at_a_time_in_order_before_reads(tmp_path: Path) -> None:
    LOG.clear()
    model = ScriptedProvider(
        [
            batch(
                ("read_note", "c1", {"label": "read1"}),
                ("set_plan", "c2", {"label": "write1"}),
                ("read_note", "c3", {"label": "read2"}),
                ("set_plan", "c4", {"label": "write2"}),
            ),
            say("Done."),
        ]
    )
    agent = Agent(
        provider=model,
        tools=[tool(set_plan), tool(read_note)],
        conversations=ConversationStore(Database(tmp_path / "mlchat.db")),
        make_context=lambda thread_id, call, emit: None,
        chat_settings=ChatSettings(model="scripted"),
        system_prompt="You are mlchat.",
    )
    events = [e async for e in agent.run_turn("t", "set the plan, go")]

    assert LOG[:4] == ["write1 start", "write1 end", "write2 start", "write2 end"]
    # the reads run together after the writes: both start before either ends
    assert LOG[4:6] == ["read1 start", "read2 start"]
    sent_back = [m.tool_call_id for m in model.requests[1] if m.role == "tool"]
    assert sent_back == ["c1", "c2", "c3", "c4"]  # results go back in the model's order
    assert [e.call_id for e in events if isinstance(e, ToolFinished)][:2] == ["c2", "c4"]


async def test_a_batch_that_sets_the_metric_then_trains_trains_with_it(tmp_path: Path) -> None:
    small_table().to_csv(tmp_path / "small.csv", index=False)
    model = ScriptedProvider([])
    assistant = Assistant(offline_settings(tmp_path), provider=model)
    try:
        record = assistant.attach_file("t", tmp_path / "small.csv")
        model.replies[:] = [
            batch(
                ("set_plan", "c1", {"metric": "f1", "models": ["logistic_regression"]}),
                ("train_models", "c2", {"target": "y"}),
            ),
            say("Trained."),
        ]
        events = await turn(assistant, "t", "use f1 and train", [record])
    finally:
        await assistant.close()

    finished = [(e.tool, e.is_error) for e in events if isinstance(e, ToolFinished)]
    assert finished == [("set_plan", False), ("train_models", False)]
    run = assistant.runs.latest("t", with_model=True)
    assert run is not None
    assert run.plan["metric"] == "f1"
    assert run.metrics["metric"] == "f1"


async def test_an_answer_to_the_assistants_question_may_start_a_state_change(
    tmp_path: Path,
) -> None:
    LOG.clear()
    model = ScriptedProvider(
        [
            batch(("tune_model", "c1", {"label": "unasked"})),
            say("Which note should I write?"),
            batch(("tune_model", "c2", {"label": "answered"})),
            say("Done."),
        ]
    )
    agent = Agent(
        provider=model,
        tools=[tool(tune_model)],
        conversations=ConversationStore(Database(tmp_path / "mlchat.db")),
        make_context=lambda thread_id, call, emit: None,
        chat_settings=ChatSettings(model="scripted"),
        system_prompt="You are mlchat.",
    )
    first = [e async for e in agent.run_turn("t", "hello")]
    second = [e async for e in agent.run_turn("t", "the blue one")]

    refused = next(e for e in first if isinstance(e, ToolFinished))
    assert refused.is_error and "did not ask" in refused.summary
    answered = next(e for e in second if isinstance(e, ToolFinished))
    assert not answered.is_error
    assert LOG == ["answered start", "answered end"]
