"""Build providers and the router from :class:`~assistant.settings.Settings`.

Which provider answers:

1. ``MLCHAT_PROVIDER`` when set (and usable: it has a key, or for ``openai``
   an ``OPENAI_BASE_URL`` to a local server, which needs no key; ``local``
   needs ``MLCHAT_LOCAL_BASE_URL``);
2. else the first usable of openai, anthropic, gemini, local;
3. else the offline provider, with a :class:`RouterNotice` for the UI to show
   once ("running offline").

``MLCHAT_FALLBACKS`` lists providers tried next, in order; unusable ones are
skipped with a notice. ``offline`` may be listed there to have the rules answer
when every LLM fails; it is not added on its own.

The primary route uses ``MLCHAT_MODEL`` (or, for ``tier="small"``,
``MLCHAT_SMALL_MODEL`` falling back to ``MLCHAT_MODEL``); fallbacks use their
provider's default model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from assistant.providers.base import OFFLINE_MODEL, Provider
from assistant.providers.retry import RetryPolicy
from assistant.providers.router import Limiter, Route, Router
from assistant.settings import ProviderName, Settings
from assistant.store import Database

log = logging.getLogger(__name__)

_AUTO_ORDER: tuple[ProviderName, ...] = ("openai", "anthropic", "gemini", "local")
_LOCAL_SERVER_KEY = "not-needed"
"""OpenAI-compatible local servers ignore the key, but the SDK requires one."""


@dataclass(frozen=True, slots=True)
class RouterNotice:
    """Something the person should be told once about the LLM setup."""

    kind: Literal["offline", "provider_skipped"]
    message: str


@dataclass(frozen=True, slots=True)
class RouterSetup:
    """The router and the notices to show about how it was built."""

    router: Router
    notices: tuple[RouterNotice, ...]

    @property
    def is_offline(self) -> bool:
        """True when no LLM is configured and the offline provider answers."""
        return self.router.primary.provider.name == "offline"


def is_usable(settings: Settings, provider: ProviderName) -> bool:
    """Whether ``provider`` can be called with these settings."""
    if provider == "offline":
        return True
    if provider == "openai" and settings.openai_base_url:
        return True
    if provider == "local":
        return bool(settings.local_base_url)
    return bool(settings.key_for(provider))


def build_provider(
    settings: Settings,
    provider: ProviderName,
    *,
    offline: Provider | None = None,
    timeout_s: float = 120.0,
) -> Provider:
    """The provider ``provider`` configured from ``settings`` (keys and base URLs).

    Each SDK is imported only when its provider is built: importing them all cost
    seconds in every process, offline ones included.

    ``offline`` is the offline provider to use; without it, a new
    :class:`~assistant.offline.OfflineAssistant` (the built-in rules).
    """
    match provider:
        case "openai" if settings.openai_api == "responses":
            from assistant.providers.openai_responses import OpenAIResponsesProvider

            return OpenAIResponsesProvider(
                api_key=settings.openai_api_key or _LOCAL_SERVER_KEY,
                base_url=settings.openai_base_url,
                timeout_s=timeout_s,
            )
        case "openai":
            from assistant.providers.openai import OpenAIProvider

            return OpenAIProvider(
                api_key=settings.openai_api_key or _LOCAL_SERVER_KEY,
                base_url=settings.openai_base_url,
                timeout_s=timeout_s,
            )
        case "anthropic":
            from assistant.providers.anthropic import AnthropicProvider

            return AnthropicProvider(
                api_key=settings.anthropic_api_key or "",
                base_url=settings.anthropic_base_url,
                timeout_s=timeout_s,
            )
        case "gemini":
            from assistant.providers.gemini import GeminiProvider

            return GeminiProvider(
                api_key=settings.gemini_api_key or "",
                base_url=settings.gemini_base_url,
                timeout_s=max(timeout_s, settings.turn_deadline_s),  # a total, not per read
            )
        case "local":
            from assistant.providers.local import LocalProvider

            return LocalProvider(
                base_url=settings.local_base_url or "",
                api_key=settings.local_api_key,
                timeout_s=timeout_s,
            )
        case "offline":
            return offline or _offline_assistant()
    raise ValueError(f"Unknown provider {provider!r}")


def build_router(
    settings: Settings,
    *,
    db: Database | None = None,
    offline: Provider | None = None,
    tier: Literal["main", "small"] = "main",
    retry: RetryPolicy | None = None,
    limiter: Limiter | None = None,
    timeout_s: float = 120.0,
    stall_timeout_s: float | None = 120.0,
) -> RouterSetup:
    """The router for ``settings``, with the notices to show once (see the module docstring)."""
    notices: list[RouterNotice] = []
    primary: ProviderName | None = None
    if settings.provider is not None:
        if is_usable(settings, settings.provider):
            primary = settings.provider
        else:
            notices.append(
                RouterNotice(
                    "provider_skipped",
                    f"MLCHAT_PROVIDER is {settings.provider} but {_key_name(settings.provider)} "
                    "is not set, so it cannot be used.",
                )
            )
    if primary is None and settings.provider is None:
        primary = next((p for p in _AUTO_ORDER if is_usable(settings, p)), None)
    names: list[ProviderName] = [primary] if primary is not None else []
    for name in settings.fallbacks:
        if name in names:
            continue
        if is_usable(settings, name):
            names.append(name)
        else:
            notices.append(
                RouterNotice(
                    "provider_skipped",
                    f"The fallback {name} is skipped: {_key_name(name)} is not set.",
                )
            )
    if not names:
        names.append("offline")
    if names[0] == "offline":
        notices.append(
            RouterNotice(
                "offline",
                "No language model is configured, so I'm running offline: I understand the core "
                "requests (train, set the target, pick a metric, tune, explain, predict, download). "
                "Set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY (or OPENAI_BASE_URL for a "
                "local server) to chat freely.",
            )
        )
    routes = []
    for name in names:
        model = _model_for(settings, name, tier=tier, is_primary=name == primary)
        provider = build_provider(settings, name, offline=offline, timeout_s=timeout_s)
        price = settings.local_price_per_mtok if name == "local" else None
        routes.append(Route(provider, model, price_per_mtok=price))
    log.info(
        "router_built routes=%s notices=%d",
        ",".join(f"{r.provider.name}/{r.model}" for r in routes),
        len(notices),
    )
    router = Router(
        routes,
        db=db,
        retry=retry,
        limiter=limiter,
        stall_timeout_s=stall_timeout_s,
        cache_rows=settings.response_cache_rows,
        cache_age_s=settings.response_cache_age_s,
    )
    return RouterSetup(router, tuple(notices))


def _offline_assistant() -> Provider:
    """The built-in offline assistant (its rules live in ``assistant/offline``)."""
    from assistant.offline import OfflineAssistant  # the rules import the provider types

    return OfflineAssistant()


def _model_for(
    settings: Settings, provider: ProviderName, *, tier: Literal["main", "small"], is_primary: bool
) -> str:
    if provider == "offline":
        return OFFLINE_MODEL
    if is_primary:
        chosen = (settings.small_model if tier == "small" else None) or settings.model
        if chosen:
            return chosen
    return settings.default_model(provider)


def _key_name(provider: ProviderName) -> str:
    if provider == "local":
        return "MLCHAT_LOCAL_BASE_URL"
    return f"{provider.upper()}_API_KEY"
