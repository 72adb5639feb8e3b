"""OpenAI chat completions (and OpenAI-compatible servers) behind the provider interface.

Uses the official ``openai.AsyncOpenAI`` with ``max_retries=0``: retries belong
to the router (see ``retry.py``). ``base_url`` points it at any compatible
server (Ollama, vLLM, llama.cpp, LM Studio). Those servers differ from OpenAI in
ways this adapter tolerates:

- usage sent only in the last chunk, or never: then it is counted with
  ``tokens.py`` and flagged ``is_estimate=True``;
- tool-call fragments without ``index`` (a fragment with a new ``id`` starts a
  new call, one without continues the last), whole arguments in one chunk, and
  ``finish_reason: "stop"`` on a turn that has tool calls (reported as
  ``tool_calls``);
- ``stream_options`` rejected with HTTP 400: the request is sent once more
  without it and this provider stops asking. Likewise OpenAI's reasoning
  models refuse any ``temperature`` but the default: the request is re-sent
  without it and that model is not sent one again. These are the only re-sends
  made here, and neither repeats a request the server would refuse again;
- models without tool support (Ollama answers 400 "does not support tools"):
  :class:`ProviderUnsupported`, so the router falls back to another provider.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import openai

from assistant.providers import stops
from assistant.providers._adapter import (
    StainlessAdapter,
    closing_deltas,
    reported_usage,
)
from assistant.providers._assembly import (
    ANSWER_TOOL,
    PartialCall,
    estimated_usage,
    is_strict_schema,
    refuses_temperature,
)
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    StreamText,
    StreamUsage,
    ToolCall,
    ToolSpec,
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class OpenAIFamily(StainlessAdapter):
    """Base of the adapters over the ``openai`` SDK: its client, and the options a model refused.

    Args:
        api_key: The key.
        base_url: A server's URL ending in ``/v1``; ``None`` for OpenAI's.
        name: Provider name used in errors, usage rows and cache keys.
        timeout_s: Longest wait for the response to start or for the next chunk or event.
        connect_timeout_s: Longest wait to connect.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            openai,
            openai.AsyncOpenAI,
            default_endpoint="https://api.openai.com/v1",
            api_key=api_key,
            base_url=base_url,
            name=name,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )
        self._fixed_temperature_models: set[str] = set()
        """Models that refused ``temperature`` (reasoning models accept only the default)."""

    async def _create_resending(
        self,
        model: str,
        create: Callable[[], Awaitable[_T]],
        rejected_option: Callable[[str], str | None],
    ) -> _T:
        """``create()``, sent once more after a 400 whose option ``rejected_option`` stops sending.

        ``rejected_option`` gets the error's message and names the option it
        dropped, or ``None`` to let the error stand.
        """
        with self._errors(model, started=False):
            try:
                return await create()
            except openai.BadRequestError as exc:
                rejected = rejected_option(str(exc.message))
                if rejected is None:
                    raise
                log.info(
                    "option_rejected provider=%s model=%s option=%s", self.name, model, rejected
                )
                return await create()

    def _rejected_temperature(self, model: str, message: str) -> str | None:
        """Stop sending ``temperature`` to a model that refused it (400); ``None`` if it did not."""
        if not refuses_temperature(message) or model in self._fixed_temperature_models:
            return None
        self._fixed_temperature_models.add(model)
        return "temperature"


