"""Anthropic messages streaming behind the provider interface.

Uses the official ``anthropic.AsyncAnthropic`` with ``max_retries=0`` (the
router retries) and the raw event stream (``messages.create(stream=True)``),
so malformed tool arguments surface as our error rather than inside the SDK's
accumulator. Translation rules:

- system messages are joined into ``system=``;
- an assistant turn's tool calls become ``tool_use`` blocks, and tool results
  become ``tool_result`` blocks in the following user turn;
- consecutive turns with the same role are merged (the API requires
  alternation);
- thinking blocks are kept in ``StreamEnd.provider_state["anthropic_content"]``
  (with the ``model`` that wrote them) and sent back verbatim to that model
  only: after the conversation changes model they are left out (their
  signatures belong to the model that thought them) and the turn is rebuilt
  from its text and tool calls;
  and sent back verbatim with that assistant turn.

``temperature`` is not sent: anthropic 2.x dropped it from ``messages.create``
(current Claude models fix their sampling), so ``ChatSettings.temperature``
only decides caching here.

Structured answers (``ChatSettings.response_schema``): Claude 4.5 and later get
``output_config.format`` (JSON outputs) and stream the answer as text; older
models get one forced ``answer`` tool whose arguments are streamed back as the text.

Prompt caching: breakpoints (``cache_control``) on the last tool, the system
prompt and the newest message, so each step of the tool loop reads the
unchanged prefix back from the cache (``_with_breakpoint``).

Usage: Anthropic reports uncached input separately from cache reads and
writes; ``StreamUsage.input_tokens`` is their sum (the whole prompt), as for
the other providers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import anthropic

from assistant.errors import (
    ProviderStreamError,
)
from assistant.providers import stops
from assistant.providers._adapter import SdkAdapter, stainless_client
from assistant.providers._assembly import (
    ANSWER_TOOL,
    CUT_CALL,
    PartialCall,
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
    ToolSpec,
)
from assistant.providers.sdk_errors import stainless

log = logging.getLogger(__name__)

_SDK = stainless(anthropic)


class AnthropicProvider(SdkAdapter):
    """Claude over the ``anthropic`` SDK.

    Args:
        api_key: The Anthropic key.
        base_url: Another endpoint (without ``/v1``); ``None`` for Anthropic's.
        name: Provider name used in errors, usage rows and cache keys.
        timeout_s: Longest wait for the response to start or for the next event.
        connect_timeout_s: Longest wait to connect.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "anthropic",
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            sdk=_SDK,
            name=name,
            endpoint=base_url or "https://api.anthropic.com",
            api_key=api_key,
        )
        self._client = stainless_client(
            anthropic,
            anthropic.AsyncAnthropic,
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        settings: ChatSettings,
    ) -> AsyncIterator[Delta]:
        """Stream one message as deltas (see :class:`~assistant.providers.base.Provider`)."""
        model = settings.model
        json_format = settings.response_schema if has_json_outputs(model) else None
        answering = settings.response_schema is not None and json_format is None
        if answering:  # an older model: the answer is the arguments of one forced tool
            answer = ToolSpec(ANSWER_TOOL, "Give the answer.", settings.response_schema or {})
            tools = [*tools, answer]
            settings = replace(settings, tool_choice=ANSWER_TOOL)
        system, wire_messages = _messages_to_wire(messages, model)
        request: dict[str, Any] = {
            "model": model,
            "messages": _with_breakpoint(wire_messages),
            "max_tokens": settings.output_limit,
            "stream": True,
        }
        if json_format is not None:
            request["output_config"] = {"format": {"type": "json_schema", "schema": json_format}}
        if system:
            request["system"] = [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]
        if tools:
            request["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in tools
            ]
            request["tools"][-1]["cache_control"] = _EPHEMERAL
            if settings.tool_choice:
                request["tool_choice"] = {"type": "tool", "name": settings.tool_choice}
        with self._errors(model, started=False):
            response = await self._client.messages.create(**request)
        blocks: dict[int, dict[str, Any]] = {}
        calls: dict[int, PartialCall] = {}
        input_tokens = cached_tokens = written_tokens = output_tokens = 0
        stop_reason: str | None = None
        has_thinking = False
        finished = 0
        problems: list[str] = []
        try:
            with self._errors(model, started=True):
                async for event in response:
                    match event.type:
                        case "message_start":
                            usage = event.message.usage
                            cached_tokens = usage.cache_read_input_tokens or 0
                            written_tokens = usage.cache_creation_input_tokens or 0
                            input_tokens = (
                                (usage.input_tokens or 0) + cached_tokens + written_tokens
                            )
                            output_tokens = usage.output_tokens or 0
                        case "content_block_start":
                            block = event.content_block
                            blocks[event.index] = block.model_dump(mode="json", exclude_none=True)
                            if block.type == "tool_use":
                                calls[event.index] = PartialCall(id=block.id, name=block.name)
                            elif block.type in ("thinking", "redacted_thinking"):
                                has_thinking = True
                        case "content_block_delta":
                            delta = event.delta
                            if delta.type == "text_delta":
                                blocks[event.index]["text"] = (
                                    blocks[event.index].get("text", "") + delta.text
                                )
                                yield StreamText(delta.text)
                            elif delta.type == "input_json_delta":
                                calls[event.index].argument_parts.append(delta.partial_json)
                            elif delta.type == "thinking_delta":
                                blocks[event.index]["thinking"] = (
                                    blocks[event.index].get("thinking", "") + delta.thinking
                                )
                            elif delta.type == "signature_delta":
                                blocks[event.index]["signature"] = delta.signature
                        case "content_block_stop" if event.index in calls:
                            try:
                                call = finish_call(self.name, model, calls.pop(event.index))
                            except ProviderStreamError as exc:
                                problems.append(exc.detail)
                                continue
                            blocks[event.index]["input"] = json.loads(call.arguments)
                            if answering and call.name == ANSWER_TOOL:
                                yield StreamText(call.arguments)
                                continue
                            finished += 1
                            yield StreamToolCall(call)
                        case "message_delta":
                            stop_reason = event.delta.stop_reason or stop_reason
                            if event.usage is not None and event.usage.output_tokens is not None:
                                output_tokens = event.usage.output_tokens
        finally:
            await response.close()
        if stop_reason is None:
            raise ProviderStreamError(
                self.name, model, "the stream ended before message_stop", retryable=True
            )
        yield StreamUsage(
            input_tokens, output_tokens, cached_tokens, cache_write_tokens=written_tokens
        )
        state = (
            {"model": model, "anthropic_content": [blocks[i] for i in sorted(blocks)]}
            if has_thinking
            else {}
        )
        reason = stops.map_reason(stops.ANTHROPIC, stop_reason)
        detail = stop_reason if reason == "error" else ""
        if calls or problems:  # a tool_use block never closed, or closed with broken JSON
            # Calls already yielded are void: the agent drops them with this reason.
            reason, detail = (
                ("length", CUT_CALL)
                if reason == "length"
                else ("malformed_call", "; ".join(problems) or "a tool call did not finish")
            )
            state = {}
        elif finished:
            reason = "tool_calls"
        elif answering and reason == "tool_calls":
            reason = "stop"  # the answer tool was the answer
        yield StreamEnd(reason, provider_state=state, detail=detail or "")


