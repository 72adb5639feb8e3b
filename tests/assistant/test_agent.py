from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.agent import Agent, TurnLimits
from assistant.events import (
    Event,
    Failed,
    Notice,
    Table,
    TextDelta,
    ToolFinished,
    ToolStarted,
    TurnFinished,
)
from assistant.providers.base import ChatSettings
from assistant.store import ConversationStore, Database
from assistant.toolkit import ToolResult, tool
from tests.assistant.scripted import ScriptedProvider, call, say


def count_rows(ctx: Any, dataset_id: str) -> ToolResult:
    """Count the rows of an attached dataset.

    Args:
        dataset_id: Id of the dataset, e.g. d1.
    """
    return ToolResult(
        for_model='{"summary": "d1 has 7043 rows", "rows": 7043}',
        for_user=(Table("Rows", ("dataset", "rows"), (("d1", 7043),)),),
        facts={"rows": 7043},
    )


def make_agent(
    tmp_path: Path, provider: ScriptedProvider, **limits: Any
) -> tuple[Agent, ConversationStore]:
    conversations = ConversationStore(Database(tmp_path / "mlchat.db"))
    agent = Agent(
        provider=provider,
        tools=[tool(count_rows)],
        conversations=conversations,
        make_context=lambda thread_id, call, emit: {"thread": thread_id},
        chat_settings=ChatSettings(model="scripted"),
        system_prompt="You are mlchat.",
        limits=TurnLimits(**limits),
    )
    return agent, conversations


async def run(agent: Agent, text: str, thread: str = "t1") -> list[Event]:
    return [event async for event in agent.run_turn(thread, text)]


async def test_a_plain_answer_streams_and_is_stored(tmp_path: Path) -> None:
    provider = ScriptedProvider([say("Hello there.")])
    agent, conversations = make_agent(tmp_path, provider)
    events = await run(agent, "hi")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there."
    assert events[-1] == TurnFinished("Hello there.")
    assert [(m.role, m.content) for m in conversations.messages("t1")] == [
        ("user", "hi"),
        ("assistant", "Hello there."),
    ]


async def test_a_tool_call_runs_and_its_result_goes_back_to_the_model(tmp_path: Path) -> None:
    provider = ScriptedProvider([call("count_rows", dataset_id="d1"), say("It has 7,043 rows.")])
    agent, conversations = make_agent(tmp_path, provider)
    events = await run(agent, "how many rows?")
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds[:3] == ["ToolStarted", "Table", "ToolFinished"]
    started = next(e for e in events if isinstance(e, ToolStarted))
    assert started.arguments == {"dataset_id": "d1"}
    table = next(e for e in events if isinstance(e, Table))
    assert table.call_id == "c1"
    sent_back = provider.requests[1][-1]
    assert (sent_back.role, sent_back.tool_call_id, sent_back.name) == ("tool", "c1", "count_rows")
    assert '"rows": 7043' in sent_back.content
    roles = [m.role for m in conversations.messages("t1")]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_an_unknown_tool_and_bad_arguments_go_back_as_errors_the_model_can_fix(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider(
        [
            call("drop_database", call_id="c1"),
            call("count_rows", call_id="c2", dataset=3),
            call("count_rows", call_id="c3", dataset_id="d1"),
            say("7043 rows."),
        ]
    )
    agent, _ = make_agent(tmp_path, provider)
    events = await run(agent, "rows?")
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(e.call_id, e.is_error) for e in finished] == [
        ("c1", True),
        ("c2", True),
        ("c3", False),
    ]
    assert "no tool named 'drop_database'" in finished[0].summary
    assert "count_rows" in finished[0].summary
    assert "unknown argument 'dataset'" in finished[1].summary
    assert events[-1] == TurnFinished("7043 rows.")


