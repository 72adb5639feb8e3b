"""The offline assistant: rules that understand the core requests and drive the same tools.

It reads the conversation like a model would: after a user message it picks
the tool calls the words ask for (using the attached file's column names,
see :mod:`assistant.offline.intents`); after a tool result it narrates that
result from a template, using only the numbers the tool returned, and issues
the next call the message asked for. When the target is unclear or nothing
fits, it asks back with choices (``ask_user``) instead of guessing.

Modules: ``facts`` (what is known: columns, history), ``columns`` (finding
columns in text), ``typos``, ``durations``, ``vocabulary`` (the words of each
request), ``intents`` (message -> calls), ``questions`` (data questions),
``features`` (derived-feature requests), ``suggestions`` (questions back),
``wording`` (tool errors for a person), ``replies`` (the reply itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from assistant.offline.facts import FileFacts
from assistant.offline.intent import Intent
from assistant.offline.replies import HELP_TEXT, narrate, parse_request, respond
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    StreamToolCall,
    ToolCall,
    ToolSpec,
)
from assistant.spend.scope import current_scope

log = logging.getLogger(__name__)

FactsOf = Callable[[str], FileFacts | None]
"""``thread_id -> facts`` of the conversation's newest attached file (``None`` if none)."""


class OfflineAssistant:
    """A rule-based provider behind the same streaming interface as the LLMs.

    Args:
        facts_of: Reads the conversation's newest file (its columns and few-valued
            columns' values), so requests can be matched against real columns.
    """

    name = "offline"

    def __init__(self, facts_of: FactsOf | None = None) -> None:
        self._issued: deque[ToolCall] = deque(maxlen=256)
        self._facts_of = facts_of

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ChatSettings
    ) -> AsyncIterator[Delta]:
        """Reply to the last message: tool calls for a request, a narration for a result."""
        available = {t.name for t in tools}
        facts = await self._facts()
        for delta in respond(messages, available, facts=facts):
            if isinstance(delta, StreamToolCall):
                self._issued.append(delta.call)
            yield delta

    def issued(self, call: ToolCall) -> bool:
        """Whether this exact call (id, name and arguments) came from these rules, not a model."""
        return call in self._issued

    async def _facts(self) -> FileFacts | None:
        # The router does not pass the conversation to a provider; the turn's scope
        # (set by the agent loop for this task) names it.
        scope = current_scope()
        if self._facts_of is None or scope is None or scope.thread_id is None:
            return None
        return await asyncio.to_thread(self._facts_of, scope.thread_id)


__all__ = [
    "HELP_TEXT",
    "FileFacts",
    "Intent",
    "OfflineAssistant",
    "narrate",
    "parse_request",
    "respond",
]
