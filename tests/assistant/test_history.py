from __future__ import annotations

from assistant.history import build_history, estimate_tokens
from assistant.providers.base import Message
from assistant.store import StoredMessage


def message(id_: int, role: str, content: str, turn: str, **extra: object) -> StoredMessage:
    return StoredMessage(
        id=id_,
        role=role,
        content=content,
        tool_calls=extra.get("tool_calls", ()),  # type: ignore[arg-type]
        tool_call_id=extra.get("tool_call_id"),  # type: ignore[arg-type]
        name=extra.get("name"),  # type: ignore[arg-type]
        summary=extra.get("summary"),  # type: ignore[arg-type]
        turn_id=turn,
    )


def conversation(turns: int) -> list[StoredMessage]:
    stored: list[StoredMessage] = []
    for t in range(turns):
        base = len(stored)
        call = {"id": f"c{t}", "name": "profile_dataset", "arguments": "{}"}
        stored += [
            message(base + 1, "user", f"question {t}", f"u{t}"),
            message(base + 2, "assistant", "", f"u{t}", tool_calls=(call,)),
            message(
                base + 3,
                "tool",
                "x" * 4_000,
                f"u{t}",
                tool_call_id=f"c{t}",
                name="profile_dataset",
                summary=f"short {t}",
            ),
            message(base + 4, "assistant", f"answer {t}", f"u{t}"),
        ]
    return stored


def test_old_tool_results_are_replaced_by_their_summaries() -> None:
    history = build_history(conversation(6), max_tokens=100_000, keep_full_turns=2)
    tool_contents = [m.content for m in history if m.role == "tool"]
    assert tool_contents[:4] == [f"(older result, summarised) short {t}" for t in range(4)]
    assert tool_contents[4:] == ["x" * 4_000] * 2


def tokens(message: Message) -> int:
    """What the default estimate counts: overhead, content and tool calls."""
    calls = sum(estimate_tokens(c.name + c.arguments) for c in message.tool_calls)
    return 4 + estimate_tokens(message.content) + calls


def test_whole_turns_are_dropped_oldest_first_to_fit_the_budget() -> None:
    full = build_history(conversation(10), max_tokens=100_000, keep_full_turns=2)
    size = sum(tokens(m) for m in full)
    history = build_history(conversation(10), max_tokens=size - 1, keep_full_turns=2)
    users = [m.content for m in history if m.role == "user"]
    assert users == [f"question {t}" for t in range(4, 10)]  # one chunk of four turns
    # every tool call still has its result
    calls = {c.id for m in history for c in m.tool_calls}
    results = {m.tool_call_id for m in history if m.role == "tool"}
    assert calls == results
    assert sum(tokens(m) for m in history) <= size - 1


def test_each_step_and_turn_only_appends_until_a_chunk_is_dropped() -> None:
    """Consecutive requests share their prefix (what the prompt caches reuse)."""
    stored = conversation(12)
    budget = sum(tokens(m) for m in build_history(stored[:24], max_tokens=10**6)) + 10
    previous: list[Message] = []
    starts: list[str] = []
    for end in range(2, len(stored) + 1):
        history = build_history(stored[:end], max_tokens=budget)
        starts.append(history[0].content)
        same_turn = stored[end - 1].turn_id == stored[end - 2].turn_id
        if previous and same_turn and history[0] == previous[0]:
            assert history[: len(previous)] == previous  # a step of the tool loop only appends
        previous = history
    assert len(set(starts)) <= 3  # the start moved in chunks, not on every turn


def test_tool_results_of_the_last_two_turns_stay_full_within_a_turn() -> None:
    stored = conversation(3)
    extra_call = {"id": "cx", "name": "profile_dataset", "arguments": "{}"}
    stored += [
        message(100, "assistant", "", "u2", tool_calls=(extra_call,)),
        message(101, "tool", "y" * 100, "u2", tool_call_id="cx", name="p", summary="s"),
    ]
    history = build_history(stored, max_tokens=100_000)
    contents = [m.content for m in history if m.role == "tool"]
    assert contents == ["(older result, summarised) short 0", "x" * 4_000, "x" * 4_000, "y" * 100]
