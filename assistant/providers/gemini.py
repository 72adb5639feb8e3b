"""Google Gemini (``google-genai``) streaming behind the provider interface.

``genai.Client(...).aio.models.generate_content_stream`` with:

- ``HttpOptions(base_url=GEMINI_BASE_URL, timeout=ms)`` and
  ``retry_options=HttpRetryOptions(attempts=1)``: one attempt only. Setting
  retry options explicitly matters: without them google-genai's aiohttp path
  silently re-sends a request after a connection error, after sleeping 1-10 s.
- tools as ``types.Tool(function_declarations=[...])`` with the JSON schema in
  ``parameters_json_schema`` and automatic function calling disabled (our loop
  runs the tools);
- function calls arrive whole; a call without an ``id`` gets one made up here
  (prefixed ``gcall_``), which is not sent back to the API;
- the model's turn is echoed back verbatim when it carried thought signatures:
  it is kept in ``StreamEnd.provider_state["gemini_content"]`` with the
  ``model`` that wrote it, and replayed to that model only. A turn written by
  another model (or another provider) is rebuilt from its text and calls, and
  its first function call carries the dummy signature the thought-signatures
  guide documents for calls Gemini did not make (Gemini 3 rejects unsigned ones).

``timeout_s`` bounds the whole request here (aiohttp's total timeout); the
router's stall timeout bounds the wait for each chunk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from google import genai
from google.genai import types

from assistant.errors import ProviderStreamError
from assistant.providers import stops
from assistant.providers._adapter import SdkAdapter
from assistant.providers._assembly import (
    PartialCall,
    estimated_usage,
    finish_call,
)
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
    ToolSpec,
)
from assistant.providers.sdk_errors import google_genai

log = logging.getLogger(__name__)

_SDK = google_genai()

_SYNTHETIC_ID_PREFIX = "gcall_"


class GeminiProvider(SdkAdapter):
    """Gemini over the ``google-genai`` SDK (Gemini Developer API).

    Args:
        api_key: The Gemini API key.
        base_url: Another endpoint (``GEMINI_BASE_URL``); ``None`` for Google's.
        name: Provider name used in errors, usage rows and cache keys.
        timeout_s: Longest time for a whole request.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "gemini",
        timeout_s: float = 120.0,
    ) -> None:
        super().__init__(
            sdk=_SDK,
            name=name,
            endpoint=base_url or "https://generativelanguage.googleapis.com",
            api_key=api_key,
        )
        options = types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout_s * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def aclose(self) -> None:
        """Close the SDK's HTTP connections (at shutdown)."""
        await self._client.aio.aclose()

    async def models(self) -> list[str]:
        """The models that can generate content (``GET /v1beta/models``), without ``models/``."""
        with self._errors("models", started=False):
            pager = await self._client.aio.models.list()
            return [
                (model.name or "").removeprefix("models/")
                async for model in pager
                if "generateContent" in (model.supported_actions or ["generateContent"])
            ]

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
    ) -> AsyncIterator[Delta]:
        """Stream one answer as deltas (see :class:`~assistant.providers.base.Provider`)."""
        model = settings.model
        config = types.GenerateContentConfig(
            temperature=settings.temperature,
            max_output_tokens=settings.output_limit,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        if system:
            config.system_instruction = system
        if settings.response_schema is not None:
            config.response_mime_type = "application/json"
            config.response_json_schema = settings.response_schema
        if tools:
            config.tools = [
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name=t.name,
                            description=t.description,
                            parameters_json_schema=t.parameters,
                        )
                        for t in tools
                    ]
                )
            ]
            if settings.tool_choice:
                config.tool_config = types.ToolConfig(
                    function_calling_config=types.FunctionCallingConfig(
                        mode=types.FunctionCallingConfigMode.ANY,
                        allowed_function_names=[settings.tool_choice],
                    )
                )
        with self._errors(model, started=False):
            response = await self._client.aio.models.generate_content_stream(
                model=model, contents=_contents_to_wire(messages, model), config=config
            )
        parts: list[types.Part] = []
        calls: list[ToolCall] = []
        text_parts: list[str] = []
        usage: StreamUsage | None = None
        finish: str | None = None
        blocked: str | None = None
        try:
            with self._errors(model, started=True):
                async for chunk in response:
                    if chunk.usage_metadata is not None and chunk.usage_metadata.prompt_token_count:
                        usage = _usage_from_wire(chunk.usage_metadata)
                    feedback = chunk.prompt_feedback
                    if feedback is not None and feedback.block_reason is not None:
                        blocked = str(feedback.block_reason.value)
                    for candidate in (chunk.candidates or ())[:1]:
                        if candidate.finish_reason is not None:
                            finish = str(candidate.finish_reason.value)
                        for part in (candidate.content.parts if candidate.content else None) or ():
                            parts.append(part)
                            if part.function_call is not None:
                                call = _call_from_wire(self.name, model, part.function_call)
                                calls.append(call)
                                yield StreamToolCall(call)
                            elif part.text and not part.thought:
                                text_parts.append(part.text)
                                yield StreamText(part.text)
        finally:
            aclose = getattr(response, "aclose", None)
            if aclose is not None:
                await aclose()
        if blocked is not None and not calls and not text_parts:
            # The prompt itself was refused: no candidates, and asking again gets the same answer.
            if usage is None:
                usage = estimated_usage(messages, tools, model=model, output_text="", calls=[])
            yield usage
            yield StreamEnd("blocked", detail=f"the prompt was blocked ({blocked})")
            return
        if finish is None:  # Gemini always ends with a finishReason; without one the stream was cut
            raise ProviderStreamError(
                self.name, model, "the stream ended before its finishReason", retryable=True
            )
        if usage is None:
            usage = estimated_usage(
                messages, tools, model=model, output_text="".join(text_parts), calls=calls
            )
        yield usage
        state: dict[str, Any] = {}
        if any(p.thought_signature for p in parts):
            content = types.Content(role="model", parts=parts)
            state["gemini_content"] = content.model_dump(mode="json", exclude_none=True)
            state["model"] = model
        reason = stops.map_reason(stops.GEMINI, finish)
        if calls and reason in ("stop", "length"):
            reason = "tool_calls"
        if reason in ("malformed_call", "blocked", "error"):
            calls_note = f" after {len(calls)} tool call(s)" if calls else ""
            yield StreamEnd(reason, detail=f"{finish}{calls_note}")
            return
        yield StreamEnd(reason, provider_state=state)