_CLAUDE_VERSION = re.compile(r"claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?:-|$)")


def has_json_outputs(model: str) -> bool:
    """Whether ``model`` takes ``output_config.format`` (structured outputs: Claude 4.5 and later).

    Later models with adaptive thinking (Claude Haiku 5.5 and up) think by default, and
    thinking is not compatible with forced tool use, so only older models get the answer tool.
    """
    found = _CLAUDE_VERSION.search(model.lower())
    if found is None:
        return False
    return (int(found.group(1)), int(found.group(2) or 0)) >= (4, 5)


_EPHEMERAL = {"type": "ephemeral"}
_CACHEABLE_BLOCKS = frozenset({"text", "tool_use", "tool_result", "image", "document"})


def _with_breakpoint(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``turns`` with a cache breakpoint on the newest message's last block.

    With the breakpoints on the tools and the system prompt, this caches the
    whole conversation so far: the next step of the tool loop reads it back
    at a tenth of the input price. Thinking blocks cannot carry one; they
    are left as they are (copied, never changed in place).
    """
    if not turns:
        return turns
    last = turns[-1]
    blocks = [dict(block) for block in last["content"]]
    for block in reversed(blocks):
        if block.get("type") in _CACHEABLE_BLOCKS:
            block["cache_control"] = _EPHEMERAL
            break
    return [*turns[:-1], {**last, "content": blocks}]


def _messages_to_wire(
    messages: Sequence[Message], model: str = ""
) -> tuple[str, list[dict[str, Any]]]:
    """The ``system`` text and the alternating user/assistant turns."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message, model)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _blocks(message: Message, model: str = "") -> list[dict[str, Any]]:
    if message.role == "tool":
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.content,
        }
        if message.is_error:
            result["is_error"] = True
        return [result]
    state = message.provider_state
    if (
        message.role == "assistant"
        and "anthropic_content" in state
        and state.get("model", model) == model
    ):
        return list(state["anthropic_content"])
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments or "{}"),
            }
        )
    return blocks
