"""Every provider's finish reasons mapped into one set, and the per-model output limits.

Each provider module reads its wire's reason (OpenAI ``finish_reason``,
Anthropic ``stop_reason``, Gemini ``finishReason`` / ``promptFeedback``) and
looks it up here, so what a reply *means* is decided in one place and the
agent loop acts on :data:`~assistant.providers.base.FinishReason` only.
Unknown reasons map to ``error`` rather than ``stop``: a reply that ended for
a reason nobody planned for is not silently treated as complete.
"""

from __future__ import annotations

from assistant.providers.base import FinishReason

OPENAI: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "blocked",
}
"""Chat Completions ``finish_reason`` (OpenAI and compatible servers)."""

ANTHROPIC: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "refusal",
    "model_context_window_exceeded": "context_exceeded",
}
"""Messages API ``stop_reason``."""

GEMINI: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "blocked",
    "RECITATION": "blocked",
    "LANGUAGE": "blocked",
    "BLOCKLIST": "blocked",
    "PROHIBITED_CONTENT": "blocked",
    "SPII": "blocked",
    "IMAGE_SAFETY": "blocked",
    "IMAGE_PROHIBITED_CONTENT": "blocked",
    "IMAGE_RECITATION": "blocked",
    "MODEL_ARMOR": "blocked",
    "MALFORMED_FUNCTION_CALL": "malformed_call",
    "UNEXPECTED_TOOL_CALL": "malformed_call",
    "TOO_MANY_TOOL_CALLS": "malformed_call",
    "MISSING_THOUGHT_SIGNATURE": "malformed_call",
    "MALFORMED_RESPONSE": "error",
    "OTHER": "error",
}
"""``Candidate.finishReason`` of the Gemini API."""


def map_reason(table: dict[str, FinishReason], wire: str | None) -> FinishReason:
    """The reason ``wire`` stands for in ``table``: ``stop`` when absent, ``error`` when unknown."""
    if not wire:
        return "stop"
    return table.get(wire, "error")


_OUTPUT_LIMITS: tuple[tuple[str, int], ...] = (
    # Reasoning models (and Claude 5 and Gemini 3, which think by default) spend output
    # tokens on thinking before the visible answer.
    ("gpt-6", 16_384),
    ("gpt-5", 16_384),
    ("o1", 16_384),
    ("o3", 16_384),
    ("o4", 16_384),
    ("gpt-4.1", 8_192),
    ("gpt-4o", 4_096),
    ("claude-haiku-5", 16_384),
    ("claude-sonnet-5", 16_384),
    ("claude-opus-5", 16_384),
    ("claude", 8_192),
    ("gemini-3", 16_384),
    ("gemini", 8_192),
)
_DEFAULT_OUTPUT_LIMIT = 4_096
"""Local and unknown models: enough for a tool call with code or a long answer."""


def default_max_output_tokens(model: str) -> int:
    """The output token limit used for ``model`` when ``MLCHAT_MAX_OUTPUT_TOKENS`` is not set."""
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, limit in _OUTPUT_LIMITS:
        if name.startswith(prefix):
            return limit
    return _DEFAULT_OUTPUT_LIMIT
