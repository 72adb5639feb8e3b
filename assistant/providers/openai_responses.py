"""OpenAI through the Responses API, which OpenAI recommends for tool loops with reasoning models.

``client.responses.create(stream=True, store=False)`` with
``include=["reasoning.encrypted_content"]``: nothing is kept on OpenAI's side,
and the reasoning items a reasoning model produces come back encrypted, are
kept in ``StreamEnd.provider_state["openai_reasoning"]`` (with the ``model``)
and replayed before that turn's calls on the next request to the same model,
as OpenAI's conversation-state guide asks for stateless use. Translation:

- system messages become ``instructions``; user and assistant text become
  messages; tool calls become ``function_call`` items and tool results
  ``function_call_output`` items (no error flag exists: the text says it);
- streamed events: ``response.output_text.delta`` and ``response.refusal.delta``
  are text; a ``function_call`` item is complete at ``response.output_item.done``;
  ``response.completed`` / ``response.incomplete`` carry usage and the reason
  (``max_output_tokens`` is ``length``, ``content_filter`` is ``blocked``).

Chat Completions (``openai.py``) stays for OpenAI-compatible servers. Errors go
through the shared SDK map; a model that refuses ``temperature`` is sent the
request again without it, once, and not sent one again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from assistant.errors import ProviderStreamError
from assistant.providers._adapter import (
    closing_deltas,
    reported_usage,
)
from assistant.providers._assembly import (
    ANSWER_TOOL,
    PartialCall,
    is_strict_schema,
)
from assistant.providers.base import (
    ChatSettings,
    Delta,
    FinishReason,
    Message,
    StreamText,
    StreamUsage,
    ToolSpec,
)
from assistant.providers.openai import OpenAIFamily

_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "blocked",
}


class OpenAIResponsesProvider(OpenAIFamily):
    """OpenAI's Responses API over the ``openai`` SDK.

    Args:
        api_key: The OpenAI key.
        base_url: Another endpoint ending in ``/v1``; ``None`` for OpenAI's.
        name: Provider name used in errors, usage rows and cache keys.
        timeout_s: Longest wait for the response to start or for the next event.
        connect_timeout_s: Longest wait to connect.
    """

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
    ) -> AsyncIterator[Delta]:
        """Stream one response as deltas (see :class:`~assistant.providers.base.Provider`)."""
        model = settings.model
        response = await self._create_resending(
            model,
            lambda: self._client.responses.create(**self._request(messages, tools, settings)),
            lambda message: self._rejected_temperature(model, message),
        )
        calls: list[PartialCall] = []
        reasoning: list[dict[str, Any]] = []
        usage: StreamUsage | None = None
        status: str | None = None
        incomplete: str | None = None
        refused = False
        try:
            with self._errors(model, started=True):
                async for event in response:
                    match event.type:
                        case "response.output_text.delta":
                            yield StreamText(event.delta)
                        case "response.refusal.delta":
                            refused = True
                            yield StreamText(event.delta)
                        case "response.output_item.done":
                            item = event.item
                            if item.type == "function_call":
                                calls.append(
                                    PartialCall(item.call_id, item.name, [item.arguments or ""])
                                )
                            elif item.type == "reasoning":
                                reasoning.append(item.model_dump(mode="json", exclude_none=True))
                        case "response.completed" | "response.incomplete":
                            status = event.response.status
                            details = event.response.incomplete_details
                            incomplete = details.reason if details is not None else None
                            usage = _usage_from_wire(event.response.usage)
                        case "response.failed":
                            error = event.response.error
                            detail = error.message if error is not None else "the response failed"
                            raise ProviderStreamError(self.name, model, detail, retryable=True)
        finally:
            await response.close()
        if status is None:
            raise ProviderStreamError(
                self.name, model, "the stream ended before the response completed", retryable=True
            )
        wire: FinishReason = (
            "refusal"
            if refused
            else _INCOMPLETE.get(incomplete or "", "error")
            if incomplete
            else "stop"
        )
        state = {"model": model, "openai_reasoning": reasoning} if reasoning else {}
        for closing in closing_deltas(
            self.name,
            model,
            calls,
            wire,
            usage=lambda _: usage or StreamUsage(0, 0, is_estimate=True),
            wire_detail=incomplete,
            provider_state=state,
        ):
            yield closing

    def _request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ChatSettings
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": settings.model,
            "input": _input_items(messages, settings.model),
            "stream": True,
            "store": False,
            "include": ["reasoning.encrypted_content"],
            "max_output_tokens": settings.output_limit,
        }
        instructions = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        if instructions:
            request["instructions"] = instructions
        if settings.model not in self._fixed_temperature_models:
            request["temperature"] = settings.temperature
        if settings.response_schema is not None:
            request["text"] = {
                "format": {
                    "type": "json_schema",
                    "name": ANSWER_TOOL,
                    "schema": settings.response_schema,
                    "strict": is_strict_schema(settings.response_schema),
                }
            }
        if tools:
            request["tools"] = [
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                    "strict": False,
                }
                for t in tools
            ]
            if settings.tool_choice:
                request["tool_choice"] = {"type": "function", "name": settings.tool_choice}
        return request


def _usage_from_wire(usage: Any) -> StreamUsage | None:
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    return reported_usage(usage.input_tokens, usage.output_tokens, details)


def _input_items(messages: Sequence[Message], model: str) -> list[dict[str, Any]]:
    """The conversation as Responses input items (system messages go to ``instructions``)."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": message.content,
                }
            )
            continue
        if message.role == "assistant":
            state = message.provider_state
            if state.get("model") == model:  # reasoning belongs to the model that wrote it
                items.extend(state.get("openai_reasoning", ()))
            if message.content:
                items.append({"role": "assistant", "content": message.content})
            items.extend(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                }
                for call in message.tool_calls
            )
            continue
        items.append({"role": "user", "content": message.content})
    return items
