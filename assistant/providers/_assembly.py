"""Helpers the provider adapters share: assembling tool calls and estimating usage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.errors import ProviderStreamError
from assistant.providers.base import FinishReason, Message, StreamUsage, ToolCall, ToolSpec
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


CUT_CALL = "a tool call was cut off at the output token limit"


def settle_calls(
    provider: str, model: str, partials: Sequence[PartialCall], reason: FinishReason
) -> tuple[list[ToolCall], FinishReason, str]:
    """The complete calls, the reason the reply ended, and a detail for an unusual end.

    A call whose arguments are not a JSON object makes the whole reply a
    ``malformed_call`` (or ``length`` when the output limit cut it): none of
    its calls are returned, so half a batch of tools never runs.
    """
    calls: list[ToolCall] = []
    problems: list[str] = []
    for partial in partials:
        try:
            calls.append(finish_call(provider, model, partial))
        except ProviderStreamError as exc:
            problems.append(exc.detail)
    if problems:
        if reason == "length":
            return [], "length", CUT_CALL
        return [], "malformed_call", "; ".join(problems)
    if calls:
        return calls, "tool_calls", ""
    return [], reason, ""


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


_CONTEXT_PHRASES = (
    "context_length_exceeded",  # OpenAI's error code
    "maximum context length",  # OpenAI, vLLM
    "context window",
    "prompt is too long",  # Anthropic
    "exceeds the maximum number of tokens",  # Gemini
    "exceed context window",  # llama.cpp
    "exceeds the available context size",  # llama.cpp server
    "too many tokens",
)


ANSWER_TOOL = "answer"
"""Name of the tool that carries a schema-constrained answer where there is no JSON mode."""


def is_strict_schema(schema: object) -> bool:
    """Whether OpenAI's strict mode can take ``schema``: every object closed, every property
    required (strict mode rejects anything else)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            if schema.get("additionalProperties") is not False:
                return False
            if set(schema.get("required", ())) != set(properties):
                return False
        return all(is_strict_schema(v) for v in schema.values())
    if isinstance(schema, list):
        return all(is_strict_schema(v) for v in schema)
    return True


def refuses_temperature(message: str) -> bool:
    """Whether a 400's message says the model takes no ``temperature`` but its default
    (reasoning models such as gpt-6-luna, on Chat Completions and the Responses API)."""
    text = message.lower()
    refuses = ("unsupported", "not support", "only the default")
    return "temperature" in text and any(p in text for p in refuses)


def says_context_exceeded(detail: str) -> bool:
    """Whether an HTTP 400's message says the prompt is longer than the model's context."""
    text = detail.lower()
    return any(phrase in text for phrase in _CONTEXT_PHRASES)


def error_message(body: object, *, fallback: str) -> str:
    """The human message inside a provider's error body (``{"error": {"message": ...}}``)."""
    for _ in range(2):
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return body["message"]
        body = body.get("error") if isinstance(body, dict) else None
    return fallback
