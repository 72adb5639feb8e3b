"""Helpers the provider adapters share: assembling tool calls and estimating usage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.errors import ProviderStreamError
from assistant.providers.base import Message, StreamUsage, ToolCall, ToolSpec
from assistant.providers.tokens import count_prompt_tokens, count_text_tokens


@dataclass(slots=True)
class PartialCall:
    """A tool call being assembled from streamed fragments."""

    id: str = ""
    name: str = ""
    argument_parts: list[str] = field(default_factory=list)


def synthetic_call_id() -> str:
    """An id for a call the provider sent without one."""
    return f"call_{uuid.uuid4().hex[:16]}"


def finish_call(provider: str, model: str, partial: PartialCall) -> ToolCall:
    """The complete call; raises :class:`ProviderStreamError` unless arguments are a JSON object."""
    arguments = "".join(partial.argument_parts).strip() or "{}"
    if not partial.name:
        raise ProviderStreamError(provider, model, "a tool call arrived without a tool name")
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ProviderStreamError(
            provider, model, f"the arguments of tool call {partial.name!r} are not a JSON object"
        )
    return ToolCall(partial.id or synthetic_call_id(), partial.name, arguments)


def estimated_usage(
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    model: str,
    output_text: str,
    calls: Sequence[ToolCall],
) -> StreamUsage:
    """Usage counted by us (``is_estimate=True``) for servers that report none."""
    output = count_text_tokens(output_text, model=model) + sum(
        count_text_tokens(c.name + c.arguments, model=model) for c in calls
    )
    return StreamUsage(count_prompt_tokens(messages, tools, model=model), output, is_estimate=True)


def error_message(body: object, *, fallback: str) -> str:
    """The human message inside a provider's error body (``{"error": {"message": ...}}``)."""
    for _ in range(2):
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return body["message"]
        body = body.get("error") if isinstance(body, dict) else None
    return fallback
