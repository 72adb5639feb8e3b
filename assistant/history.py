"""Turn stored messages into the history sent to the model, within a token budget.

Tool results older than the last few are replaced by their short summaries,
and whole turns are dropped oldest first while the history is over budget, so
an assistant message with tool calls always keeps its tool results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby

from assistant.providers.base import Message, ToolCall
from assistant.store import StoredMessage

KEEP_FULL_TOOL_RESULTS = 4


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token)."""
    return len(text) // 4 + 1


@dataclass(frozen=True, slots=True)
class TrimmedHistory:
    """The history to send, and the stored messages of the turns dropped to fit the budget."""

    messages: list[Message]
    dropped: list[StoredMessage]
    """Oldest first; empty when everything fits."""


def build_history(
    stored: Sequence[StoredMessage],
    *,
    max_tokens: int,
    count_tokens: Callable[[str], int] = estimate_tokens,
    keep_full_tool_results: int = KEEP_FULL_TOOL_RESULTS,
) -> list[Message]:
    """Provider messages for ``stored``, trimmed to ``max_tokens``."""
    return trim_history(
        stored,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
        keep_full_tool_results=keep_full_tool_results,
    ).messages


def trim_history(
    stored: Sequence[StoredMessage],
    *,
    max_tokens: int,
    count_tokens: Callable[[str], int] = estimate_tokens,
    keep_full_tool_results: int = KEEP_FULL_TOOL_RESULTS,
) -> TrimmedHistory:
    """Like :func:`build_history`, also returning the messages of the dropped turns."""
    tool_ids = [m.id for m in stored if m.role == "tool"]
    keep_full = set(tool_ids[-keep_full_tool_results:]) if keep_full_tool_results else set()
    messages = [_to_message(m, full=m.role != "tool" or m.id in keep_full) for m in stored]
    turns = [list(group) for _, group in groupby(zip(stored, messages, strict=True), key=_turn_key)]

    def size(turn: list[tuple[StoredMessage, Message]]) -> int:
        return sum(_message_tokens(msg, count_tokens) for _, msg in turn)

    total = sum(size(turn) for turn in turns)
    dropped: list[StoredMessage] = []
    while len(turns) > 1 and total > max_tokens:
        turn = turns.pop(0)
        total -= size(turn)
        dropped += [stored_message for stored_message, _ in turn]
    return TrimmedHistory([message for turn in turns for _, message in turn], dropped)


def _message_tokens(message: Message, count_tokens: Callable[[str], int]) -> int:
    """As ``count_prompt_tokens`` counts it: overhead, content and tool calls."""
    calls = sum(count_tokens(c.name + c.arguments) for c in message.tool_calls)
    return 4 + count_tokens(message.content) + calls


def _turn_key(pair: tuple[StoredMessage, Message]) -> str:
    stored, _ = pair
    return stored.turn_id or f"m{stored.id}"


def _to_message(stored: StoredMessage, *, full: bool) -> Message:
    content = stored.content
    if not full and stored.summary:
        content = f"(older result, summarised) {stored.summary}"
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in stored.tool_calls)
    return Message(
        role=stored.role,  # type: ignore[arg-type]
        content=content,
        tool_calls=calls,
        tool_call_id=stored.tool_call_id,
        name=stored.name,
        provider_state=stored.provider_state,
    )
