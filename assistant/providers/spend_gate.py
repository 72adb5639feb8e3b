"""The offline assistant takes over a conversation whose spend cap is reached.

:class:`OfflineAtCap` stands where the agent expects its model: it passes
every request to the router, unless a spend cap of the conversation (or of
the day) is used up. Then no request is sent; the offline assistant answers
instead, so the core requests (train, predict, explain...) keep working, and
the cap message (which names the setting that raises it) is queued once per
turn for :meth:`~assistant.spend.guard.SpendGuard.finish_turn`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

from assistant.events import Notice
from assistant.providers.base import ChatSettings, Delta, Message, Model, Provider, ToolSpec
from assistant.providers.usage import CallContext
from assistant.spend.caps import SpendCapReached
from assistant.spend.guard import FREE_PROVIDERS, SpendGuard

log = logging.getLogger(__name__)


class OfflineAtCap:
    """The router until a spend cap is reached, then the offline assistant.

    Args:
        router: The :class:`~assistant.providers.router.Router` (with ``guard`` as its limiter).
        offline: The offline provider that answers at the cap.
        guard: The spend guard that knows the caps.
    """

    def __init__(self, router: Model, *, offline: Provider, guard: SpendGuard) -> None:
        self.router = router
        self.offline = offline
        self.guard = guard
        self.name = router.name
        self._announced: dict[str | None, str | None] = {}

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
        *,
        context: CallContext | None = None,
    ) -> AsyncIterator[Delta]:
        """Stream the router's answer, or the offline assistant's when a cap is reached."""
        context = context or CallContext()
        capped: SpendCapReached | None = None
        if not self._is_free():
            try:
                self.guard.check_caps(context.thread_id)
            except SpendCapReached as exc:
                capped = exc
        if capped is None:
            try:
                async for delta in self.router.stream(messages, tools, settings, context=context):
                    yield delta
                return
            except SpendCapReached as exc:  # raised by the limiter, before any output
                capped = exc
        self._announce(context, capped)
        async for delta in self.offline.stream(messages, tools, settings):
            yield delta

    def _is_free(self) -> bool:
        primary = getattr(self.router, "primary", None)
        return primary is not None and primary.provider.name in FREE_PROVIDERS

    def _announce(self, context: CallContext, capped: SpendCapReached) -> None:
        is_same_turn = context.turn_id is not None and (
            self._announced.get(context.thread_id) == context.turn_id
        )
        if is_same_turn:
            return
        self._announced[context.thread_id] = context.turn_id
        log.info("spend_cap_offline scope=%s thread=%s", capped.scope, context.thread_id)
        self.guard.queue_notice(context.thread_id, Notice(str(capped), level="warning"))
