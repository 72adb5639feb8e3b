"""A scripted model behind the real provider interface, for conversation tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

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


def say(text: str) -> list[Delta]:
    """A reply that is plain text, streamed in two pieces."""
    half = len(text) // 2
    return [StreamText(text[:half]), StreamText(text[half:]), StreamUsage(10, 5), StreamEnd("stop")]


def call(name: str, call_id: str = "c1", **arguments: object) -> list[Delta]:
    """A reply that calls one tool."""
    return [StreamToolCall(ToolCall(call_id, name, json.dumps(arguments))), StreamEnd("tool_calls")]


@dataclass
class ScriptedProvider:
    """Replays one scripted reply per request and records what it was sent."""

    replies: list[list[Delta]]
    name: str = "scripted"
    requests: list[list[Message]] = field(default_factory=list)
    stall_s: float = 0.0

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
        *,
        context: object = None,
    ) -> AsyncIterator[Delta]:
        self.requests.append(list(messages))
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        reply = self.replies.pop(0) if self.replies else say("(script ended)")
        for delta in reply:
            yield delta


def batch(*calls: tuple[str, str, dict[str, object]]) -> list[Delta]:
    """A reply that calls several tools at once: ``(name, call_id, arguments)`` each."""
    return [
        *(StreamToolCall(ToolCall(cid, name, json.dumps(args))) for name, cid, args in calls),
        StreamEnd("tool_calls"),
    ]
