"""The model each conversation talks to: one router per provider and model chosen.

:class:`ThreadModels` stands where the agent expects its model. For every
request it looks up the conversation's :class:`~assistant.thread_settings.ThreadChoice`
(by the call context's thread id) and passes the request to the router built
for that provider and model, wrapped in the spend cap's offline fallback.
Routers are built on first use and kept; the one for the process defaults is
built at start, and its notices (e.g. "running offline") are the ones shown.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from assistant.providers.base import ChatSettings, Delta, Message, Provider, ToolSpec
from assistant.providers.registry import RouterNotice, build_router
from assistant.providers.retry import RetryPolicy
from assistant.providers.router import Router
from assistant.providers.spend_gate import OfflineAtCap
from assistant.providers.usage import CallContext
from assistant.settings import ProviderName, Settings
from assistant.spend import SpendGuard
from assistant.store import Database
from assistant.thread_settings import ThreadChoice

log = logging.getLogger(__name__)

ChoiceOf = Callable[[str | None], ThreadChoice]
"""``thread_id -> choice`` (``None`` for calls outside a conversation: the defaults)."""


class ThreadModels:
    """Routes each request to the router of the conversation's chosen provider and model.

    Args:
        settings: Keys, base URLs, fallbacks and the default provider and model.
        db: Where routers record usage and cache answers.
        offline: The offline assistant (a provider) for offline routes and the spend cap.
        guard: Rate limits and spend caps, shared by every router.
        choice_of: The conversation's current choice (see :data:`ChoiceOf`).
    """

    name = "router"

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database,
        offline: Provider,
        guard: SpendGuard,
        choice_of: ChoiceOf,
    ) -> None:
        self.settings = settings
        self._db = db
        self._offline = offline
        self._guard = guard
        self._choice_of = choice_of
        setup = build_router(settings, db=db, offline=offline, limiter=guard)
        self.default_provider: ProviderName = setup.router.primary.provider.name  # type: ignore[assignment]
        self.default_model = setup.router.primary.model
        self.notices: tuple[RouterNotice, ...] = setup.notices
        self._routers: dict[tuple[str, str], Router] = {
            (self.default_provider, self.default_model): setup.router
        }
        self._streams: dict[tuple[str, str], OfflineAtCap] = {}
        self._small: Router | None = None

    def router_for(self, provider: ProviderName, model: str) -> Router:
        """The router whose first route is ``provider`` with ``model`` (built on first use)."""
        key = (provider, model)
        router = self._routers.get(key)
        if router is None:
            chosen = self.settings.with_changes(provider=provider, model=model)
            setup = build_router(chosen, db=self._db, offline=self._offline, limiter=self._guard)
            router = setup.router
            log.info("thread_router_built provider=%s model=%s", provider, model)
            self._routers[key] = router
        return router

    def stream_for(self, provider: ProviderName, model: str) -> OfflineAtCap:
        """The router for ``provider`` and ``model`` behind the spend cap's offline fallback."""
        key = (provider, model)
        stream = self._streams.get(key)
        if stream is None:
            stream = OfflineAtCap(
                self.router_for(provider, model), offline=self._offline, guard=self._guard
            )
            self._streams[key] = stream
        return stream

    def small_model_for(self, thread_id: str) -> tuple[Router, str] | None:
        """The router and model for cheap work in ``thread_id`` (history summaries).

        ``MLCHAT_SMALL_MODEL`` names a model of the configured provider, so it
        serves conversations on that provider only; ``None`` otherwise, or when
        it is not set. The router has no fallbacks and no retries: a failed
        summary costs one request and the template trimming is used instead.
        """
        small = self.settings.small_model
        if not small or self.default_provider == "offline":
            return None
        if self._choice_of(thread_id).provider != self.default_provider:
            return None
        if self._small is None:
            chosen = self.settings.with_changes(provider=self.default_provider, fallbacks=())
            setup = build_router(
                chosen,
                db=self._db,
                offline=self._offline,
                tier="small",
                retry=RetryPolicy(max_attempts=1),
                limiter=self._guard,
            )
            self._small = setup.router
        return self._small, small

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
        *,
        context: CallContext | None = None,
    ) -> AsyncIterator[Delta]:
        """Stream the answer of the conversation's chosen provider and model."""
        choice = self._choice_of(context.thread_id if context is not None else None)
        target = self.stream_for(choice.provider, choice.model)
        chosen = dataclasses.replace(settings, model=choice.model)
        async for delta in target.stream(messages, tools, chosen, context=context):
            yield delta

    async def aclose(self) -> None:
        """Close every router's HTTP connections (at shutdown)."""
        for router in (*self._routers.values(), *([self._small] if self._small else [])):
            await router.aclose()
