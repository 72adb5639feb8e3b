"""The one interface every LLM provider implements, and the values that cross it.

A provider takes the conversation as :class:`Message` values, the tools as
:class:`ToolSpec` values and a :class:`ChatSettings`, and yields a stream of
``Stream*`` deltas. Wire formats (OpenAI ``tool_calls``, Anthropic
``tool_use``, Gemini ``functionCall``) are translated inside each provider
module and never leave it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from assistant.providers.usage import CallContext

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal[
    "stop",
    "tool_calls",
    "length",
    "refusal",
    "blocked",
    "malformed_call",
    "context_exceeded",
    "error",
]
"""Why a reply ended, the one set every provider's finish reasons map into (``stops.py``):

- ``stop``: a complete answer; ``tool_calls``: the model called tools;
- ``length``: the output token limit cut the reply (a cut tool call is dropped);
- ``refusal``: the model declined (its text, if any, was streamed);
- ``blocked``: the provider's filter stopped the prompt or the answer;
- ``malformed_call``: the model produced a tool call that cannot be used;
- ``context_exceeded``: the prompt does not fit the model's context window;
- ``error``: the provider ended the reply for another reason.
"""


OFFLINE_MODEL = "rules"
"""The model name the offline assistant (``assistant/offline``) answers under."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for: ``arguments`` is the raw JSON text it produced."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of the conversation in provider-neutral form.

    ``role="assistant"`` may carry ``tool_calls``; ``role="tool"`` carries the
    result of one call in ``content`` with ``tool_call_id`` and ``name`` set.
    ``provider_state`` holds opaque data a provider needs echoed back verbatim
    (Gemini thought signatures, Anthropic thinking blocks); others ignore it.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    provider_state: dict[str, Any] = field(default_factory=dict, compare=False)
    is_error: bool = False
    """``role="tool"``: the result reports a failure (flagged on the wire where the API can)."""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: ``parameters`` is a JSON schema of an object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """Per-request settings.

    ``max_tokens`` is the output token limit; ``None`` means the model's
    default from :func:`assistant.providers.stops.default_max_output_tokens`.
    """

    model: str
    temperature: float = 0.0
    max_tokens: int | None = None
    tool_choice: str | None = None
    """The name of a tool the model must call (forced tool use); ``None`` lets it choose."""
    response_schema: dict[str, Any] | None = None
    """A JSON schema the answer's text must match, in each API's native mode (OpenAI
    ``json_schema``, Gemini ``responseJsonSchema``; Anthropic: one forced tool whose
    arguments are streamed back as the text). ``None``: free text."""

    @property
    def output_limit(self) -> int:
        """The output token limit to send: the setting, else the model's default."""
        if self.max_tokens is not None:
            return self.max_tokens
        from assistant.providers.stops import default_max_output_tokens

        return default_max_output_tokens(self.model)


@dataclass(frozen=True, slots=True)
class StreamText:
    """A piece of the assistant's text, in order."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class StreamToolCall:
    """A complete tool call, assembled from however many fragments the wire sent."""

    call: ToolCall
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class StreamUsage:
    """Token counts for the request; ``is_estimate`` when counted by us, not the provider."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    """Part of ``input_tokens`` read from the provider's prompt cache."""
    is_estimate: bool = False
    kind: Literal["usage"] = "usage"
    cache_write_tokens: int = 0
    """Part of ``input_tokens`` written to the prompt cache (Anthropic bills these apart)."""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The stream finished; always the last delta.

    ``provider_state`` is opaque data to store on the assistant :class:`Message`
    built from this answer and send back verbatim (Gemini thought signatures).
    ``detail`` says more about an unusual end: the provider's own reason
    (``"MALFORMED_FUNCTION_CALL"``), what was cut, why it was blocked.
    """

    reason: FinishReason
    kind: Literal["end"] = "end"
    provider_state: dict[str, Any] = field(default_factory=dict, compare=False)
    detail: str = ""


Delta: TypeAlias = StreamText | StreamToolCall | StreamUsage | StreamEnd


@runtime_checkable
class Provider(Protocol):
    """An LLM behind one async streaming method."""

    name: str

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
    ) -> AsyncIterator[Delta]:
        """Stream the model's answer to ``messages`` as deltas ending with :class:`StreamEnd`.

        Raises a :class:`~assistant.errors.ProviderError` subclass on failure.
        """
        ...


class Model(Protocol):
    """What the agent loop talks to: a provider-like ``stream`` that also takes a call context.

    The router implements it, and so does each wrapper around it in this
    package (the per-conversation choice in ``thread_models.py``, the spend
    cap's offline fallback in ``spend_gate.py``); the context tags usage rows with the
    conversation and turn and can ask for a fresh (uncached) answer.
    """

    name: str

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
        *,
        context: CallContext | None = None,
    ) -> AsyncIterator[Delta]:
        """Stream the answer (see :class:`Provider`)."""
        ...