def _call_from_wire(provider: str, model: str, function_call: types.FunctionCall) -> ToolCall:
    args = function_call.args if function_call.args is not None else {}
    partial = PartialCall(
        id=function_call.id or f"{_SYNTHETIC_ID_PREFIX}{_short_uuid()}",
        name=function_call.name or "",
        argument_parts=[json.dumps(args) if isinstance(args, dict) else str(args)],
    )
    return finish_call(provider, model, partial)


def _short_uuid() -> str:
    import uuid

    return uuid.uuid4().hex[:16]


def _usage_from_wire(metadata: types.GenerateContentResponseUsageMetadata) -> StreamUsage:
    output = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return StreamUsage(
        metadata.prompt_token_count or 0, output, metadata.cached_content_token_count or 0
    )


def _contents_to_wire(messages: Sequence[Message], model: str = "") -> list[types.Content]:
    """User/model turns; consecutive tool results are grouped into one user turn."""
    contents: list[types.Content] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "assistant":
            content = _model_turn(message, model)
        elif message.role == "tool":
            call_id = message.tool_call_id or ""
            response = types.FunctionResponse(
                id=None if call_id.startswith(_SYNTHETIC_ID_PREFIX) or not call_id else call_id,
                name=message.name or "",
                # The API reads an "error" key as a failed call (its docs: "output" or "error").
                response={"error" if message.is_error else "result": message.content},
            )
            content = types.Content(role="user", parts=[types.Part(function_response=response)])
        else:
            content = types.Content(role="user", parts=[types.Part(text=message.content)])
        if contents and contents[-1].role == content.role:
            contents[-1].parts = [*(contents[-1].parts or ()), *(content.parts or ())]
        else:
            contents.append(content)
    return contents


OTHER_MODEL_SIGNATURE = b"skip_thought_signature_validator"
"""The signature Gemini's thought-signatures guide gives for function calls it did not make."""


def _model_turn(message: Message, model: str = "") -> types.Content:
    state = message.provider_state
    if "gemini_content" in state and state.get("model", model) == model:
        return types.Content.model_validate(state["gemini_content"])
    parts: list[types.Part] = []
    if message.content:
        parts.append(types.Part(text=message.content))
    for number, call in enumerate(message.tool_calls):
        call_id = None if call.id.startswith(_SYNTHETIC_ID_PREFIX) else call.id
        parts.append(
            types.Part(
                function_call=types.FunctionCall(
                    id=call_id, name=call.name, args=json.loads(call.arguments or "{}")
                ),
                # Only the first call of a step carries a signature, as Gemini's own do.
                thought_signature=OTHER_MODEL_SIGNATURE if number == 0 else None,
            )
        )
    return types.Content(role="model", parts=parts)
