"""Fake LLM servers speaking the real wire protocols over loopback HTTP.

One :class:`FakeLLMServer` per protocol — ``"openai"`` (chat completions SSE),
``"anthropic"`` (messages SSE) and ``"gemini"`` (``streamGenerateContent?alt=sse``)
— runs an aiohttp server on ``127.0.0.1`` (random port) in its own thread, so
the real SDKs (and a Chainlit server in another process) can talk to it. It
records every request and answers each with the next scripted item:

- :class:`Turn`: an answer (text, tool calls, usage), optionally split into
  many chunks, cut off or stalled after some events, or in the shapes of
  OpenAI-compatible servers (no ``index``, ``finish_reason: "stop"``, no usage);
- :class:`HttpError`: an error status with the provider's error body and
  optional ``Retry-After`` / ``retry-after-ms`` headers;
- :class:`Stall`: accept the request and never answer (until the server stops).

Script whole conversations with the helpers :func:`text`, :func:`tool_call`
and :func:`error`::

    with FakeLLMServer("openai") as fake:
        fake.reply(tool_call("profile_table", {"dataset_id": "d1"}), text("5 columns."))
        provider = OpenAIProvider(api_key="sk-test", base_url=fake.url)
        ...
        assert fake.requests[1].body["messages"][-1]["role"] == "tool"

When the script runs out the server answers HTTP 500 with "no scripted reply",
so a test that sends more requests than it expected fails loudly (set
``server.default`` to answer every unscripted request alike, as benchmarks do).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.prompt_cache import PromptCache

Protocol = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class FakeCall:
    """A tool call the fake model makes. A ``str`` ``arguments`` is sent as is (even if not JSON)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Turn:
    """One scripted answer.

    Args:
        text: The assistant's text.
        tool_calls: Calls, in order (several make parallel calls).
        usage: ``(input_tokens, output_tokens)`` to report; ``None`` reports none.
        cached_tokens: Part of the input reported as read from the provider's cache.
        text_chunks: Split the text into this many deltas.
        args_chunks: Split each call's arguments into this many fragments; ``0`` sends
            the whole arguments in the call's first fragment (OpenAI-compatible servers).
        cut_after_events: Drop the connection after this many SSE events.
        stall_after_events: Stop sending (keeping the connection open) after this many events.
        omit_tool_index: OpenAI: leave ``index`` out of tool-call fragments.
        finish_reason: Override the wire's finish reason: OpenAI ``finish_reason`` (e.g.
            ``"stop"`` with tool calls), Anthropic ``stop_reason``, Gemini ``finishReason``.
        refusal: OpenAI: stream this as ``refusal`` deltas (after any text).
        block_reason: Gemini: answer only ``promptFeedback.blockReason`` with no candidates.
        cache_write_tokens: Anthropic: part of the input reported as written to the cache.
        thought_signature: Gemini: attach this (base64) signature to the first part.
            Anthropic: send a signed thinking block (text ``"Let me think."``) first.
        model: The model name reported back; defaults to the one requested.
    """

    text: str = ""
    tool_calls: tuple[FakeCall, ...] = ()
    usage: tuple[int, int] | None = (12, 7)
    cached_tokens: int = 0
    text_chunks: int = 1
    args_chunks: int = 1
    cut_after_events: int | None = None
    stall_after_events: int | None = None
    omit_tool_index: bool = False
    finish_reason: str | None = None
    refusal: str | None = None
    block_reason: str | None = None
    cache_write_tokens: int = 0
    thought_signature: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class HttpError:
    """An error response in the protocol's error shape."""

    status: int
    message: str = "scripted error"
    retry_after: str | None = None
    retry_after_ms: str | None = None
    retry_delay: str | None = None
    """Gemini: a ``google.rpc.RetryInfo`` detail with this ``retryDelay`` (e.g. ``"12s"``)."""


@dataclass(frozen=True)
class Stall:
    """Accept the request and send nothing until the server stops."""


Reply = Turn | HttpError | Stall


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def text(content: str, **options: Any) -> Turn:
    """A plain text answer (options as in :class:`Turn`)."""
    return Turn(text=content, **options)


def tool_call(name: str, arguments: dict[str, Any] | str, **options: Any) -> Turn:
    """An answer that is one tool call (options as in :class:`Turn`)."""
    call_id = options.pop("call_id", None)
    return Turn(tool_calls=(FakeCall(name, arguments, call_id),), **options)


