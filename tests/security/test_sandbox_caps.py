"""The local sandbox as a whole, attacked from inside the real bubblewrap kernel.

| attack | expected result | enforced by |
|---|---|---|
| write, truncate, delete or rename a file in ``uploads/`` | refused; the file unchanged | bwrap ``--ro-bind`` of uploads; files 0640 app-owned |
| list or write ``runs/`` (a ``model.joblib`` is there) | not there at all; the model unchanged | bwrap ``--tmpfs`` over the workspace; only uploads and scratch bound back |
| 4 forked children allocate 400 MB each (1.6 GB > 1 GB cap) | children or kernel OOM-killed; the host and the next run fine | cgroup memory of the tree (``assistant/sandbox/cgroup.py``) |
| fork more processes than allowed | ``fork`` fails | cgroup ``pids.max`` (and ``RLIMIT_NPROC``) |
| fill ``/tmp`` and ``/dev/shm`` | ENOSPC at the tmpfs size | bwrap ``--size`` before ``--tmpfs`` |
| fill the scratch folder | ENOSPC at the quota | loop-mounted ext4 image (``assistant/sandbox/scratch_disk.py``) |
| ask for a longer run than ``MLCHAT_SANDBOX_TIMEOUT_S`` | stopped at the ceiling | ``clamp_timeout`` in every executor and in ``run_code`` |

Each test needs bubblewrap (and, for its cap, a cgroup or root with loop mounts);
where the machine lacks it, that test is skipped naming what is missing.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from assistant.events import ToolFinished
from assistant.sandbox import (
    ConfinementReport,
    Limits,
    LocalExecutor,
    SandboxPool,
    detect_confinement,
)
from assistant.sandbox.base import clamp_timeout
from assistant.session import Assistant
from assistant.settings import Settings
from tests.assistant.scripted import ScriptedProvider, call, say

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMITS = Limits(
    memory_mb=1024, cpu_s=120, file_mb=512, open_files=256, processes=64, tmpfs_mb=48, disk_mb=48
)
CEILING_S = 2.0
DATASET = "age,income\n30,100\n40,200\n50,300\n"
MODEL = b"\x80\x04trusted model bytes"


@dataclass
class Kit:
    executor: LocalExecutor
    workspace: Path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kit() -> AsyncIterator[Kit]:
    if detect_confinement(LIMITS).filesystem != "bubblewrap":
        pytest.skip("bubblewrap cannot run on this machine")
    workspace = Path(tempfile.mkdtemp(prefix="mlchat-caps-")) / "data" / "workspaces" / "t1"
    for folder in ("uploads", "runs/r1"):
        (workspace / folder).mkdir(parents=True)
    (workspace / "uploads" / "people.csv").write_text(DATASET)
    (workspace / "runs" / "r1" / "model.joblib").write_bytes(MODEL)
    executor = LocalExecutor(
        workspace,
        dataset_path=workspace / "uploads" / "people.csv",
        limits=LIMITS,
        timeout_s=CEILING_S,
        hidden_paths=[workspace.parent.parent],
    )
    await executor.start()
    yield Kit(executor, workspace)
    await executor.close()
    assert not (workspace / "scratch").is_mount()


async def test_the_dataset_loads_from_the_read_only_uploads(kit: Kit) -> None:
    execution = await kit.executor.run("import os\nprint(df.shape, os.getcwd())")
    assert execution.error is None
    assert execution.stdout == f"(3, 2) {kit.workspace / 'scratch'}\n"


async def test_code_cannot_change_the_uploads(kit: Kit) -> None:
    upload = kit.workspace / "uploads" / "people.csv"
    before = digest(upload)
    code = (
        "import os\nresults = []\n"
        "for attempt in (\n"
        "    lambda: open('../uploads/people.csv', 'a').write('1,1\\n'),\n"
        "    lambda: open('../uploads/people.csv', 'w').close(),\n"
        "    lambda: os.remove('../uploads/people.csv'),\n"
        "    lambda: os.rename('../uploads/people.csv', 'stolen.csv'),\n"
        "    lambda: open('../uploads/new.csv', 'w').close(),\n"
        "    lambda: os.chmod('../uploads/people.csv', 0o666),\n"
        "):\n"
        "    try:\n        attempt()\n        results.append('done')\n"
        "    except OSError as exc:\n        results.append(type(exc).__name__)\n"
        "print(results)"
    )
    execution = await kit.executor.run(code)
    assert execution.error is None
    assert "done" not in execution.stdout, execution.stdout
    assert digest(upload) == before
    assert sorted(p.name for p in upload.parent.iterdir()) == ["people.csv"]


async def test_code_cannot_see_or_touch_the_app_folders(kit: Kit) -> None:
    model = kit.workspace / "runs" / "r1" / "model.joblib"
    runs = kit.workspace / "runs"
    code = (
        "import os\n"
        "print(sorted(os.listdir('..')))\n"
        f"print(os.path.exists({str(model)!r}))\n"
        "try:\n"
        f"    os.makedirs({str(runs / 'r1')!r}, exist_ok=True)\n"
        f"    open({str(model)!r}, 'wb').write(b'evil pickle')\n"
        "except OSError as exc:\n    print(type(exc).__name__)\n"
    )
    execution = await kit.executor.run(code)
    assert execution.error is None
    listing, exists = execution.stdout.splitlines()[:2]
    assert listing == "['scratch', 'uploads']"
    assert exists == "False"
    assert model.read_bytes() == MODEL  # a write there lands in a throwaway tmpfs, if at all
    assert sorted(p.name for p in runs.rglob("*")) == ["model.joblib", "r1"]


async def test_each_tmpfs_is_capped(kit: Kit) -> None:
    code = (
        "for folder in ('/tmp', '/dev/shm'):\n"
        "    written = 0\n"
        "    try:\n"
        "        with open(folder + '/fill', 'wb') as f:\n"
        "            while written < 1024:\n"
        "                f.write(b'x' * 2**20); f.flush(); written += 1\n"
        "    except OSError as exc:\n"
        "        print(folder, written, exc.errno)\n"
        "    import os; os.remove(folder + '/fill')\n"
    )
    execution = await kit.executor.run(code)
    assert execution.error is None, execution.error
    for line, folder in zip(execution.stdout.splitlines(), ("/tmp", "/dev/shm"), strict=True):
        name, written, errno = line.split()
        assert (name, errno) == (folder, "28")  # ENOSPC
        assert int(written) <= LIMITS.tmpfs_mb


async def test_the_scratch_folder_has_a_disk_quota(kit: Kit) -> None:
    if not kit.executor.report.disk_quota:
        pytest.skip("no disk quota here: needs root, mkfs.ext4, mount and loop devices")
    assert (kit.workspace / "scratch").is_mount()
    code = (
        "import os\nwritten = 0\n"
        "try:\n"
        "    with open('fill', 'wb') as f:\n"
        "        while written < 1024:\n"
        "            f.write(b'x' * 2**20); f.flush(); written += 1\n"
        "except OSError as exc:\n    print(written, exc.errno)\n"
        "os.remove('fill')\n"
    )
    execution = await kit.executor.run(code)
    assert execution.error is None, execution.error
    written, errno = execution.stdout.split()
    assert errno == "28" and int(written) <= LIMITS.disk_mb


async def test_a_longer_timeout_than_the_ceiling_is_clamped(kit: Kit) -> None:
    assert clamp_timeout(600, CEILING_S) == CEILING_S
    assert clamp_timeout(1, CEILING_S) == 1
    assert clamp_timeout(None, CEILING_S) == CEILING_S
    started = time.perf_counter()
    execution = await kit.executor.run("import time\ntime.sleep(30)", timeout_s=600)
    assert time.perf_counter() - started < CEILING_S + 5
    assert execution.error is not None and execution.error.name == "TimeoutError"
    assert f"longer than {CEILING_S:g} s" in execution.error.value


async def test_forked_children_share_one_memory_cap(kit: Kit) -> None:
    if not kit.executor.report.cgroup:
        pytest.skip("no cgroup can be created here (needs root or a delegated cgroup)")
    await kit.executor.start()
    cgroup = kit.executor._kernel.cgroup  # type: ignore[union-attr]
    assert cgroup is not None
    code = (
        "import os, time\npids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = b'x' * (400 * 2**20)\n"
        "        time.sleep(0.5)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "print(sorted(os.waitpid(p, 0)[1] & 0x7F for p in pids))\n"
    )
    execution = await kit.executor.run(code)
    peak = cgroup.memory_peak_mb()
    assert peak is not None and peak <= LIMITS.memory_mb
    if execution.error is None:
        killed = [int(s) for s in execution.stdout.strip("[]\n").split(",")]
        assert 9 in killed, execution.stdout  # at least one child was OOM-killed
    else:
        assert execution.error.name in {"KernelDied", "MemoryError"}
    assert (await kit.executor.run("1+1")).results[0].text == "2"  # the sandbox recovers


async def test_the_process_count_is_capped_for_the_tree(kit: Kit) -> None:
    if not kit.executor.report.cgroup:
        pytest.skip("no cgroup can be created here (needs root or a delegated cgroup)")
    await kit.executor.start()
    cgroup = kit.executor._kernel.cgroup  # type: ignore[union-attr]
    assert cgroup is not None
    pids_max = [f / "pids.max" for f in cgroup.folders if (f / "pids.max").exists()]
    assert [p.read_text().strip() for p in pids_max] == [str(LIMITS.processes)]
    code = (
        "import os, time\nmade = 0\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        if os.fork() == 0:\n            time.sleep(1); os._exit(0)\n"
        "        made += 1\n"
        "except OSError as exc:\n    print(made, type(exc).__name__)\n"
    )
    execution = await kit.executor.run(code)
    if execution.error is None:
        made, _ = execution.stdout.split()
        assert int(made) < LIMITS.processes
    else:
        assert execution.error.name in {"ProcessLimit", "KernelDied"}


async def test_run_code_through_the_chat_cannot_ask_for_more_than_the_ceiling(
    tmp_path: Path,
) -> None:
    if detect_confinement(LIMITS).filesystem != "bubblewrap":
        pytest.skip("bubblewrap cannot run on this machine")
    model = ScriptedProvider(
        [
            call("run_code", call_id="c1", code="import time\ntime.sleep(60)", timeout_s=3600),
            say("Done."),
        ]
    )
    settings = Settings.from_env(
        {"MLCHAT_DATA_DIR": str(tmp_path / "data"), "MLCHAT_SANDBOX_TIMEOUT_S": "2"},
        env_file=tmp_path / "none.env",
    )
    assistant = Assistant(settings, provider=model, sandboxes=SandboxPool(settings))
    started = time.perf_counter()
    try:
        events = [e async for e in assistant.run_turn("t1", "sleep for an hour")]
    finally:
        await assistant.close()
    assert time.perf_counter() - started < 20
    finished = {e.call_id: e for e in events if isinstance(e, ToolFinished)}
    assert "TimeoutError" in model.requests[1][-1].content
    assert "longer than 2 s" in model.requests[1][-1].content
    assert "c1" in finished


async def test_the_welcome_text_says_when_the_tree_is_not_capped() -> None:
    report = ConfinementReport(
        network="bubblewrap", filesystem="bubblewrap", own_user=True, limits=LIMITS
    )
    assert "memory cap on the whole process tree" in report.summary.split("Not active:")[1]
    assert "disk quota on the scratch folder" in report.summary.split("Not active:")[1]
    capped = ConfinementReport(
        network="bubblewrap",
        filesystem="bubblewrap",
        own_user=True,
        limits=LIMITS,
        cgroup="v1",
        disk_quota=True,
    )
    assert "memory of the whole process tree 1024 MB and 64 processes (cgroup v1)" in capped.summary
    assert "/tmp and /dev/shm 48 MB each, scratch folder 48 MB" in capped.summary
    assert "Not active" not in capped.summary
