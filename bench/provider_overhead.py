"""Provider overhead benchmark: time our layer adds on top of the raw SDKs, and prompt bytes per tool.

    python bench/provider_overhead.py               # 60 calls per case
    python bench/provider_overhead.py --calls 200

For each wire protocol (OpenAI, Anthropic, Gemini) a loopback fake server
(``tests/fakes/llm_servers.py``, in a child process so its work is not counted)
streams the same answer to

- the raw SDK, consuming the stream and doing nothing else, and
- our layer: ``Router`` (usage row written to SQLite, cache off) over the adapter,
  which assembles tool calls, maps errors and yields deltas.

Calls alternate between the two so drift hits both alike. Both wall time and
this process's CPU time are measured per call; CPU time is what our code costs
and barely moves when the machine is busy, while wall time on a loaded machine
also includes waiting for a core. Reported (medians):

- per-call overhead = ours - raw for a 1-chunk answer (target < 5 ms);
- per-chunk overhead = the growth of that difference from 1 to ``--chunks``
  chunks, divided by the extra chunks (target < 1 ms);
- a temperature-0 cache hit's latency;
- prompt bytes per tool spec: request body bytes with the sample tools minus
  without, divided by the number of tools, as each SDK serialises them.

Prints a table and writes it to ``bench/results/provider_overhead.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import openai  # noqa: E402
from google import genai  # noqa: E402
from google.genai import types  # noqa: E402

from assistant.providers.anthropic import AnthropicProvider  # noqa: E402
from assistant.providers.base import ChatSettings, Message, Provider, ToolSpec  # noqa: E402
from assistant.providers.gemini import GeminiProvider  # noqa: E402
from assistant.providers.openai import OpenAIProvider  # noqa: E402
from assistant.providers.router import Route, Router  # noqa: E402
from assistant.store import Database  # noqa: E402
from tests.fakes.llm_servers import FakeLLMServer, Turn  # noqa: E402

MESSAGES = [
    Message("system", "You are mlchat."),
    Message("user", "Train a model to predict churn."),
]
SAMPLE_TOOLS = [
    ToolSpec(
        "train_candidates",
        "Cross-validate the candidate models from the plan and rank them.",
        {
            "type": "object",
            "properties": {
                "dataset_id": {"type": "string", "description": "Id returned by load_table."},
                "target": {"type": "string", "description": "Column to predict, spelled exactly."},
                "metric": {
                    "type": "string",
                    "enum": ["roc_auc", "f1", "accuracy", "rmse", "mae", "r2"],
                    "description": "Score to rank by; the plan's default when omitted.",
                },
                "budget_s": {
                    "type": "integer",
                    "description": "Wall-clock seconds for all candidates.",
                },
            },
            "required": ["dataset_id", "target"],
        },
    ),
    ToolSpec(
        "profile_table",
        "Profile a loaded table: shape, types, missing values, warnings.",
        {
            "type": "object",
            "properties": {
                "dataset_id": {"type": "string", "description": "Id returned by load_table."}
            },
            "required": ["dataset_id"],
        },
    ),
    ToolSpec(
        "predict_file",
        "Apply the fitted model to a new file and offer the predictions for download.",
        {
            "type": "object",
            "properties": {
                "run_id": {"type": "string", "description": "The run whose model to use."},
                "file_name": {"type": "string", "description": "An uploaded file's name."},
            },
            "required": ["run_id", "file_name"],
        },
    ),
]
MODELS = {
    "openai": "gpt-6-luna",
    "anthropic": "claude-haiku-5-5",
    "gemini": "gemini-3.5-flash-lite",
}


def our_provider(protocol: str, url: str) -> Provider:
    if protocol == "openai":
        return OpenAIProvider(api_key="sk-bench", base_url=url)
    if protocol == "anthropic":
        return AnthropicProvider(api_key="sk-ant-bench", base_url=url)
    return GeminiProvider(api_key="bench-key", base_url=url)


def raw_caller(protocol: str, url: str) -> Callable[[], Awaitable[None]]:
    """A call through the bare SDK that consumes the stream and nothing more."""
    model = MODELS[protocol]
    if protocol == "openai":
        client = openai.AsyncOpenAI(api_key="sk-bench", base_url=url, max_retries=0)

        async def call_openai() -> None:
            stream = await client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "system", "content": "You are mlchat."},
                    {"role": "user", "content": "hi"},
                ],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _chunk in stream:
                pass

        return call_openai
    if protocol == "anthropic":
        client_a = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=url, max_retries=0)

        async def call_anthropic() -> None:
            stream = await client_a.messages.create(
                model=model,
                max_tokens=2048,
                system="You are mlchat.",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
            async for _event in stream:
                pass

        return call_anthropic
    client_g = genai.Client(
        api_key="bench-key",
        http_options=types.HttpOptions(
            base_url=url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )

    async def call_gemini() -> None:
        stream = await client_g.aio.models.generate_content_stream(model=model, contents="hi")
        async for _chunk in stream:
            pass

    return call_gemini


async def timed(call: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call (CPU of this process, all threads)."""
    started, started_cpu = time.perf_counter(), time.process_time()
    await call()
    return (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000


def _serve(protocol: str, chunks: int, connection: object) -> None:
    """Child process: a fake server answering every request with a ``chunks``-delta text."""
    server = FakeLLMServer(protocol)  # type: ignore[arg-type]
    server.default = Turn(text="word " * chunks, text_chunks=chunks)
    server.start()
    connection.send(server.url)  # type: ignore[attr-defined]
    connection.recv()  # type: ignore[attr-defined]
    server.stop()


class ChildServer:
    """A fake server in a child process, as a context manager yielding its URL."""

    def __init__(self, protocol: str, chunks: int) -> None:
        self._parent, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(
            target=_serve, args=(protocol, chunks, child), daemon=True
        )

    def __enter__(self) -> str:
        self._process.start()
        return self._parent.recv()

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._process.join(10)


async def compare(protocol: str, calls: int, chunks: int, db: Database) -> dict[str, float]:
    """Median wall and CPU ms of raw and ours for a ``chunks``-delta answer."""
    with ChildServer(protocol, chunks) as url:
        router = Router(
            [Route(our_provider(protocol, url), MODELS[protocol])], db=db, use_cache=False
        )
        raw = raw_caller(protocol, url)

        async def ours() -> None:
            async for _delta in router.stream(MESSAGES, [], ChatSettings("x")):
                pass

        samples: dict[str, list[float]] = {"raw": [], "ours": [], "raw_cpu": [], "ours_cpu": []}
        for number in range(calls + 5):
            order = (("raw", raw), ("ours", ours)) if number % 2 else (("ours", ours), ("raw", raw))
            for name, call in order:
                wall, cpu = await timed(call)
                if number >= 5:  # warm-up
                    samples[name].append(wall)
                    samples[f"{name}_cpu"].append(cpu)
    return {name: statistics.median(values) for name, values in samples.items()}


async def measure(protocol: str, calls: int, chunks: int, db: Database) -> dict[str, float]:
    one = await compare(protocol, calls, 1, db)
    many = await compare(protocol, calls, chunks, db)
    result: dict[str, float] = {}
    for kind in ("", "_cpu"):
        per_call = one[f"ours{kind}"] - one[f"raw{kind}"]
        growth = (many[f"ours{kind}"] - many[f"raw{kind}"]) - per_call
        result[f"raw_1{kind}"] = one[f"raw{kind}"]
        result[f"per_call{kind}"] = per_call
        result[f"per_chunk{kind}"] = growth / (chunks - 1)

    with FakeLLMServer(protocol) as fake:  # type: ignore[arg-type]
        cached = Router([Route(our_provider(protocol, fake.url), MODELS[protocol])], db=db)
        fake.reply(Turn(text="cached answer"))
        async for _delta in cached.stream(MESSAGES, SAMPLE_TOOLS, ChatSettings("x")):
            pass
        hit_ms = []
        for _ in range(20):
            started = time.perf_counter()
            async for _delta in cached.stream(MESSAGES, SAMPLE_TOOLS, ChatSettings("x")):
                pass
            hit_ms.append((time.perf_counter() - started) * 1000)
        result["cache_hit_ms"] = statistics.median(hit_ms)

        fake.reply(Turn(text="a"), Turn(text="a"))
        bare = our_provider(protocol, fake.url)
        async for _delta in bare.stream(MESSAGES, [], ChatSettings(MODELS[protocol])):
            pass
        async for _delta in bare.stream(MESSAGES, SAMPLE_TOOLS, ChatSettings(MODELS[protocol])):
            pass
        sizes = [len(json.dumps(r.body, separators=(",", ":"))) for r in fake.requests[-2:]]
        result["bytes_per_tool"] = (sizes[1] - sizes[0]) / len(SAMPLE_TOOLS)
    return result


async def main_async(calls: int, chunks: int) -> list[str]:
    lines = [
        f"Provider overhead vs the raw SDK against loopback fakes ({calls} calls per case, medians;"
        f" per-chunk from 1 vs {chunks} chunks). Load average at start: {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} cores.",
        "",
        "| protocol | raw call ms | per call ms (<5) wall / CPU | per chunk ms (<1) wall / CPU "
        "| cache hit ms | prompt bytes/tool |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "bench.db")
        for protocol in ("openai", "anthropic", "gemini"):
            r = await measure(protocol, calls, chunks, db)
            lines.append(
                f"| {protocol} | {r['raw_1']:.2f} | {r['per_call']:.2f} / {r['per_call_cpu']:.2f} "
                f"| {r['per_chunk']:.3f} / {r['per_chunk_cpu']:.3f} "
                f"| {r['cache_hit_ms']:.2f} | {r['bytes_per_tool']:.0f} |"
            )
        db.close()
    lines += [
        "",
        f"Sample tools: {', '.join(t.name for t in SAMPLE_TOOLS)}; 'ours' includes the SQLite usage row.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--chunks", type=int, default=100)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's notice about model end-of-life
    lines = asyncio.run(main_async(args.calls, args.chunks))
    print("\n".join(lines))
    out = ROOT / "bench" / "results" / "provider_overhead.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