async def test_the_tool_call_cap_stops_an_endless_loop(tmp_path: Path) -> None:
    provider = ScriptedProvider(
        [call("count_rows", call_id=f"c{i}", dataset_id="d1") for i in range(50)]
    )
    agent, _ = make_agent(tmp_path, provider, max_tool_calls=3)
    events = await run(agent, "loop forever")
    assert sum(isinstance(e, ToolFinished) for e in events) == 3
    notice = next(e for e in events if isinstance(e, Notice))
    assert "3 tool calls" in notice.message and "MLCHAT_MAX_TOOL_CALLS" in notice.message
    assert isinstance(events[-1], TurnFinished) and events[-1].stopped
    assert len(provider.requests) == 4


async def test_an_invented_number_is_sent_back_for_correction_once(tmp_path: Path) -> None:
    provider = ScriptedProvider(
        [call("count_rows", dataset_id="d1"), say("It has 9,999 rows."), say("It has 7,043 rows.")]
    )
    agent, _ = make_agent(tmp_path, provider)
    events = await run(agent, "rows?")
    correction = provider.requests[2][-1]
    assert correction.role == "user" and "9,999" in correction.content
    assert events[-1] == TurnFinished("It has 7,043 rows.")


async def test_a_number_still_invented_after_correction_is_marked_for_the_user(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider(
        [call("count_rows", dataset_id="d1"), say("AUC 0.97."), say("AUC 0.97, really.")]
    )
    agent, _ = make_agent(tmp_path, provider)
    events = await run(agent, "rows?")
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.text == "AUC 0.97, really. (not checked against the tool results: 0.97)"
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown == final.text  # the first draft ("AUC 0.97.") was never shown


async def test_a_stalled_provider_is_stopped_by_the_turn_deadline(tmp_path: Path) -> None:
    provider = ScriptedProvider([say("late")], stall_s=30)
    agent, conversations = make_agent(tmp_path, provider, deadline_s=0.3)
    events = await run(agent, "hello?")
    failed = next(e for e in events if isinstance(e, Failed))
    assert "MLCHAT_TURN_DEADLINE_S" in failed.message
    assert [m.role for m in conversations.messages("t1")] == ["user"]
    # the next message works
    provider.stall_s = 0
    events = await run(agent, "again")
    assert events[-1] == TurnFinished("late")


@pytest.mark.parametrize("thread", ["t-a", "t-b"])
async def test_threads_do_not_see_each_others_history(tmp_path: Path, thread: str) -> None:
    provider = ScriptedProvider([say("one"), say("two")])
    agent, _ = make_agent(tmp_path, provider)
    await run(agent, "first", thread="other")
    await run(agent, "second", thread=thread)
    assert [m.content for m in provider.requests[1] if m.role == "user"] == ["second"]


async def test_provider_state_is_echoed_back_with_the_assistant_message(tmp_path: Path) -> None:
    from assistant.providers.base import StreamEnd, StreamToolCall, ToolCall

    signed = [
        StreamToolCall(ToolCall("c1", "count_rows", '{"dataset_id": "d1"}')),
        StreamEnd("tool_calls", provider_state={"thought_signature": "c2lnbg=="}),
    ]
    provider = ScriptedProvider([signed, say("7043 rows.")])
    agent, _ = make_agent(tmp_path, provider)
    await run(agent, "rows?")
    echoed = provider.requests[1][-2]
    assert echoed.role == "assistant" and echoed.provider_state == {"thought_signature": "c2lnbg=="}


async def test_a_rewrite_that_repeats_what_was_shown_is_not_shown_twice(tmp_path: Path) -> None:
    provider = ScriptedProvider(
        [
            call("count_rows", dataset_id="d1"),
            say("It has 7,043 rows. AUC is 0.97."),
            say("It has 7,043 rows. The AUC was not measured."),
        ]
    )
    agent, _ = make_agent(tmp_path, provider)
    events = await run(agent, "rows?")
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown == "It has 7,043 rows. The AUC was not measured."
    assert events[-1] == TurnFinished(shown)
    correction = provider.requests[2][-1].content
    assert "0.97" in correction and "It has 7,043 rows." in correction
