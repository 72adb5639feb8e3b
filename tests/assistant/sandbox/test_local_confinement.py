"""The local kernel's confinement, attacked from inside: memory, processes, network, env, files.

Each test needs one mechanism; where the machine lacks it, that single test is
skipped with the mechanism's name. On CI (root, bubblewrap installed) they all run.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from assistant.sandbox import Execution, Limits, LocalExecutor, detect_confinement

pytestmark = pytest.mark.asyncio(loop_scope="module")

CANARY_KEYS = {
    "OPENAI_API_KEY": "sk-canary-4f1d0c",
    "MLCHAT_SECRET_TOKEN": "mlchat-canary-77ab",
    "E2B_API_KEY": "e2b_cafe0000canary",
}
LIMITS = Limits(memory_mb=1024, cpu_s=120, file_mb=8, open_files=256, processes=64)


@dataclass
class Confined:
    executor: LocalExecutor
    workspace: Path
    data_dir: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def confined() -> AsyncIterator[Confined]:
    root = Path(tempfile.mkdtemp(prefix="mlchat-confined-"))
    data_dir = root / "data"
    workspace = data_dir / "workspaces" / "t1"
    workspace.mkdir(parents=True)
    (data_dir / "mlchat.db").write_text("secret history")
    saved = {k: os.environ.get(k) for k in CANARY_KEYS}
    os.environ.update(CANARY_KEYS)
    try:
        executor = LocalExecutor(workspace, limits=LIMITS, timeout_s=30, hidden_paths=[data_dir])
        await executor.start()  # the canaries are in the parent's environment while it starts
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield Confined(executor, workspace, data_dir)
    await executor.close()


def needs(mechanism: str, available: bool) -> None:
    if not available:
        pytest.skip(f"{mechanism} is not available on this machine")


def error_name(execution: Execution) -> str | None:
    return execution.error.name if execution.error else None


async def test_the_report_names_active_and_missing_protections(confined: Confined) -> None:
    report = confined.executor.report
    assert report.limits == LIMITS
    assert report.summary.startswith("Code sandbox: ")
    assert "memory 1024 MB" in report.summary
    if report.network:
        assert f"no network ({report.network})" in report.active
    else:
        assert any(item.startswith("network isolation") for item in report.inactive)


async def test_the_default_memory_limit_still_imports_the_data_stack() -> None:
    default = detect_confinement().limits
    assert default.memory_mb == 4096
    workspace = Path(tempfile.mkdtemp(prefix="mlchat-imports-"))
    executor = LocalExecutor(workspace, timeout_s=60)
    try:
        code = "import pandas, sklearn.ensemble, matplotlib.pyplot, plotly.express\n'ok'"
        execution = await executor.run(code)
        assert (error_name(execution), execution.results[0].text) == (None, "'ok'")
    finally:
        await executor.close()


async def test_a_memory_bomb_is_stopped(confined: Confined) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(128 * 2**20))"
    execution = await confined.executor.run(code)
    assert error_name(execution) in {"MemoryError", "KernelDied"}
    assert (
        error_name(
            await confined.executor.run(
                "del blocks" if error_name(execution) == "MemoryError" else "1"
            )
        )
        is None
    )


async def test_a_segfault_is_reported_as_a_crash(confined: Confined) -> None:
    execution = await confined.executor.run("import ctypes\nctypes.string_at(0)")
    assert error_name(execution) == "KernelDied"
    assert "crashed (segmentation fault)" in execution.error.value  # type: ignore[union-attr]
    assert (await confined.executor.run("2 + 2")).results[0].text == "4"


async def test_a_fork_bomb_is_stopped_and_the_session_restarts(confined: Confined) -> None:
    needs("a per-kernel user id (RLIMIT_NPROC)", confined.executor.report.own_user)
    execution = await confined.executor.run("import os\nwhile True:\n    os.fork()", timeout_s=60)
    assert error_name(execution) == "ProcessLimit"
    assert "too many processes" in execution.error.value  # type: ignore[union-attr]
    after = await confined.executor.run(
        "import threading; threading.Thread(target=print).start(); 'alive'"
    )
    assert (error_name(after), after.results[-1].text) == (None, "'alive'")


async def test_the_host_loopback_is_unreachable(confined: Confined) -> None:
    needs(
        "network isolation (bubblewrap or unshare -n)", confined.executor.report.network is not None
    )
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)"
        execution = await confined.executor.run(code)
        assert error_name(execution) in {"ConnectionRefusedError", "OSError", "TimeoutError"}
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever connected to the host's port


async def test_the_kernel_environment_holds_no_parent_secret(confined: Confined) -> None:
    code = (
        "import os, pathlib\n"
        "visible = str(dict(os.environ))\n"
        "for p in pathlib.Path('/proc').glob('[0-9]*/environ'):\n"
        "    try:\n"
        "        visible += p.read_bytes().decode(errors='replace')\n"
        "    except OSError:\n"
        "        pass\n"
        "print(sorted(k for k in os.environ if k.endswith('_KEY') or k.startswith('MLCHAT')))\n"
        "print(any(v in visible for v in " + repr(sorted(CANARY_KEYS.values())) + "))"
    )
    execution = await confined.executor.run(code)
    assert execution.stdout == "[]\nFalse\n"


async def test_root_only_files_cannot_be_read(confined: Confined) -> None:
    report = confined.executor.report
    needs("an unprivileged kernel user or bubblewrap", report.own_user or os.geteuid() != 0)
    execution = await confined.executor.run("open('/etc/shadow').read()")
    assert error_name(execution) == "PermissionError"


async def test_only_the_workspace_is_writable(confined: Confined) -> None:
    needs(
        "filesystem confinement (bubblewrap or Landlock)",
        confined.executor.report.filesystem is not None,
    )
    outside = Path(__file__).parent / "mlchat-escape.txt"  # the app's own source folder
    code = (
        "results = []\n"
        f"for path in ['/usr/mlchat-escape.txt', {str(outside)!r}, '/etc/mlchat-escape']:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        results.append('written')\n"
        "    except OSError as exc:\n"
        "        results.append(type(exc).__name__)\n"
        "open('inside.txt', 'w').write('fine')\n"
        "results"
    )
    execution = await confined.executor.run(code)
    assert error_name(execution) is None
    assert "written" not in execution.results[-1].text  # type: ignore[operator]
    assert not Path("/usr/mlchat-escape.txt").exists() and not outside.exists()
    assert (confined.workspace / "scratch" / "inside.txt").read_text() == "fine"


async def test_the_data_folder_outside_the_workspace_is_hidden(confined: Confined) -> None:
    needs("bubblewrap", confined.executor.report.filesystem == "bubblewrap")
    database = confined.data_dir / "mlchat.db"
    code = (
        f"import os\nprint(os.path.exists({str(database)!r}))\n"
        f"open({str(confined.data_dir / 'planted.txt')!r}, 'w').write('x')"
    )
    execution = await confined.executor.run(code)
    assert execution.stdout == "False\n"
    assert not (
        confined.data_dir / "planted.txt"
    ).exists()  # a write there lands in a throwaway tmpfs


async def test_large_files_hit_the_file_size_limit(confined: Confined) -> None:
    code = "with open('big.bin', 'wb') as f:\n    f.write(b'0' * (16 * 2**20))"
    execution = await confined.executor.run(code)
    assert error_name(execution) in {"OSError", "KernelDied"}  # EFBIG, or SIGXFSZ
    assert (confined.workspace / "scratch" / "big.bin").stat().st_size <= LIMITS.file_mb * 2**20


async def test_landlock_alone_confines_writes_to_the_workspace() -> None:
    report = detect_confinement(mechanism="landlock")
    needs("Landlock", report.filesystem == "landlock")
    workspace = Path(tempfile.mkdtemp(prefix="mlchat-landlock-"))
    executor = LocalExecutor(workspace, mechanism="landlock", timeout_s=30)
    try:
        code = (
            "import tempfile\n"
            "try:\n    open('/etc/mlchat-escape', 'w')\nexcept OSError as exc:\n    print(type(exc).__name__)\n"
            "open('inside.txt', 'w').write('ok')\n"
            "tempfile.NamedTemporaryFile().close()\n"
        )
        execution = await executor.run(code)
        assert (error_name(execution), execution.stdout) == (None, "PermissionError\n")
        assert (workspace / "scratch" / "inside.txt").read_text() == "ok"
    finally:
        await executor.close()
