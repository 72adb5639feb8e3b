"""Summaries of the turns trimmed from the history, written by the small model.

When the history no longer fits the prompt budget, the agent drops whole turns
oldest first. With ``MLCHAT_SMALL_MODEL`` set, :class:`HistorySummariser` asks
that model for a short summary of the dropped turns, which the agent adds to
the system prompt. The summary is kept in the thread's metadata and extended
only when more turns are dropped, so a long conversation pays for each old
turn once. Without a small model, or when its call fails, there is no summary
and the history is what the template trimming gives (older tool results as
their one-line summaries, dropped turns gone).

The call goes through a router, so it is rate limited, counted against the
spend caps, and recorded in ``llm_calls`` under the small model's name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from assistant.prompts import render_prompt
from assistant.providers.base import ChatSettings, Message, Model, StreamText
from assistant.providers.usage import CallContext
from assistant.store import Database, StoredMessage, thread_metadata, update_thread_metadata

log = logging.getLogger(__name__)

METADATA_KEY = "history_summary"
"""Key of the stored summary in the thread's metadata: ``{"through": message id, "text": ...}``."""

SmallModelFor = Callable[[str], tuple[Model, str] | None]
"""``thread_id -> (router, small model name)``, or ``None`` when no small model serves it."""


class HistorySummariser:
    """Summarises dropped turns with the small model; ``None`` means "use the template trimming".

    Args:
        small_model_for: The router and model for a conversation's summaries.
        db: Where the summary of each conversation is kept (thread metadata).
        max_tokens: Output limit of a summary; the agent reserves this much of the budget.
        timeout_s: Longest wait for one summary.
        max_chars: Longest transcript sent to the small model (the newest part is kept).
    """

    def __init__(
        self,
        small_model_for: SmallModelFor,
        db: Database,
        *,
        max_tokens: int = 400,
        timeout_s: float = 30.0,
        max_chars: int = 24_000,
    ) -> None:
        self._small_model_for = small_model_for
        self._db = db
        self.max_tokens = max_tokens
        self._timeout_s = timeout_s
        self._max_chars = max_chars

    def is_available(self, thread_id: str) -> bool:
        """Whether a small model would summarise this conversation's dropped turns."""
        return self._small_model_for(thread_id) is not None

    async def summarise(
        self, thread_id: str, turn_id: str, dropped: Sequence[StoredMessage]
    ) -> str | None:
        """A summary of ``dropped`` (oldest first), or ``None`` when none can be had."""
        target = self._small_model_for(thread_id)
        if target is None or not dropped:
            return None
        through = dropped[-1].id
        stored = await asyncio.to_thread(thread_metadata, self._db, thread_id)
        cached = stored.get(METADATA_KEY)
        previous = ""
        if isinstance(cached, dict) and isinstance(cached.get("text"), str):
            if cached.get("through") == through:
                return cached["text"]
            if isinstance(cached.get("through"), int) and cached["through"] < through:
                previous = cached["text"]
                dropped = [m for m in dropped if m.id > cached["through"]]
        router, model = target
        try:
            text = await asyncio.wait_for(
                self._ask(router, model, thread_id, turn_id, previous, dropped), self._timeout_s
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure means the template trimming, never a failed turn
            log.warning(
                "history_summary_failed thread=%s model=%s error=%s",
                thread_id,
                model,
                type(exc).__name__,
            )
            return None
        if not text:
            return None
        text = text[: self.max_tokens * 4]
        await asyncio.to_thread(
            update_thread_metadata,
            self._db,
            thread_id,
            {METADATA_KEY: {"through": through, "text": text}},
        )
        log.info("history_summarised thread=%s through=%d model=%s", thread_id, through, model)
        return text

    async def _ask(
        self,
        router: Model,
        model: str,
        thread_id: str,
        turn_id: str,
        previous: str,
        dropped: Sequence[StoredMessage],
    ) -> str:
        transcript = _transcript(dropped)[-self._max_chars :]
        if previous:
            transcript = f"Summary so far:\n{previous}\n\nLater turns:\n{transcript}"
        messages = [
            Message("system", render_prompt("summarise_history", max_words=self.max_tokens // 2)),
            Message("user", transcript),
        ]
        settings = ChatSettings(model=model, temperature=0.0, max_tokens=self.max_tokens)
        parts: list[str] = []
        context = CallContext(thread_id, turn_id)
        async for delta in router.stream(messages, (), settings, context=context):
            if isinstance(delta, StreamText):
                parts.append(delta.text)
        return "".join(parts).strip()


def _transcript(messages: Sequence[StoredMessage]) -> str:
    lines = []
    for message in messages:
        if message.role == "tool":
            lines.append(f"[tool {message.name}] {message.summary or message.content[:600]}")
        elif message.role == "assistant" and message.tool_calls:
            called = ", ".join(f"{c['name']}({c['arguments'][:200]})" for c in message.tool_calls)
            lines.append(f"assistant: {message.content} [called {called}]".replace(":  [", ": ["))
        else:
            lines.append(f"{message.role}: {message.content}")
    return "\n".join(lines)
