"""Workspaces under an fsspec URL: app files travel, sandbox files and links do not (issue 20)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from assistant.events import ToolFinished
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.workspace import Workspace
from assistant.workspace_mirror import MANIFEST, WorkspaceMirror


@pytest.fixture
def url() -> str:
    return f"memory://mlchat-{uuid.uuid4().hex[:8]}"


def test_app_files_are_pushed_and_pulled_but_scratch_and_links_stay(
    url: str, tmp_path: Path
) -> None:
    here = Workspace.at(tmp_path / "a" / "t1")
    here.write_bytes("uploads/churn.csv", b"x,churn\n1,yes\n")
    here.write_bytes("runs/r1/model.joblib", b"model bytes")
    (here.scratch).mkdir(exist_ok=True)
    (here.scratch / "planted.py").write_text("import os")
    (here.uploads / "passwd.csv").symlink_to("/etc/passwd")
    mirror = WorkspaceMirror(url)

    assert mirror.push(here.root) == 2
    assert mirror.push(here.root) == 0  # nothing changed since

    there = tmp_path / "b" / "t1"
    assert mirror.pull(there) == 2
    assert (there / "uploads" / "churn.csv").read_bytes() == b"x,churn\n1,yes\n"
    assert (there / "runs" / "r1" / "model.joblib").read_bytes() == b"model bytes"
    assert not (there / "scratch").exists() and not (there / "uploads" / "passwd.csv").exists()


def test_a_hostile_remote_cannot_write_outside_the_app_folders(url: str, tmp_path: Path) -> None:
    fs, root = fsspec.url_to_fs(url)
    remote = f"{root}/t1"
    files = {
        "../escaped.txt": b"out",
        "scratch/run.py": b"import os",
        "uploads/ok.csv": b"a\n1\n",
        "uploads/tampered.csv": b"not what the manifest says",
    }
    for name, data in files.items():
        fs.pipe_file(f"{remote}/{name}", data)
    from tools.io.safe_files import sha256_hex

    manifest = {name: sha256_hex(data) for name, data in files.items()}
    manifest["uploads/tampered.csv"] = sha256_hex(b"the original")
    fs.pipe_file(f"{remote}/{MANIFEST}", json.dumps(manifest).encode())

    folder = tmp_path / "ws" / "t1"
    assert WorkspaceMirror(url).pull(folder) == 1
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "uploads/ok.csv"
    ]
    assert not (tmp_path / "ws" / "escaped.txt").exists()


async def test_a_conversation_continues_on_an_empty_disk_from_the_mirrored_workspace(
    url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {
        "MLCHAT_DATA_DIR": str(data),
        "MLCHAT_WORKSPACE_URL": url,
        "MLCHAT_BUDGET_S": "3",
    }
    settings = Settings.from_env(env, env_file=tmp_path / "none.env")
    frame = pd.DataFrame(
        {
            "tenure": [(i * 7) % 72 for i in range(80)],
            "contract": [("monthly", "yearly")[i % 2] for i in range(80)],
            "churn": ["yes" if (i * 7) % 72 < 20 else "no" for i in range(80)],
        }
    )
    frame.to_csv(tmp_path / "churn.csv", index=False)
    first = Assistant(settings)
    first.attach_file("t1", tmp_path / "churn.csv")
    [_ async for _ in first.run_turn("t1", "train a model to predict churn")]
    run = first.runs.latest("t1", with_model=True)
    assert run is not None
    await first.close()

    # Another machine: the same data folder path on its own, empty disk; the store is kept.
    shutil.rmtree(data / "workspaces")
    second = Assistant(settings)
    events = [e async for e in second.run_turn("t1", "explain the model")]
    await second.close()
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [e.tool for e in finished] == ["explain_model"]
    assert "error" not in finished[0].summary.lower()
    assert (data / "workspaces" / "t1" / "uploads" / "churn.csv").is_file()
    assert Path(run.artifacts["model"]).is_file()


def test_a_file_url_is_a_shared_mount_used_directly(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    env = {"MLCHAT_DATA_DIR": str(tmp_path / "data"), "MLCHAT_WORKSPACE_URL": f"file://{shared}"}
    settings = Settings.from_env(env, env_file=tmp_path / "none.env")
    assert settings.workspace_for("t/1") == shared / "t1"
    local = Settings.from_env({"MLCHAT_DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none.env")
    assert local.workspace_for("t1") == tmp_path / "workspaces" / "t1"