def error(status: int, message: str = "scripted error", **options: Any) -> HttpError:
    """An HTTP error answer (``retry_after=...`` / ``retry_after_ms=...`` as header values)."""
    return HttpError(status, message, **options)


class FakeLLMServer:
    """A scripted LLM server for one wire protocol, on loopback in a background thread.

    Args:
        protocol: ``"openai"``, ``"anthropic"`` or ``"gemini"``.
    """

    def __init__(self, protocol: Protocol, *, prompt_cache: bool = False) -> None:
        self.protocol = protocol
        self.prompt_cache = PromptCache(protocol) if prompt_cache else None
        """When set, usage is computed from the request and reports this cache's reads and
        writes the way the provider does (``prompt_cache.py``), instead of the scripted usage."""
        self.requests: list[RecordedRequest] = []
        self.default: Reply | None = None
        """Answer for requests when the script is empty (``None``: HTTP 500 "no scripted reply")."""
        self.models: list[str] = ["fake-model"]
        """What ``GET .../models`` lists, in the protocol's shape (answered without the script)."""
        self._script: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> FakeLLMServer:
        """Start serving; returns self once the port is bound."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake LLM server did not start")
        return self

    def stop(self) -> None:
        """Release stalled requests, stop the server and join its thread."""
        loop = self._loop
        if loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        future.result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the SDK (``.../v1`` for OpenAI, the root for the others)."""
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.protocol == "openai" else root

    # -- script ----------------------------------------------------------------------
    def reply(self, *replies: Reply) -> None:
        """Queue replies; each request takes the next one."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget the recorded requests and the remaining script."""
        with self._lock:
            self._script.clear()
            self.requests.clear()

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._script)

    # -- server ----------------------------------------------------------------------
    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def setup() -> None:
            self._release = asyncio.Event()
            app = web.Application(client_max_size=64 * 1024**2)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None and server.sockets
            self.port = server.sockets[0].getsockname()[1]

        loop.run_until_complete(setup())
        ready.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        if self._release is not None:
            self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        recorded = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        if request.method == "GET" and request.path.endswith("/models"):
            with self._lock:
                self.requests.append(recorded)
            return web.json_response(self._models_page())
        with self._lock:
            self.requests.append(recorded)
            fallback = self.default or HttpError(500, "no scripted reply")
            item = self._script.popleft() if self._script else fallback
        match item:
            case Stall():
                assert self._release is not None
                await self._release.wait()
                return web.Response(status=503)
            case HttpError():
                return self._error_response(item)
            case Turn():
                return await self._stream(request, recorded, item)
        raise AssertionError(item)

    def _models_page(self) -> dict[str, Any]:
        """``GET .../models`` in the protocol's shape, listing :attr:`models`."""
        if self.protocol == "openai":
            listed = [
                {"id": m, "object": "model", "created": 0, "owned_by": "me"} for m in self.models
            ]
            return {"object": "list", "data": listed}
        if self.protocol == "anthropic":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.models
            ]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            return {"data": data, "has_more": False, "first_id": first, "last_id": last}
        return {
            "models": [
                {"name": f"models/{m}", "supportedActions": ["generateContent", "countTokens"]}
                for m in self.models
            ]
        }

    def _error_response(self, item: HttpError) -> web.Response:
        headers = {}
        if item.retry_after is not None:
            headers["retry-after"] = item.retry_after
        if item.retry_after_ms is not None:
            headers["retry-after-ms"] = item.retry_after_ms
        if self.protocol == "openai":
            payload: dict[str, Any] = {
                "error": {"message": item.message, "type": "error", "code": str(item.status)}
            }
        elif self.protocol == "anthropic":
            kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}
            payload = {
                "type": "error",
                "error": {"type": kind.get(item.status, "api_error"), "message": item.message},
            }
        else:
            status = {401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
            payload = {
                "error": {
                    "code": item.status,
                    "message": item.message,
                    "status": status.get(item.status, "UNKNOWN"),
                }
            }
            if item.retry_delay is not None:
                payload["error"]["details"] = [
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": item.retry_delay,
                    }
                ]
        return web.json_response(payload, status=item.status, headers=headers)

    async def _stream(
        self, request: web.Request, recorded: RecordedRequest, turn: Turn
    ) -> web.StreamResponse:
        encode = {
            "openai": _openai_events,
            "anthropic": _anthropic_events,
            "gemini": _gemini_events,
        }
        if self.prompt_cache is not None and isinstance(recorded.body, dict):
            cached = self.prompt_cache.usage(recorded.body)
            turn = dataclasses.replace(
                turn,
                usage=(cached.input_tokens, 20),
                cached_tokens=cached.read_tokens,
                cache_write_tokens=cached.write_tokens,
            )
        encoder = encode[self.protocol]
        if self.protocol == "openai" and recorded.path.endswith("/responses"):
            encoder = _responses_events  # the same fake serves OpenAI's Responses API
        events = encoder(turn, recorded)
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for number, event in enumerate(events):
            if turn.cut_after_events is not None and number >= turn.cut_after_events:
                assert request.transport is not None
                request.transport.abort()  # no terminating chunk: the client sees a broken body
                return response
            if turn.stall_after_events is not None and number >= turn.stall_after_events:
                assert self._release is not None
                await self._release.wait()
                return response
            await response.write(event)
        await response.write_eof()
        return response


