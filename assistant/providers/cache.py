"""Response cache in SQLite for deterministic (temperature 0) requests.

The key is a sha256 of the canonical JSON of (provider, model, messages, tools,
temperature, max_tokens). Only complete, successful streams are stored; a hit
replays the same text and tool-call deltas with zero usage, since it cost no
tokens. ``provider_state`` is part of the stored answer but not of the key
(it is opaque provider data that does not change what was asked).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

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
from assistant.store import Database, now

log = logging.getLogger(__name__)


def cache_key(
    provider: str,
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    settings: ChatSettings,
) -> str:
    """The sha256 hex digest that identifies a request."""
    payload = {
        "provider": provider,
        "model": model,
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "tool_calls": [[c.id, c.name, c.arguments] for c in m.tool_calls],
                "tool_call_id": m.tool_call_id,
                "name": m.name,
            }
            for m in messages
        ],
        "tools": [[t.name, t.description, t.parameters] for t in tools],
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def is_cacheable(settings: ChatSettings) -> bool:
    """Only deterministic requests are cached."""
    return settings.temperature == 0


class ResponseCache:
    """Cached answers in the ``response_cache`` table.

    Args:
        db: The project database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> tuple[Delta, ...] | None:
        """The cached deltas for ``key`` (ending with zero usage and the end reason), or ``None``."""
        rows = self._db.query("SELECT response FROM response_cache WHERE key = ?", (key,))
        if not rows:
            return None
        with self._db.transaction() as conn:
            conn.execute("UPDATE response_cache SET hits = hits + 1 WHERE key = ?", (key,))
        return _decode(rows[0]["response"])

    def put(self, key: str, provider: str, model: str, deltas: Sequence[Delta]) -> None:
        """Store a complete answer (usage deltas are dropped; a replay costs nothing)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO response_cache (key, provider, model, response, hits,"
                " created_at) VALUES (?, ?, ?, ?, 0, ?)",
                (key, provider, model, _encode(deltas), now()),
            )


def _encode(deltas: Sequence[Delta]) -> str:
    items: list[dict[str, Any]] = []
    for delta in deltas:
        match delta:
            case StreamText(text=text):
                items.append({"kind": "text", "text": text})
            case StreamToolCall(call=call):
                items.append(
                    {
                        "kind": "tool_call",
                        "id": call.id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
            case StreamEnd(reason=reason, provider_state=state):
                items.append({"kind": "end", "reason": reason, "provider_state": state})
            case StreamUsage():
                pass
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def _decode(text: str) -> tuple[Delta, ...]:
    deltas: list[Delta] = []
    end: StreamEnd = StreamEnd("stop")
    for item in json.loads(text):
        if item["kind"] == "text":
            deltas.append(StreamText(item["text"]))
        elif item["kind"] == "tool_call":
            deltas.append(StreamToolCall(ToolCall(item["id"], item["name"], item["arguments"])))
        elif item["kind"] == "end":
            end = StreamEnd(item["reason"], provider_state=item.get("provider_state", {}))
    return (*deltas, StreamUsage(0, 0), end)
