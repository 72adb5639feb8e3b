"""Response cache in the store (SQLite or PostgreSQL) for deterministic (temperature 0) requests.

The key is a sha256 of the canonical JSON of (conversation, provider,
endpoint, model, messages, tools, temperature, output limit). So an answer is
replayed only

- in the conversation it was given in (one user's tool-calling turn is never
  replayed for another conversation),
- from the same server (a local server and OpenAI serving a model of the
  same name never share answers, and a provider outage is not hidden by a
  replay from another endpoint),
- and for the same history, which includes every earlier tool call's
  arguments and result: a reply that calls tools is replayed only when the
  arguments and results before it are identical.

Only complete answers (``stop`` or ``tool_calls``) are stored; a hit replays
the same text and tool-call deltas with zero usage, since it cost no tokens.
``provider_state`` is part of the stored answer but not of the key (opaque
provider data that does not change what was asked). The table is bounded:
rows older than ``max_age_s`` are never served and are deleted, and beyond
``max_rows`` the oldest rows go (both are settings). A "regenerate" skips the
lookup (``CallContext.fresh``) and replaces the stored answer.
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

DEFAULT_MAX_ROWS = 1000
DEFAULT_MAX_AGE_S = 7 * 24 * 3600.0

log = logging.getLogger(__name__)


def cache_key(
    provider: str,
    model: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    settings: ChatSettings,
    *,
    endpoint: str = "",
    thread_id: str | None = None,
) -> str:
    """The sha256 hex digest that identifies a request in one conversation, to one server."""
    payload = {
        "thread": thread_id,
        "provider": provider,
        "endpoint": endpoint,
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
        "max_tokens": settings.output_limit,
        "tool_choice": settings.tool_choice,
        "response_schema": settings.response_schema,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def is_cacheable(settings: ChatSettings) -> bool:
    """Only deterministic requests are cached."""
    return settings.temperature == 0


class ResponseCache:
    """Cached answers in the ``response_cache`` table, bounded by rows and age.

    Args:
        db: The project database.
        max_rows: Most rows kept (the oldest go first); ``0`` disables the cache.
        max_age_s: Rows older than this are not served and are deleted.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_age_s: float = DEFAULT_MAX_AGE_S,
    ) -> None:
        self._db = db
        self.max_rows = max_rows
        self.max_age_s = max_age_s

    def get(self, key: str) -> tuple[Delta, ...] | None:
        """The cached deltas for ``key`` (ending with zero usage and the end reason), or ``None``."""
        if self.max_rows <= 0:
            return None
        rows = self._db.query(
            "SELECT response FROM response_cache WHERE key = ? AND created_at >= ?",
            (key, now() - self.max_age_s),
        )
        if not rows:
            return None
        with self._db.transaction() as conn:
            conn.execute("UPDATE response_cache SET hits = hits + 1 WHERE key = ?", (key,))
        return _decode(rows[0]["response"])

    def put(
        self,
        key: str,
        provider: str,
        model: str,
        deltas: Sequence[Delta],
        *,
        thread_id: str | None = None,
        endpoint: str = "",
    ) -> None:
        """Store a complete answer (usage deltas are dropped; a replay costs nothing),
        then delete rows past the age and row bounds."""
        if self.max_rows <= 0:
            return
        stamp = now()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO response_cache (key, thread_id, provider, endpoint, model,"
                " response, hits, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)"
                " ON CONFLICT (key) DO UPDATE SET thread_id = excluded.thread_id,"
                " provider = excluded.provider, endpoint = excluded.endpoint,"
                " model = excluded.model, response = excluded.response, hits = 0,"
                " created_at = excluded.created_at",
                (key, thread_id, provider, endpoint, model, _encode(deltas), stamp),
            )
            conn.execute(
                "DELETE FROM response_cache WHERE created_at < ?", (stamp - self.max_age_s,)
            )
            conn.execute(
                "DELETE FROM response_cache WHERE key NOT IN (SELECT key FROM response_cache"
                " ORDER BY created_at DESC, key DESC LIMIT ?)",
                (self.max_rows,),
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
