"""The offline provider: answers without any LLM, from a rule-based strategy.

This module is the *slot*: a real provider behind the same interface as the
others, chosen when no API key is configured. The rules themselves (which
requests map to which tool calls, the narration templates) belong to the
assistant and are passed in as the ``respond`` strategy::

    def respond(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> OfflineReply:
        ...  # look at the last user message / tool result, decide
        return OfflineReply(text="Training on churn.csv ...", tool_calls=(ToolCall(...),))

    provider = OfflineProvider(respond)

The reply is streamed as one text delta (if any), one delta per tool call,
zero usage (nothing is billed, nothing estimated) and the end reason. A
strategy may also be ``async``. Until the assistant supplies its rules,
:func:`default_respond` explains how to enable an LLM.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
    ToolSpec,
)

log = logging.getLogger(__name__)

OFFLINE_MODEL = "rules"


@dataclass(frozen=True, slots=True)
class OfflineReply:
    """What the offline strategy answers: text, tool calls, or both."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


RespondStrategy = Callable[
    [Sequence[Message], Sequence[ToolSpec]], OfflineReply | Awaitable[OfflineReply]
]


def default_respond(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> OfflineReply:
    """The placeholder strategy until the assistant's rules are plugged in."""
    return OfflineReply(
        text=(
            "I'm running without a language model. Set OPENAI_API_KEY, ANTHROPIC_API_KEY or "
            "GEMINI_API_KEY (or OPENAI_BASE_URL for a local server) to chat freely."
        )
    )


class OfflineProvider:
    """A provider whose answers come from ``respond`` instead of a model.

    Args:
        respond: The strategy; sync or async, given the history and the tools.
        name: Provider name used in usage rows.
    """

    def __init__(
        self, respond: RespondStrategy = default_respond, *, name: str = "offline"
    ) -> None:
        self.name = name
        self._respond = respond

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
    ) -> AsyncIterator[Delta]:
        """Stream the strategy's reply (see :class:`~assistant.providers.base.Provider`)."""
        reply = self._respond(messages, tools)
        if inspect.isawaitable(reply):
            reply = await reply
        if reply.text:
            yield StreamText(reply.text)
        for call in reply.tool_calls:
            yield StreamToolCall(call)
        yield StreamUsage(0, 0)
        yield StreamEnd("tool_calls" if reply.tool_calls else "stop")
