"""Processes dying under the assistant: the sandbox kernel and the training worker.

Through the real Assistant (offline): a fenced code block that segfaults, calls
``os._exit`` or exhausts memory gets an error message, and the next code block
runs in a fresh kernel with the dataset loaded again as ``df``. The training
worker killed with SIGKILL mid-run leaves a failed run that keeps the
leaderboard so far, and the thread goes on. (Executor-level crash tests live in
tests/assistant/sandbox/test_local_confinement.py and test_behaviour.py.)
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator

import psutil
import pytest
import pytest_asyncio

from assistant.events import Event, Table, ToolFinished
from assistant.session import Assistant
from tests.reliability.common import (
    assert_one_clear_message,
    assert_turn_healthy,
    offline_settings,
    reply,
    small_table,
    turn,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CRASH_WORDS = {
    "segfault": r"stopped: it crashed \(segmentation fault\)\. The next run starts a fresh session",
    "os_exit": r"stopped: it crashed or exited\. The next run starts a fresh session",
    "memory": r"MemoryError",
}
CRASHES = {
    "segfault": "import ctypes\nctypes.string_at(0)",
    "os_exit": "import os\nos._exit(3)",
    "memory": "blocks = []\nwhile True:\n    blocks.append(bytearray(256 << 20))",
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def assistant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Assistant]:
    root = tmp_path_factory.mktemp("process-faults")
    helper = Assistant(offline_settings(root, MLCHAT_SANDBOX_MEMORY_MB="2048"))
    small_table().to_csv(root / "good.csv", index=False)
    helper.files = root  # type: ignore[attr-defined]
    yield helper
    await helper.close()


def code(source: str) -> str:
    return f"```python\n{source}\n```"


@pytest.mark.parametrize("kind", sorted(CRASHES))
async def test_a_kernel_crash_is_reported_and_the_next_run_has_the_data_again(
    assistant: Assistant, kind: str
) -> None:
    thread = f"kernel-{kind}"
    record = assistant.attach_file(thread, assistant.files / "good.csv")  # type: ignore[attr-defined]
    warm = await turn(assistant, thread, code("marker = 41\nprint(len(df))"), [record])
    assert "120" in reply(warm)
    crashed = await turn(assistant, thread, code(CRASHES[kind]))
    finished = [e for e in crashed if isinstance(e, ToolFinished)]
    assert len(finished) == 1
    shown = reply(crashed)
    assert "Traceback" not in shown
    assert re.search(CRASH_WORDS[kind], shown), shown
    after = await turn(assistant, thread, code("print(len(df), 'marker' in globals())"))
    assert_turn_healthy(after)
    # a crash restarts the kernel with the data reloaded; a MemoryError leaves it running
    assert ("120 True" if kind == "memory" else "120 False") in reply(after)


async def test_running_out_of_sandbox_memory_names_the_limit(assistant: Assistant) -> None:
    thread = "kernel-memory-limit"
    record = assistant.attach_file(thread, assistant.files / "good.csv")  # type: ignore[attr-defined]
    events = await turn(assistant, thread, code(CRASHES["memory"]), [record])
    assert re.search(r"2,?048 MB|MLCHAT_SANDBOX_MEMORY_MB|memory limit", reply(events)), reply(
        events
    )


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


async def test_a_killed_training_worker_fails_the_run_and_keeps_its_leaderboard(
    assistant: Assistant,
) -> None:
    thread = "worker-killed"
    record = assistant.attach_file(thread, assistant.files / "good.csv")  # type: ignore[attr-defined]
    before = _children()
    events: list[Event] = []

    async def consume() -> None:
        async for event in assistant.run_turn(
            thread, "train a model to predict y with a 60 second budget", attachments=[record]
        ):
            events.append(event)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(60):
        while not any(isinstance(e, Table) and e.name == "leaderboard" for e in events):
            await asyncio.sleep(0.05)
    workers = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and "ipykernel" not in " ".join(p.cmdline())
    ]
    assert workers, "the training worker process was not found"
    for process in workers:
        os.kill(process.pid, signal.SIGKILL)
    async with asyncio.timeout(30):
        await task
    run = assistant.runs.latest(thread)
    assert run is not None and run.status == "failed"
    assert len(run.leaderboard) >= 1
    assert_one_clear_message(reply(events), mentions=r"stopped unexpectedly|failed")
    assert assistant.runs.latest(thread, with_model=True) is None or run.status == "failed"
    assert_turn_healthy(await turn(assistant, thread, "show the leaderboard"))
