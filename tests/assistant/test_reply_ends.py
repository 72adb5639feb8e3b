"""The agent loop acts on every kind of reply ending (``assistant/reply_ends.py``)."""

from __future__ import annotations

from pathlib import Path

from assistant.errors import ProviderContextExceeded
from assistant.events import Event, Notice, TextDelta, TurnFinished
from assistant.providers._assembly import CUT_CALL
from assistant.providers.base import Delta, StreamEnd, StreamText, StreamUsage
from assistant.reply_ends import CALL_CHECK, CONTINUE_NOTE, LIMIT_NOTE
from tests.assistant.scripted import ScriptedProvider, call, say
from tests.assistant.test_agent import make_agent, run


def ending(reason: str, text: str = "", detail: str = "") -> list[Delta]:
    pieces: list[Delta] = [StreamText(text)] if text else []
    return [*pieces, StreamUsage(10, 5), StreamEnd(reason, detail=detail)]  # type: ignore[arg-type]


def shown(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def notices(events: list[Event]) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice)]


async def test_an_answer_cut_by_the_output_limit_is_continued_once_into_one_message(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider([ending("length", "The best model is "), say("LightGBM.")])
    agent, conversations = make_agent(tmp_path, provider)

    events = await run(agent, "explain")

    assert shown(events) == "The best model is LightGBM."
    assert events[-1] == TurnFinished("The best model is LightGBM.")
    cut, note = provider.requests[1][-2:]
    assert (cut.role, cut.content) == ("assistant", "The best model is ")
    assert (note.role, note.name, note.content) == ("user", CALL_CHECK, CONTINUE_NOTE)
    stored = conversations.messages("t1")
    assert [(m.role, m.content) for m in stored] == [
        ("user", "explain"),
        ("assistant", "The best model is LightGBM."),
    ]


async def test_an_answer_cut_twice_is_kept_with_a_note_and_the_user_told(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider([ending("length", "The best"), ending("length", " model")])
    agent, conversations = make_agent(tmp_path, provider)

    events = await run(agent, "explain")

    assert len(provider.requests) == 2  # one continuation, no more
    assert shown(events) == "The best model" + LIMIT_NOTE
    assert events[-1] == TurnFinished("The best model" + LIMIT_NOTE, stopped=True)
    assert conversations.messages("t1")[-1].content == "The best model" + LIMIT_NOTE


async def test_a_malformed_call_is_asked_again_once_with_the_error_in_context(
    tmp_path: Path,
) -> None:
    provider = ScriptedProvider(
        [
            ending("malformed_call", detail="MALFORMED_FUNCTION_CALL"),
            call("count_rows", dataset_id="d1"),
            say("It has 7043 rows."),
        ]
    )
    agent, conversations = make_agent(tmp_path, provider)

    events = await run(agent, "how many rows?")

    retry = provider.requests[1][-1]
    assert (retry.role, retry.name) == ("user", CALL_CHECK)
    assert "MALFORMED_FUNCTION_CALL" in retry.content
    assert CALL_CHECK not in [m.name for m in provider.requests[2]]  # the note was turn-local
    assert events[-1] == TurnFinished("It has 7043 rows.")
    assert CALL_CHECK not in [m.name for m in conversations.messages("t1")]


async def test_a_second_malformed_call_ends_the_turn_with_a_reason(tmp_path: Path) -> None:
    provider = ScriptedProvider(
        [ending("length", detail=CUT_CALL), ending("malformed_call", detail="bad JSON")]
    )
    agent, conversations = make_agent(tmp_path, provider)

    events = await run(agent, "go")

    assert "Keep the arguments shorter" in provider.requests[1][-1].content
    assert any("unusable tool call twice (bad JSON)" in n for n in notices(events))
    assert events[-1] == TurnFinished("", stopped=True)
    assert [m.role for m in conversations.messages("t1")] == ["user"]  # nothing empty stored


async def test_an_empty_reply_is_asked_again_and_never_stored(tmp_path: Path) -> None:
    provider = ScriptedProvider([ending("stop"), ending("stop")])
    agent, conversations = make_agent(tmp_path, provider)

    events = await run(agent, "hi")

    assert len(provider.requests) == 2
    assert events[-1] == TurnFinished("", stopped=True)
    assert [m.role for m in conversations.messages("t1")] == ["user"]


async def test_a_refusal_is_shown_and_stored(tmp_path: Path) -> None:
    provider = ScriptedProvider([ending("refusal")])
    agent, conversations = make_agent(tmp_path, provider)

    events = await run(agent, "do something bad")

    assert shown(events) == "The model declined to answer this request."
    assert conversations.messages("t1")[-1].content == "The model declined to answer this request."


async def test_a_blocked_answer_tells_the_user_why(tmp_path: Path) -> None:
    agent, _ = make_agent(
        tmp_path, ScriptedProvider([ending("blocked", detail="the prompt was blocked (SAFETY)")])
    )

    events = await run(agent, "x")

    assert notices(events) == [
        "The provider's safety filter stopped this answer (the prompt was blocked (SAFETY))."
    ]
    assert events[-1].stopped  # type: ignore[union-attr]


class TooLongOnce(ScriptedProvider):
    """Raises the provider's context error on the first request."""

    async def stream(self, messages, tools, settings, *, context=None):  # type: ignore[no-untyped-def, override]
        if not self.requests:
            self.requests.append(list(messages))
            raise ProviderContextExceeded("fake", "m", "prompt is too long")
        async for delta in super().stream(messages, tools, settings, context=context):
            yield delta


async def test_context_exceeded_trims_harder_and_asks_again(tmp_path: Path) -> None:
    provider = TooLongOnce([say("Short answer.")])
    agent, conversations = make_agent(tmp_path, provider, prompt_tokens=600)
    for number in range(10):
        conversations.ensure_thread("t1", title="t")
        conversations.add_messages(
            "t1",
            [
                {"role": "user", "content": f"question {number} " + "word " * 30},
                {"role": "assistant", "content": f"answer {number} " + "word " * 30},
            ],
            turn_id=f"old{number}",
        )

    events = await run(agent, "and now?")

    assert len(provider.requests) == 2
    assert len(provider.requests[1]) < len(provider.requests[0])
    assert provider.requests[1][-1].content == "and now?"
    assert events[-1] == TurnFinished("Short answer.")
    assert any("too long" in n for n in notices(events))


async def test_regenerate_replaces_the_last_reply_with_a_new_one(tmp_path: Path) -> None:
    provider = ScriptedProvider([call("count_rows", dataset_id="d1"), say("First."), say("Again.")])
    agent, conversations = make_agent(tmp_path, provider)
    await run(agent, "how many rows?")

    events = [e async for e in agent.regenerate("t1")]

    assert events[-1] == TurnFinished("Again.")
    assert [m.role for m in provider.requests[-1]] == ["system", "user"]
    assert [(m.role, m.content) for m in conversations.messages("t1")] == [
        ("user", "how many rows?"),
        ("assistant", "Again."),
    ]


async def test_the_context_message_goes_just_before_the_turns_user_message(
    tmp_path: Path,
) -> None:
    from assistant.untrusted import CONTEXT_NAME

    provider = ScriptedProvider([say("One."), call("count_rows", dataset_id="d1"), say("Two.")])
    agent, _ = make_agent(tmp_path, provider)
    agent.context_of = lambda thread, summary: f"<data>datasets of {thread}</data>"

    await run(agent, "first")
    await run(agent, "second")

    second, after_tool = provider.requests[1], provider.requests[2]
    assert [(m.role, m.name) for m in second] == [
        ("system", None),
        ("user", None),
        ("assistant", None),
        ("user", CONTEXT_NAME),
        ("user", None),
    ]
    assert after_tool[: len(second)] == second  # a tool step only appends: a cacheable prefix


async def test_a_failed_tool_call_is_stored_and_sent_back_as_an_error(tmp_path: Path) -> None:
    provider = ScriptedProvider([call("no_such_tool"), say("Sorry.")])
    agent, conversations = make_agent(tmp_path, provider)

    await run(agent, "go")

    result = next(m for m in conversations.messages("t1") if m.role == "tool")
    assert result.is_error
    assert provider.requests[1][-1].is_error


async def test_a_reply_whose_stream_stops_without_an_end_ends_with_a_visible_note(
    tmp_path: Path,
) -> None:
    cut: list[Delta] = [StreamText("The best model is LightGBM, and")]
    agent, conversations = make_agent(tmp_path, ScriptedProvider([cut]))

    events = await run(agent, "explain")

    text = shown(events)
    assert text.startswith("The best model is LightGBM, and\n\n(This answer was cut short: ")
    assert text.endswith(")")
    assert conversations.messages("t1")[-1].content == text  # the note stays on reload
    assert events[-1].stopped  # type: ignore[union-attr]


async def test_an_answer_the_provider_ends_with_an_error_is_marked_as_cut(
    tmp_path: Path,
) -> None:
    agent, conversations = make_agent(
        tmp_path, ScriptedProvider([ending("error", "It ranks", detail="server hung up")])
    )

    events = await run(agent, "explain")

    assert shown(events) == (
        "It ranks\n\n(This answer was cut short: The model stopped for an unexpected reason "
        "(server hung up). Please try again.)"
    )
    assert conversations.messages("t1")[-1].content == shown(events)
