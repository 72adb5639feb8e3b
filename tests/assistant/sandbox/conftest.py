"""Shared sandbox fixtures: a fake E2B server (session), and one executor of each kind per module.

Fixtures:
    fake_e2b        the loopback E2B fake (tests/assistant/sandbox/fake_e2b.py), one per session.
    sandbox_kit     a module-scoped (executor, folder the code sees as its cwd) pair, parametrised
                    over "local" and "e2b"; its dataset is DATASET_CSV loaded as df (3 rows, 2 columns).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from assistant.sandbox import E2BExecutor, Executor, LocalExecutor
from tests.assistant.sandbox.fake_e2b import FakeE2B

DATASET_CSV = "age,income\n30,100\n40,200\n50,300\n"
MAX_OUTPUT_CHARS = 20_000


@dataclass
class SandboxKit:
    kind: str
    executor: Executor
    workspace: Path
    code_dir: Path
    """The folder the code sees as its working directory (host side)."""


@pytest.fixture(scope="session")
def fake_e2b() -> Iterator[FakeE2B]:
    server = FakeE2B().start()
    yield server
    server.stop()


def make_workspace(prefix: str) -> Path:
    workspace = Path(tempfile.mkdtemp(prefix=prefix)) / "workspace"
    (workspace / "uploads").mkdir(parents=True)
    (workspace / "uploads" / "people.csv").write_text(DATASET_CSV)
    return workspace


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["local", "e2b"])
async def sandbox_kit(
    request: pytest.FixtureRequest, fake_e2b: FakeE2B
) -> AsyncIterator[SandboxKit]:
    workspace = make_workspace(f"mlchat-{request.param}-")
    executor: LocalExecutor | E2BExecutor
    if request.param == "local":
        executor = LocalExecutor(
            workspace,
            dataset_path=workspace / "uploads" / "people.csv",
            timeout_s=30,
            max_output_chars=MAX_OUTPUT_CHARS,
        )
        await executor.start()
        code_dir = workspace / "scratch"
    else:
        executor = E2BExecutor(
            workspace,
            api_key="e2b_0123abcd",
            dataset_path=workspace / "uploads" / "people.csv",
            timeout_s=30,
            api_url=fake_e2b.url,
            sandbox_url=fake_e2b.url,
            max_output_chars=MAX_OUTPUT_CHARS,
        )
        await executor.start()
        assert executor.sandbox_id is not None
        code_dir = fake_e2b.sandboxes[executor.sandbox_id].root
    yield SandboxKit(request.param, executor, workspace, code_dir)
    await executor.close()
