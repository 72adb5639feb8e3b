"""Take the work home: serve the conversation's model over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from assistant.context import ToolContext
from assistant.errors import ToolError
from assistant.processes import die_with_parent
from assistant.toolbox._format import for_model
from assistant.toolkit import ToolResult, changes_state

_START_TIMEOUT_S = 60.0
_SECRET_WORDS = ("KEY", "SECRET", "PASSWORD", "TOKEN", "DATABASE_URL")


@dataclass(slots=True)
class _Service:
    run_id: str
    url: str
    process: subprocess.Popen[bytes]


_RUNNING: dict[str, _Service] = {}
"""The model service of each conversation (one at a time), while the app runs."""


@changes_state  # starts a process that listens on a port: only when the user asks
async def deploy_model(ctx: ToolContext, port: int | None = None) -> ToolResult:
    """Serve the conversation's current model over HTTP on this machine (a FastAPI service
    with JSON and CSV prediction endpoints, /health and an API schema at /docs) and return its
    URL with a curl example. Call it when the user asks to deploy, serve or put the model
    behind an API or endpoint.

    Args:
        port: Port to listen on; a free one when omitted.
    """
    from assistant.cli.serve_model import load_served
    from assistant.model_service import curl_example

    run = ctx.services.runs.latest(ctx.thread_id, with_model=True)
    if run is None:
        raise ToolError("There is no trained model yet: train one first (train_models).")
    # Checks the model's checksum and schema here, so a refusal reads as one sentence.
    served, example = await asyncio.to_thread(load_served, ctx.settings, run.id)
    current = _RUNNING.get(ctx.thread_id)
    if current is not None and current.process.poll() is None and current.run_id == run.id:
        service = current
    else:
        if current is not None:
            _stop(current)
        service = await _start(ctx, run.id, port or _free_port())
        _RUNNING[ctx.thread_id] = service
    curl = curl_example(service.url, example)
    summary = (
        f"The model of run {run.id} ({served.title}) answers at {service.url} "
        f"(API schema at {service.url}/docs, health at {service.url}/health). Try:\n\n"
        f"```bash\n{curl}\n```\n\nIt listens on this machine only and stops with the chat app; "
        f"`mlchat serve-model {run.id} --port N` serves it on its own."
    )
    payload = {"summary": summary, "url": service.url, "run_id": run.id, "curl": curl}
    return ToolResult(for_model=for_model(payload), facts=payload)


async def _start(ctx: ToolContext, run_id: str, port: int) -> _Service:
    env = {k: v for k, v in os.environ.items() if not any(w in k for w in _SECRET_WORDS)}
    env["MLCHAT_DATA_DIR"] = str(ctx.settings.data_dir)
    command = [sys.executable, "-m", "assistant.cli", "serve-model", run_id, "--port", str(port)]
    # Started from the event loop's thread, which lives as long as the app (die_with_parent).
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: die_with_parent(signal.SIGTERM),
    )
    url = f"http://127.0.0.1:{port}"
    ctx.progress(f"Starting the model service on port {port}")
    deadline = time.monotonic() + _START_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline and process.poll() is None:
            if await _serves(client, url, run_id):
                return _Service(run_id, url, process)
            await asyncio.sleep(0.2)
    _stop(_Service(run_id, url, process))
    raise ToolError(
        f"The model service did not start on port {port} (is the port taken?). "
        "Try again without a port, or another one."
    )


async def _serves(client: httpx.AsyncClient, url: str, run_id: str) -> bool:
    """Whether ``url`` answers /health for ``run_id`` (not yet listening: False)."""
    try:
        response = await client.get(f"{url}/health")
        return response.status_code == 200 and json.loads(response.text).get("run_id") == run_id
    except (httpx.HTTPError, ValueError):
        return False


def _stop(service: _Service) -> None:
    if service.process.poll() is None:
        service.process.terminate()
        try:
            service.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.process.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
