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
    history = build_history(conversation(6), max_tokens=100_000, keep_full_tool_results=2)
    tool_contents = [m.content for m in history if m.role == "tool"]
    assert tool_contents[:4] == [f"(older result, summarised) short {t}" for t in range(4)]
    assert tool_contents[4:] == ["x" * 4_000] * 2


def tokens(message: Message) -> int:
    """What the default estimate counts: overhead, content and tool calls."""
    calls = sum(estimate_tokens(c.name + c.arguments) for c in message.tool_calls)
    return 4 + estimate_tokens(message.content) + calls


def test_whole_turns_are_dropped_oldest_first_to_fit_the_budget() -> None:
    full = build_history(conversation(10), max_tokens=100_000, keep_full_tool_results=2)
    size = sum(tokens(m) for m in full)
    history = build_history(conversation(10), max_tokens=size - 1, keep_full_tool_results=2)
    users = [m.content for m in history if m.role == "user"]
    assert users == [f"question {t}" for t in range(1, 10)]
    # every tool call still has its result
    calls = {c.id for m in history for c in m.tool_calls}
    results = {m.tool_call_id for m in history if m.role == "tool"}
    assert calls == results
    assert sum(tokens(m) for m in history) <= size - 1
