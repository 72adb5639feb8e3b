"""The Executor contract, run against the local kernel and E2B (real SDK, loopback fake).

One executor per kind is shared by the whole module (see conftest.py), so the
tests are written to leave it usable: after a timeout or a crash the next run
must work, which is itself part of the contract.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from assistant.sandbox import Execution, Executor, SandboxFileError
from tests.assistant.sandbox.conftest import MAX_OUTPUT_CHARS, SandboxKit

pytestmark = pytest.mark.asyncio(loop_scope="module")


def main_text(execution: Execution) -> str | None:
    assert execution.error is None, execution.error
    return next((r.text for r in execution.results if r.is_main_result), None)


async def test_dataset_is_preloaded_as_df(sandbox_kit: SandboxKit) -> None:
    assert isinstance(sandbox_kit.executor, Executor)
    execution = await sandbox_kit.executor.run("df.shape, list(df.columns)")
    assert main_text(execution) == "((3, 2), ['age', 'income'])"


async def test_state_persists_between_runs(sandbox_kit: SandboxKit) -> None:
    await sandbox_kit.executor.run("answer = 41")
    assert main_text(await sandbox_kit.executor.run("answer + 1")) == "42"


async def test_stdout_and_stderr_are_streamed_in_order(sandbox_kit: SandboxKit) -> None:
    chunks: list[tuple[str, str]] = []
    code = (
        "import sys\n"
        "print('one', flush=True)\n"
        "sys.stderr.write('two\\n'); sys.stderr.flush()\n"
        "print('three', flush=True)\n"
    )
    execution = await sandbox_kit.executor.run(code, on_output=lambda s, t: chunks.append((s, t)))
    assert chunks == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n")]
    assert (execution.stdout, execution.stderr, execution.error) == ("one\nthree\n", "two\n", None)


async def test_output_arrives_while_the_code_is_still_running(sandbox_kit: SandboxKit) -> None:
    go = sandbox_kit.code_dir / "go.signal"
    go.unlink(missing_ok=True)

    def on_output(stream: str, text: str) -> None:
        if text == "waiting\n":
            go.write_text("go")  # the code below only finishes after seeing this file

    code = (
        "import os, time\n"
        "print('waiting', flush=True)\n"
        "deadline = time.time() + 10\n"
        "while not os.path.exists('go.signal') and time.time() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print('saw signal' if os.path.exists('go.signal') else 'no signal')\n"
    )
    execution = await sandbox_kit.executor.run(code, on_output=on_output)
    assert execution.stdout == "waiting\nsaw signal\n"


async def test_a_matplotlib_figure_comes_back_as_png(sandbox_kit: SandboxKit) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot(df['age'], df['income'])\nplt.show()"
    execution = await sandbox_kit.executor.run(code)
    assert execution.error is None
    pngs = [r.png for r in execution.results if r.png]
    assert len(pngs) == 1 and pngs[0].startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_plotly_figure_comes_back_as_plotly_json(sandbox_kit: SandboxKit) -> None:
    code = "import plotly.express as px\npx.scatter(df, x='age', y='income')"
    execution = await sandbox_kit.executor.run(code)
    assert execution.error is None
    figures = [r.plotly for r in execution.results if r.plotly]
    assert len(figures) == 1
    assert figures[0]["data"][0]["type"] == "scatter"


async def test_an_exception_comes_back_as_an_error(sandbox_kit: SandboxKit) -> None:
    execution = await sandbox_kit.executor.run("print('before')\n1 / 0")
    assert execution.stdout == "before\n"
    assert execution.error is not None
    assert (execution.error.name, execution.error.value) == (
        "ZeroDivisionError",
        "division by zero",
    )
    assert "1 / 0" in execution.error.traceback and "\x1b[" not in execution.error.traceback


async def test_output_beyond_the_cap_is_cut_with_a_note(sandbox_kit: SandboxKit) -> None:
    streamed: list[str] = []
    execution = await sandbox_kit.executor.run(
        "for _ in range(500):\n    print('x' * 99)", on_output=lambda s, t: streamed.append(t)
    )
    kept, note = execution.stdout[:MAX_OUTPUT_CHARS], execution.stdout[MAX_OUTPUT_CHARS:]
    assert set(kept) == {"x", "\n"}
    assert "30,000 more characters of stdout were cut" in note
    assert sum(map(len, streamed)) == len(execution.stdout)


async def test_a_timeout_stops_the_code_and_the_sandbox_stays_usable(
    sandbox_kit: SandboxKit,
) -> None:
    await sandbox_kit.executor.run("kept = 'yes'")
    started = time.monotonic()
    execution = await sandbox_kit.executor.run("import time\ntime.sleep(60)", timeout_s=1)
    elapsed = time.monotonic() - started
    assert execution.error is not None and execution.error.name == "TimeoutError"
    assert "longer than 1 s" in execution.error.value
    assert elapsed < 15
    after = await sandbox_kit.executor.run("(globals().get('kept'), df.shape)")
    # The local kernel is interrupted and keeps its variables; E2B has no interrupt and restarts.
    expected = "('yes', (3, 2))" if sandbox_kit.kind == "local" else "(None, (3, 2))"
    assert main_text(after) == expected


async def test_a_crash_is_reported_and_the_next_run_gets_a_fresh_session(
    sandbox_kit: SandboxKit,
) -> None:
    await sandbox_kit.executor.run("lost = 1")
    execution = await sandbox_kit.executor.run("import os\nos._exit(1)")
    assert execution.error is not None and execution.error.name == "KernelDied"
    assert "data loaded again as df" in execution.error.value
    after = await sandbox_kit.executor.run("('lost' in globals(), df.shape)")
    assert main_text(after) == "(False, (3, 2))"


async def test_interrupt_stops_running_code(sandbox_kit: SandboxKit) -> None:
    executor = sandbox_kit.executor
    await executor.run("kept = 'yes'")

    def on_output(stream: str, text: str) -> None:
        if text == "looping\n":
            asyncio.get_running_loop().create_task(executor.interrupt())

    execution = await executor.run(
        "print('looping', flush=True)\nwhile True:\n    pass", on_output=on_output
    )
    assert execution.error is not None and execution.error.name == "KeyboardInterrupt"
    after = await executor.run("(globals().get('kept'), df.shape)")
    # E2B has no interrupt: its session restarts, so only the local kernel keeps variables.
    expected = "('yes', (3, 2))" if sandbox_kit.kind == "local" else "(None, (3, 2))"
    assert main_text(after) == expected


async def test_restart_clears_variables_and_reloads_the_data(sandbox_kit: SandboxKit) -> None:
    await sandbox_kit.executor.run("df = None; scratch = 1")
    await sandbox_kit.executor.restart()
    after = await sandbox_kit.executor.run("('scratch' in globals(), df.shape)")
    assert main_text(after) == "(False, (3, 2))"


async def test_files_go_in_and_come_out(sandbox_kit: SandboxKit, tmp_path: Path) -> None:
    source = tmp_path / "extra.csv"
    source.write_text("a\n1\n2\n")
    name = await sandbox_kit.executor.upload(source)
    assert name == "extra.csv"
    code = "import pandas as pd\npd.read_csv('extra.csv').assign(b=lambda t: t.a * 10).to_csv('out.csv', index=False)"
    assert (await sandbox_kit.executor.run(code)).error is None
    path = await sandbox_kit.executor.download("out.csv")
    assert path == sandbox_kit.workspace / "scratch" / "out.csv"
    assert path.read_text() == "a,b\n1,10\n2,20\n"


async def test_downloading_a_missing_file_says_what_to_do(sandbox_kit: SandboxKit) -> None:
    with pytest.raises(SandboxFileError, match=r"no file named nothing\.csv"):
        await sandbox_kit.executor.download("nothing.csv")
    with pytest.raises(SandboxFileError, match="outside the conversation's workspace"):
        await sandbox_kit.executor.download("../escape.txt")
