"""A local OpenAI-compatible server (llama.cpp, Ollama, vLLM, LM Studio) as a provider of its own.

It speaks Chat Completions through :class:`~assistant.providers.openai.OpenAIProvider`
(with every tolerance for compatible servers listed there) but is configured
apart from OpenAI (``MLCHAT_LOCAL_BASE_URL``, ``MLCHAT_LOCAL_MODEL``), so both
can be used side by side or one as the other's fallback. It is named
``local`` in usage rows and cache keys, costs nothing unless a price is set
(``MLCHAT_LOCAL_PRICE_*``) and has no rate limits unless some are set.

The model ``"auto"`` (the default when ``MLCHAT_LOCAL_MODEL`` is not set) is
the first model the server lists at ``GET /v1/models``; llama.cpp serves one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from assistant.errors import ProviderUnsupported
from assistant.providers.base import ChatSettings, Delta, Message, ToolSpec
from assistant.providers.openai import OpenAIProvider

AUTO_MODEL = "auto"
_NO_KEY = "not-needed"
"""Compatible servers mostly ignore the key, but the SDK requires one."""


class LocalProvider(OpenAIProvider):
    """A server on your machine or network that speaks OpenAI's Chat Completions.

    Args:
        base_url: The server's URL ending in ``/v1``.
        api_key: A key if the server wants one.
        name: Provider name used in errors, usage rows and cache keys.
        timeout_s: Longest wait for the response to start or for the next chunk.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        name: str = "local",
        timeout_s: float = 120.0,
    ) -> None:
        super().__init__(
            api_key=api_key or _NO_KEY, base_url=base_url, name=name, timeout_s=timeout_s
        )
        self._listed: list[str] | None = None

    async def models(self) -> list[str]:
        """The model ids the server offers (``GET /v1/models``), in its order."""
        if self._listed is None:
            self._listed = await super().models()
        return list(self._listed)

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
    ) -> AsyncIterator[Delta]:
        """Stream one answer; ``"auto"`` is resolved to the server's first model."""
        if settings.model in ("", AUTO_MODEL):
            listed = await self.models()
            if not listed:
                raise ProviderUnsupported(self.name, AUTO_MODEL, "the server lists no models")
            settings = replace(settings, model=listed[0])
        async for delta in super().stream(messages, tools, settings):
            yield delta
