"""Turn stored messages into the history sent to the model, within a token budget.

Tool results of turns before the last few are replaced by their short
summaries, and whole turns are dropped oldest first while the history is over
budget, so an assistant message with tool calls always keeps its tool results.

Both rules move in steps, so that consecutive requests share a long unchanged
prefix (what the providers' prompt caches bill at a tenth of the price):

- whether a result is summarised depends on its *turn*, not on how many
  results came after it, so no earlier message changes within a turn (each
  step of the tool loop only appends), and across turns only the turn that
  leaves the window changes;
- turns are dropped :data:`DROP_CHUNK` at a time, so the start of the history
  moves once every few turns instead of on every turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby

from assistant.providers.base import Message, ToolCall
from assistant.store import StoredMessage

KEEP_FULL_TURNS = 2
"""Tool results of the current turn and the one before it are sent in full."""
DROP_CHUNK = 4
"""Turns dropped at once when the history is over budget."""


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
    keep_full_turns: int = KEEP_FULL_TURNS,
) -> list[Message]:
    """Provider messages for ``stored``, trimmed to ``max_tokens``."""
    return trim_history(
        stored,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
        keep_full_turns=keep_full_turns,
    ).messages


def trim_history(
    stored: Sequence[StoredMessage],
    *,
    max_tokens: int,
    count_tokens: Callable[[str], int] = estimate_tokens,
    keep_full_turns: int = KEEP_FULL_TURNS,
    drop_chunk: int = DROP_CHUNK,
) -> TrimmedHistory:
    """Like :func:`build_history`, also returning the messages of the dropped turns."""
    turn_keys = list(dict.fromkeys(_key(m) for m in stored))
    full_turns = set(turn_keys[-keep_full_turns:]) if keep_full_turns else set()
    messages = [_to_message(m, full=m.role != "tool" or _key(m) in full_turns) for m in stored]
    turns = [list(group) for _, group in groupby(zip(stored, messages, strict=True), key=_turn_key)]
    sizes = [sum(_message_tokens(msg, count_tokens) for _, msg in turn) for turn in turns]

    total = sum(sizes)
    needed = 0
    while needed < len(turns) - 1 and total > max_tokens:
        total -= sizes[needed]
        needed += 1
    # Round up to a whole chunk (keeping the newest turn): the start moves in steps.
    drop = min(len(turns) - 1, -(-needed // max(1, drop_chunk)) * max(1, drop_chunk))
    dropped = [stored_message for turn in turns[:drop] for stored_message, _ in turn]
    return TrimmedHistory([message for turn in turns[drop:] for _, message in turn], dropped)


def _message_tokens(message: Message, count_tokens: Callable[[str], int]) -> int:
    """As ``count_prompt_tokens`` counts it: overhead, content and tool calls."""
    calls = sum(count_tokens(c.name + c.arguments) for c in message.tool_calls)
    return 4 + count_tokens(message.content) + calls


def _key(stored: StoredMessage) -> str:
    return stored.turn_id or f"m{stored.id}"


def _turn_key(pair: tuple[StoredMessage, Message]) -> str:
    return _key(pair[0])


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
        is_error=stored.is_error,
    )
