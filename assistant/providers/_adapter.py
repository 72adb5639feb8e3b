"""What the SDK adapters share: identity, client lifetime, the model list and the error map."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

from assistant.providers._assembly import PartialCall, settle_calls
from assistant.providers.base import (
    Delta,
    FinishReason,
    StreamEnd,
    StreamToolCall,
    StreamUsage,
    ToolCall,
)
from assistant.providers.sdk_errors import SdkFamily, sdk_errors


class SdkAdapter:
    """Base of the adapters over an official SDK.

    Subclasses set ``_client`` (an SDK client with ``close()`` and
    ``models.list()``, as the Stainless-generated ``openai`` and ``anthropic``
    SDKs have) or override :meth:`aclose` and :meth:`models`.

    Args:
        sdk: Where the SDK reports failures.
        name: Provider name used in errors, usage rows and cache keys.
        endpoint: The server this provider talks to (part of the response cache key).
        api_key: The key, kept out of every error message.
    """

    _client: Any

    def __init__(self, *, sdk: SdkFamily, name: str, endpoint: str, api_key: str) -> None:
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        """The server this provider talks to (part of the response cache key)."""
        self._api_key = api_key
        self._sdk = sdk

    def _errors(self, model: str, *, started: bool) -> AbstractContextManager[None]:
        """:func:`~assistant.providers.sdk_errors.sdk_errors` for this provider and ``model``."""
        return sdk_errors(self._sdk, self.name, model, started=started, secrets=[self._api_key])

    async def aclose(self) -> None:
        """Close the SDK's HTTP connections (at shutdown)."""
        await self._client.close()

    async def models(self) -> list[str]:
        """The model ids the server offers (``GET /v1/models``), in its order."""
        with self._errors("models", started=False):
            page = await self._client.models.list()
            return [model.id async for model in page]


def stainless_client(
    sdk: ModuleType,
    client_class: Callable[..., Any],
    *,
    api_key: str,
    base_url: str | None,
    timeout_s: float,
    connect_timeout_s: float,
) -> Any:
    """A client of the Stainless ``sdk`` that never retries on its own (the router retries)."""
    return client_class(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=sdk.Timeout(timeout_s, connect=connect_timeout_s),
    )


def reported_usage(
    input_tokens: int | None, output_tokens: int | None, details: Any
) -> StreamUsage:
    """Usage as an OpenAI API reports it; ``details`` may carry ``cached_tokens``."""
    cached = getattr(details, "cached_tokens", None) or 0
    return StreamUsage(input_tokens or 0, output_tokens or 0, cached)


def closing_deltas(
    provider: str,
    model: str,
    partials: Sequence[PartialCall],
    wire_reason: FinishReason,
    *,
    usage: Callable[[list[ToolCall]], StreamUsage],
    wire_detail: str | None,
    provider_state: dict[str, Any] | None = None,
) -> Iterator[Delta]:
    """The deltas that end a stream whose tool calls arrived in fragments.

    The settled calls, the usage (``usage`` gets the calls, to estimate what
    the server did not report) and the end; ``wire_detail`` is the server's
    own reason, given when the end is an ``error``.
    """
    finished, reason, detail = settle_calls(provider, model, partials, wire_reason)
    for call in finished:
        yield StreamToolCall(call)
    yield usage(finished)
    yield StreamEnd(
        reason,
        provider_state=provider_state or {},
        detail=detail or (wire_detail if reason == "error" else "") or "",
    )