# -- wire encoders ----------------------------------------------------------------------


def _split(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` nearly equal parts (fewer if it is shorter)."""
    if pieces <= 1 or len(text) <= 1:
        return [text] if text else []
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _arguments_text(call: FakeCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def _openai_events(turn: Turn, request: RecordedRequest) -> list[bytes]:
    body = request.body or {}
    model = turn.model or body.get("model", "fake")

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        payload = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": choices,
            **extra,
        }
        return _sse(payload)

    def delta(content: dict[str, Any], finish: str | None = None) -> bytes:
        return chunk([{"index": 0, "delta": content, "finish_reason": finish}])

    events = [delta({"role": "assistant", "content": ""})]
    events += [delta({"content": piece}) for piece in _split(turn.text, turn.text_chunks)]
    if turn.refusal:
        events += [delta({"refusal": piece}) for piece in _split(turn.refusal, 2)]
    for index, call in enumerate(turn.tool_calls):
        arguments = _arguments_text(call)
        first: dict[str, Any] = {
            "index": index,
            "id": call.id or f"call_{index}",
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": arguments if turn.args_chunks == 0 else "",
            },
        }
        fragments = [first]
        if turn.args_chunks:
            fragments += [
                {"index": index, "function": {"arguments": piece}}
                for piece in _split(arguments, turn.args_chunks)
            ]
        for fragment in fragments:
            if turn.omit_tool_index:
                fragment.pop("index")
            events.append(delta({"tool_calls": [fragment]}))
    finish = turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")
    events.append(delta({}, finish))
    wants_usage = (body.get("stream_options") or {}).get("include_usage")
    if turn.usage is not None and wants_usage:
        prompt, completion = turn.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": turn.cached_tokens},
        }
        events.append(chunk([], usage=usage))
    events.append(_sse("[DONE]"))
    return events


def _responses_events(turn: Turn, request: RecordedRequest) -> list[bytes]:
    """OpenAI's Responses API stream: reasoning (``thought_signature`` as its encrypted
    content), text, refusal and function-call items, then ``response.completed`` (or
    ``response.incomplete`` when ``finish_reason`` is ``max_output_tokens`` or
    ``content_filter``)."""
    body = request.body or {}
    model = turn.model or body.get("model", "fake")
    number = 0

    def event(kind: str, **payload: Any) -> bytes:
        nonlocal number
        number += 1
        return _sse({"type": kind, "sequence_number": number, **payload}, kind)

    def response(status: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": "resp_fake",
            "object": "response",
            "created_at": 0,
            "model": model,
            "status": status,
            "output": [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            **extra,
        }

    events = [event("response.created", response=response("in_progress"))]
    index = 0
    if turn.thought_signature:
        reasoning = {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [],
            "encrypted_content": turn.thought_signature,
        }
        events.append(event("response.output_item.done", output_index=index, item=reasoning))
        index += 1
    if turn.text or turn.refusal:
        kind = "response.refusal.delta" if turn.refusal else "response.output_text.delta"
        for piece in _split(turn.refusal or turn.text, turn.text_chunks):
            events.append(
                event(kind, item_id="msg_1", output_index=index, content_index=0, delta=piece)
            )
        index += 1
    for offset, call in enumerate(turn.tool_calls):
        arguments = _arguments_text(call)
        item = {
            "type": "function_call",
            "id": f"fc_{offset}",
            "call_id": call.id or f"call_{offset}",
            "name": call.name,
            "arguments": "",
            "status": "in_progress",
        }
        events.append(event("response.output_item.added", output_index=index, item=item))
        for piece in _split(arguments, max(turn.args_chunks, 1)):
            events.append(
                event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece,
                )
            )
        done = {**item, "arguments": arguments, "status": "completed"}
        events.append(event("response.output_item.done", output_index=index, item=done))
        index += 1
    usage = None
    if turn.usage is not None:
        prompt, completion = turn.usage
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": turn.cached_tokens},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }
    if turn.finish_reason in ("max_output_tokens", "content_filter"):
        final = response(
            "incomplete", usage=usage, incomplete_details={"reason": turn.finish_reason}
        )
        events.append(event("response.incomplete", response=final))
    else:
        events.append(event("response.completed", response=response("completed", usage=usage)))
    return events


def _anthropic_events(turn: Turn, request: RecordedRequest) -> list[bytes]:
    body = request.body or {}
    model = turn.model or body.get("model", "fake")
    prompt, completion = turn.usage or (0, 0)
    events = [
        _sse(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": prompt - turn.cached_tokens - turn.cache_write_tokens,
                        "cache_read_input_tokens": turn.cached_tokens,
                        "cache_creation_input_tokens": turn.cache_write_tokens,
                        "output_tokens": 1,
                    },
                },
            },
            "message_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    index = 0
    if turn.thought_signature:
        events += [
            _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
                "content_block_start",
            ),
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "Let me think."},
                },
                "content_block_delta",
            ),
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "signature_delta", "signature": turn.thought_signature},
                },
                "content_block_delta",
            ),
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        ]
        index = 1
    if turn.text:
        events.append(
            _sse(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
        )
        for piece in _split(turn.text, turn.text_chunks):
            events.append(
                _sse(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                    "content_block_delta",
                )
            )
        events.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1
    for offset, call in enumerate(turn.tool_calls):
        block_index = index + offset
        events.append(
            _sse(
                {
                    "type": "content_block_start",
                    "index": block_index,
                    "content_block": {
                        "type": "tool_use",
                        "id": call.id or f"toolu_{offset}",
                        "name": call.name,
                        "input": {},
                    },
                },
                "content_block_start",
            )
        )
        for piece in _split(_arguments_text(call), max(turn.args_chunks, 1)):
            events.append(
                _sse(
                    {
                        "type": "content_block_delta",
                        "index": block_index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                    "content_block_delta",
                )
            )
        events.append(
            _sse({"type": "content_block_stop", "index": block_index}, "content_block_stop")
        )
    stop_reason = turn.finish_reason or ("tool_use" if turn.tool_calls else "end_turn")
    message_delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": completion},
    }
    events.append(_sse(message_delta, "message_delta"))
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events


def _gemini_events(turn: Turn, request: RecordedRequest) -> list[bytes]:
    model = turn.model or "fake"
    if turn.block_reason:
        feedback: dict[str, Any] = {"promptFeedback": {"blockReason": turn.block_reason}}
        if turn.usage is not None:
            feedback["usageMetadata"] = {"promptTokenCount": turn.usage[0], "totalTokenCount": 0}
        return [_sse(feedback)]
    parts: list[list[dict[str, Any]]] = [
        [{"text": piece}] for piece in _split(turn.text, turn.text_chunks)
    ]
    if turn.tool_calls:
        calls = []
        for call in turn.tool_calls:
            function_call: dict[str, Any] = {"name": call.name, "args": call.arguments}
            if call.id:
                function_call["id"] = call.id
            calls.append({"functionCall": function_call})
        parts.append(calls)
    if not parts:
        parts = [[{"text": ""}]]
    if turn.thought_signature:
        parts[0][0]["thoughtSignature"] = turn.thought_signature
    events = []
    for number, chunk_parts in enumerate(parts):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": chunk_parts}, "index": 0}
        payload: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
        if number == len(parts) - 1:
            candidate["finishReason"] = turn.finish_reason or "STOP"
            if turn.usage is not None:
                prompt, completion = turn.usage
                payload["usageMetadata"] = {
                    "promptTokenCount": prompt,
                    "candidatesTokenCount": completion,
                    "cachedContentTokenCount": turn.cached_tokens,
                    "totalTokenCount": prompt + completion,
                }
        events.append(_sse(payload))
    return events
