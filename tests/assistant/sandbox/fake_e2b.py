"""A loopback stand-in for E2B: the control API, envd's file API and the code-interpreter server.

The real SDK (``e2b_code_interpreter.AsyncSandbox``) is pointed at it with
``api_url`` / ``sandbox_url`` (one URL serves all three, as ``E2B_SANDBOX_URL``
does). It speaks the wire shapes the SDK parses:

- ``POST /v2/sandboxes`` -> 201 ``{"sandboxID", "envdVersion", ...}``;
  ``DELETE /sandboxes/{id}``; ``POST /sandboxes/{id}/timeout``.
- ``GET /health``; ``POST /files?path=`` (multipart or octet-stream) ->
  ``[{"name", "type", "path"}]``; ``GET /files?path=`` -> the bytes.
- ``POST /contexts`` -> ``{"id", "language", "cwd"}``;
  ``POST /contexts/{id}/restart``; ``POST /execute`` -> NDJSON lines
  (``stdout``, ``stderr``, ``result``, ``error``, ``number_of_executions``).

Code really runs: each context is a plain local Jupyter kernel whose working
directory stands for ``/home/user``, and iopub messages are translated the way
E2B's server does (``template/server/messaging.py``): a kernel that dies is
restarted and reported as a ``ContextRestarting`` error; a client that goes
away does not stop the code. Sandbox expiry is simulated with :meth:`expire`
(the proxy then answers 502 "... was not found").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from jupyter_client import AsyncKernelManager

_BUNDLE_KEYS = {
    "text/plain": "text",
    "text/html": "html",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/pdf": "pdf",
    "text/latex": "latex",
    "application/json": "json",
    "application/javascript": "javascript",
}


@dataclass
class _Context:
    id: str
    manager: AsyncKernelManager
    client: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class FakeSandbox:
    id: str
    root: Path
    create_body: dict[str, Any]
    alive: bool = True
    contexts: dict[str, _Context] = field(default_factory=dict)
    timeouts: list[int] = field(default_factory=list)


class FakeE2B:
    """Run with ``start()`` (a thread with its own event loop); ``url`` is where it listens."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fake-e2b-"))
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.requests: list[tuple[str, str]] = []
        self.killed: list[str] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    # -- control from tests --------------------------------------------------------

    def start(self) -> FakeE2B:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(30)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def expire(self, sandbox_id: str) -> None:
        """The sandbox's lifetime ran out: from now on the proxy answers 502."""
        asyncio.run_coroutine_threadsafe(self._expire(sandbox_id), self._loop).result(60)

    # -- server ----------------------------------------------------------------------

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.add_routes(
            [
                web.post("/v2/sandboxes", self._create),
                web.delete("/sandboxes/{id}", self._kill),
                web.post("/sandboxes/{id}/timeout", self._set_timeout),
                web.get("/health", self._health),
                web.post("/files", self._write),
                web.get("/files", self._read),
                web.post("/contexts", self._create_context),
                web.post("/contexts/{id}/restart", self._restart_context),
                web.post("/execute", self._execute),
            ]
        )
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _shutdown(self) -> None:
        for sandbox in self.sandboxes.values():
            await self._stop_contexts(sandbox)
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        return await handler(request)

    def _sandbox_of(self, request: web.Request) -> FakeSandbox | web.Response:
        sandbox = self.sandboxes.get(request.headers.get("E2b-Sandbox-Id", ""))
        if sandbox is None or not sandbox.alive:
            return web.json_response(
                {"code": 502, "message": "The sandbox was not found"}, status=502
            )
        return sandbox

    async def _create(self, request: web.Request) -> web.Response:
        if not request.headers.get("X-API-KEY", "").startswith("e2b_"):
            return web.json_response({"code": 401, "message": "Invalid API key"}, status=401)
        body = await request.json()
        sandbox_id = "fake" + uuid.uuid4().hex[:12]
        root = self.root / sandbox_id
        root.mkdir()
        self.sandboxes[sandbox_id] = FakeSandbox(sandbox_id, root, body)
        return web.json_response(
            {
                "templateID": body.get("templateID", "code-interpreter-v1"),
                "sandboxID": sandbox_id,
                "clientID": "fake",
                "envdVersion": "0.6.7",
                "envdAccessToken": "token-" + sandbox_id,
            },
            status=201,
        )

    async def _kill(self, request: web.Request) -> web.Response:
        sandbox = self.sandboxes.get(request.match_info["id"])
        if sandbox is None or not sandbox.alive:
            return web.json_response({"code": 404, "message": "not found"}, status=404)
        self.killed.append(sandbox.id)
        await self._expire(sandbox.id)
        return web.Response(status=204)

    async def _set_timeout(self, request: web.Request) -> web.Response:
        sandbox = self.sandboxes.get(request.match_info["id"])
        if sandbox is None or not sandbox.alive:
            return web.json_response({"code": 404, "message": "not found"}, status=404)
        sandbox.timeouts.append((await request.json())["timeout"])
        return web.Response(status=204)

    async def _expire(self, sandbox_id: str) -> None:
        sandbox = self.sandboxes[sandbox_id]
        sandbox.alive = False
        await self._stop_contexts(sandbox)

    async def _stop_contexts(self, sandbox: FakeSandbox) -> None:
        for context in sandbox.contexts.values():
            context.client.stop_channels()
            with contextlib.suppress(Exception):
                await context.manager.shutdown_kernel(now=True)
        sandbox.contexts.clear()

    async def _health(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox_of(request)
        return sandbox if isinstance(sandbox, web.Response) else web.Response(status=204)

    def _local_path(self, sandbox: FakeSandbox, path: str) -> Path:
        relative = path.removeprefix("/home/user").lstrip("/")
        return sandbox.root / relative

    async def _write(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox_of(request)
        if isinstance(sandbox, web.Response):
            return sandbox
        path = request.query["path"]
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            part = await reader.next()
            data = await part.read() if part is not None else b""  # type: ignore[union-attr]
        else:
            data = await request.read()
        target = self._local_path(sandbox, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(bytes(data))
        return web.json_response([{"name": target.name, "type": "file", "path": path}])

    async def _read(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox_of(request)
        if isinstance(sandbox, web.Response):
            return sandbox
        path = request.query["path"]
        target = self._local_path(sandbox, path)
        if not target.is_file():
            return web.json_response(
                {"code": 404, "message": f"path '{path}' does not exist"}, status=404
            )
        return web.Response(body=target.read_bytes(), content_type="application/octet-stream")

    async def _start_kernel(self, sandbox: FakeSandbox, context_id: str) -> _Context:
        manager = AsyncKernelManager(kernel_name="python3")
        await manager.start_kernel(
            cwd=str(sandbox.root), env={"PATH": "/usr/bin:/bin", "HOME": str(sandbox.root)}
        )
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        return _Context(context_id, manager, client)

    async def _create_context(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox_of(request)
        if isinstance(sandbox, web.Response):
            return sandbox
        body = await request.json()
        context_id = uuid.uuid4().hex
        sandbox.contexts[context_id] = await self._start_kernel(sandbox, context_id)
        return web.json_response(
            {"id": context_id, "language": "python", "cwd": body.get("cwd", "/home/user")}
        )

    async def _restart_context(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox_of(request)
        if isinstance(sandbox, web.Response):
            return sandbox
        context = sandbox.contexts.get(request.match_info["id"])
        if context is None:
            return web.Response(status=404, text="Context not found")
        context.client.stop_channels()
        await context.manager.shutdown_kernel(now=True)
        sandbox.contexts[context.id] = await self._start_kernel(sandbox, context.id)
        return web.Response(status=204)

    async def _execute(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._sandbox_of(request)
        if isinstance(sandbox, web.Response):
            return sandbox
        body = await request.json()
        context = sandbox.contexts.get(body.get("context_id") or "")
        if context is None:
            return web.Response(status=404, text=f"Context {body.get('context_id')} not found")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        async with context.lock:
            await self._stream_execution(request, response, sandbox, context, body["code"])
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _stream_execution(
        self,
        request: web.Request,
        response: web.StreamResponse,
        sandbox: FakeSandbox,
        context: _Context,
        code: str,
    ) -> None:
        async def send(line: dict[str, Any]) -> None:
            await response.write((json.dumps(line) + "\n").encode())

        msg_id = context.client.execute(code, allow_stdin=False, stop_on_error=True)
        while True:
            if request.transport is None or request.transport.is_closing():
                return  # the client went away; like E2B, the code keeps running
            try:
                msg = await context.client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                if not await context.manager.is_alive():
                    context.client.stop_channels()
                    sandbox.contexts[context.id] = await self._start_kernel(sandbox, context.id)
                    await send(
                        {
                            "type": "error",
                            "name": "ContextRestarting",
                            "value": "Context was restarted",
                            "traceback": "",
                        }
                    )
                    return
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            try:
                if kind == "stream":
                    await send(
                        {
                            "type": content["name"],
                            "text": content["text"],
                            "timestamp": time.time_ns(),
                        }
                    )
                elif kind in ("display_data", "execute_result"):
                    data = dict(content["data"])
                    line: dict[str, Any] = {
                        "type": "result",
                        "is_main_result": kind == "execute_result",
                    }
                    for mime, key in _BUNDLE_KEYS.items():
                        if mime in data:
                            line[key] = data.pop(mime)
                    line["extra"] = data
                    await send(line)
                elif kind == "error":
                    await send(
                        {
                            "type": "error",
                            "name": content["ename"],
                            "value": content["evalue"],
                            "traceback": "\n".join(content["traceback"]),
                        }
                    )
                elif kind == "execute_input":
                    await send(
                        {
                            "type": "number_of_executions",
                            "execution_count": content["execution_count"],
                        }
                    )
                elif kind == "status" and content["execution_state"] == "idle":
                    return
            except ConnectionError:
                return
