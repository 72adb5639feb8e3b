"""E2B-only paths, through the real SDK against the loopback fake: create options, expiry, kill, bad key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.sandbox import E2BExecutor, SandboxStartError
from tests.assistant.sandbox.conftest import make_workspace
from tests.assistant.sandbox.fake_e2b import FakeE2B

pytestmark = pytest.mark.asyncio(loop_scope="module")


def executor_for(fake: FakeE2B, workspace: Path, **options: object) -> E2BExecutor:
    return E2BExecutor(
        workspace,
        api_key="e2b_0123abcd",
        dataset_path=workspace / "uploads" / "people.csv",
        timeout_s=20,
        api_url=fake.url,
        sandbox_url=fake.url,
        **options,  # type: ignore[arg-type]
    )


async def test_the_sandbox_is_created_sealed_and_killed_on_close(fake_e2b: FakeE2B) -> None:
    executor = executor_for(fake_e2b, make_workspace("e2b-seal-"), sandbox_timeout_s=900)
    await executor.start()
    sandbox_id = executor.sandbox_id
    assert sandbox_id is not None
    body = fake_e2b.sandboxes[sandbox_id].create_body
    assert body["envVars"] == {}  # no host environment variable goes in
    assert body["allow_internet_access"] is False
    assert body["timeout"] == 900
    assert (fake_e2b.sandboxes[sandbox_id].root / "people.csv").read_text().startswith("age,income")
    await executor.close()
    assert sandbox_id in fake_e2b.killed


async def test_runs_keep_the_sandbox_alive(fake_e2b: FakeE2B) -> None:
    executor = executor_for(
        fake_e2b, make_workspace("e2b-extend-"), sandbox_timeout_s=600, extend_every_s=0
    )
    await executor.run("1")
    await executor.run("2")
    assert executor.sandbox_id is not None
    assert fake_e2b.sandboxes[executor.sandbox_id].timeouts == [600, 600]
    await executor.close()


async def test_an_expired_sandbox_is_replaced_and_the_data_reloaded(fake_e2b: FakeE2B) -> None:
    executor = executor_for(fake_e2b, make_workspace("e2b-expire-"))
    await executor.run("state = 'old'")
    first_id = executor.sandbox_id
    assert first_id is not None
    fake_e2b.expire(first_id)
    chunks: list[tuple[str, str]] = []
    execution = await executor.run(
        "('state' in globals(), df.shape)", on_output=lambda s, t: chunks.append((s, t))
    )
    assert execution.error is None
    assert execution.results[0].text == "(False, (3, 2))"
    assert executor.sandbox_id not in (None, first_id)
    assert chunks[0][0] == "stderr" and "had expired; a new one was started" in chunks[0][1]
    await executor.close()


async def test_a_sandbox_expiring_mid_run_is_reported_plainly(fake_e2b: FakeE2B) -> None:
    executor = executor_for(fake_e2b, make_workspace("e2b-midrun-"))
    await executor.start()
    sandbox_id = executor.sandbox_id
    assert sandbox_id is not None

    def on_output(stream: str, text: str) -> None:
        if text == "started\n":  # expire the sandbox while the code is running
            asyncio.get_running_loop().run_in_executor(None, fake_e2b.expire, sandbox_id)

    code = "import time\nprint('started', flush=True)\ntime.sleep(30)"
    execution = await executor.run(code, on_output=on_output)
    assert execution.error is not None
    assert execution.error.name == "SandboxExpired"
    assert "next run starts a new sandbox" in execution.error.value
    assert (await executor.run("df.shape")).results[0].text == "(3, 2)"
    await executor.close()


async def test_a_rejected_key_says_what_to_check(fake_e2b: FakeE2B) -> None:
    executor = E2BExecutor(
        make_workspace("e2b-key-"),
        api_key="f2b_00",  # the fake answers 401 to keys that do not start with e2b_
        api_url=fake_e2b.url,
        sandbox_url=fake_e2b.url,
    )
    with pytest.raises(SandboxStartError, match="E2B did not accept the API key"):
        await executor.run("1")