class OpenAIProvider(OpenAIFamily):
    """Chat completions over the ``openai`` SDK.

    Args:
        api_key: The key (local servers accept any non-empty string).
        base_url: An OpenAI-compatible server's URL ending in ``/v1``; ``None`` for OpenAI.
        name: Provider name used in errors, usage rows and cache keys.
        timeout_s: Longest wait for the response to start or for the next chunk.
        connect_timeout_s: Longest wait to connect.
        include_usage: Ask for usage in the last chunk (``stream_options``).
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        include_usage: bool = True,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            name=name,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )
        self._is_official = base_url is None
        self._include_usage = include_usage

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
    ) -> AsyncIterator[Delta]:
        """Stream one chat completion as deltas (see :class:`~assistant.providers.base.Provider`)."""
        model = settings.model
        response = await self._create_resending(
            model,
            lambda: self._client.chat.completions.create(
                **self._request(messages, tools, settings)
            ),
            lambda message: self._rejected_option(model, message),
        )
        calls: dict[int, PartialCall] = {}
        text_parts: list[str] = []
        usage: StreamUsage | None = None
        finish: str | None = None
        refused = False
        try:
            with self._errors(model, started=True):
                async for chunk in response:
                    if chunk.usage is not None:
                        usage = reported_usage(
                            chunk.usage.prompt_tokens,
                            chunk.usage.completion_tokens,
                            getattr(chunk.usage, "prompt_tokens_details", None),
                        )
                    for choice in chunk.choices or ():
                        delta = choice.delta
                        if delta is not None and delta.content:
                            text_parts.append(delta.content)
                            yield StreamText(delta.content)
                        refusal = getattr(delta, "refusal", None) if delta is not None else None
                        if refusal:
                            refused = True
                            text_parts.append(refusal)
                            yield StreamText(refusal)
                        if delta is not None:
                            for fragment in delta.tool_calls or ():
                                _add_fragment(calls, fragment)
                        if choice.finish_reason:
                            finish = choice.finish_reason
        finally:
            await response.close()
        wire_reason = "refusal" if refused else stops.map_reason(stops.OPENAI, finish)
        for closing in closing_deltas(
            self.name,
            model,
            [calls[key] for key in sorted(calls)],
            wire_reason,
            usage=lambda finished: (
                usage
                or estimated_usage(
                    messages, tools, model=model, output_text="".join(text_parts), calls=finished
                )
            ),
            wire_detail=finish,
        ):
            yield closing

    def _request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ChatSettings
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": settings.model,
            "messages": [_message_to_wire(m) for m in messages],
            "stream": True,
        }
        if settings.model not in self._fixed_temperature_models:
            request["temperature"] = settings.temperature
        # OpenAI's newer models refuse max_tokens; compatible servers mostly know only max_tokens.
        request["max_completion_tokens" if self._is_official else "max_tokens"] = (
            settings.output_limit
        )
        if tools:
            request["tools"] = [_tool_to_wire(t) for t in tools]
            if settings.tool_choice:
                request["tool_choice"] = {
                    "type": "function",
                    "function": {"name": settings.tool_choice},
                }
        if settings.response_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": ANSWER_TOOL,
                    "schema": settings.response_schema,
                    "strict": is_strict_schema(settings.response_schema),
                },
            }
        if self._include_usage:
            request["stream_options"] = {"include_usage": True}
        return request

    def _rejected_option(self, model: str, message: str) -> str | None:
        """Stop sending an option the server refused (400) and name it; ``None`` if none applies."""
        text = message.lower()
        if self._include_usage and "stream_options" in text:
            self._include_usage = False
            return "stream_options"
        return self._rejected_temperature(model, text)


def _add_fragment(calls: dict[int, PartialCall], fragment: Any) -> None:
    """Merge one streamed tool-call fragment; tolerate a missing ``index``."""
    index = getattr(fragment, "index", None)
    fragment_id = getattr(fragment, "id", None)
    if index is None:
        last = max(calls) if calls else None
        is_new = last is None or (fragment_id is not None and fragment_id != calls[last].id)
        index = (last + 1 if last is not None else 0) if is_new else last
    partial = calls.setdefault(index, PartialCall())
    if fragment_id:
        partial.id = fragment_id
    function = getattr(fragment, "function", None)
    if function is not None:
        if getattr(function, "name", None):
            partial.name = function.name
        if getattr(function, "arguments", None):
            partial.argument_parts.append(function.arguments)


def _message_to_wire(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [_call_to_wire(c) for c in message.tool_calls]
    return wire


def _call_to_wire(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _tool_to_wire(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
