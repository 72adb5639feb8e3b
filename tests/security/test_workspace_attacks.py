"""Attacks on the workspace's trust boundary, through ``mlchat chat`` and ``mlchat predict``.

Each test plays what sandboxed code could leave behind (a planted pickle, a link
to a secret, a folder turned into a link) and then asks what a user asks next.
The attack has failed when the marker file a malicious pickle would create is
absent, the canary secret appears in no output and no served file, and nothing
was written where a link pointed.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from assistant.events import Event, File, Notice, TextDelta, ToolFinished
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.workspace import read_user_file
from tools.errors import UserFacingError

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary-secret-6f1d"

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


class _Payload:
    """Unpickling this runs a shell command in the loading process."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _env(data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("MLCHAT_")
    }
    env.update({"MLCHAT_DATA_DIR": str(data), "MLCHAT_BUDGET_S": "3"})
    return env


pytestmark = [pytestmark, pytest.mark.asyncio(loop_scope="module")]


def mlchat(cwd: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(data),
        timeout=240,
    )


class Trained:
    """One conversation trained in this process, shared by the tests of this module.

    Follow-ups go through :meth:`Assistant.run_turn`, the call ``mlchat chat`` and the
    browser make; the sandbox attack and ``mlchat predict`` run as the real commands.
    """

    def __init__(self, root: Path, assistant: Assistant) -> None:
        self.root = root
        self.data = root / "data"
        self.assistant = assistant
        self.thread = "attacked"
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(
            {"tenure": rng.integers(1, 72, 120), "plan": rng.choice(["a", "b"], 120)}
        )
        frame["churn"] = np.where(frame["tenure"] < 20, "yes", "no")
        self.csv = root / "churn.csv"
        frame.to_csv(self.csv, index=False)
        self.workspace = self.data / "workspaces" / self.thread
        self.secret = root / "secret.txt"
        self.secret.write_text(CANARY)

    @property
    def run_dir(self) -> Path:
        run = self.assistant.runs.latest(self.thread, with_model=True)
        assert run is not None
        return Path(run.artifacts["run_dir"])

    async def chat(self, text: str, *files: Path) -> tuple[str, list[Event]]:
        attachments = [self.assistant.attach_file(self.thread, f) for f in files]
        events = [
            e async for e in self.assistant.run_turn(self.thread, text, attachments=attachments)
        ]
        shown = "".join(e.text for e in events if isinstance(e, TextDelta))
        shown += "".join(getattr(e, "summary", "") for e in events if isinstance(e, ToolFinished))
        return shown, events


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def trained(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Trained]:
    root = tmp_path_factory.mktemp("attacks")
    settings = Settings.from_env(
        {"MLCHAT_DATA_DIR": str(root / "data"), "MLCHAT_BUDGET_S": "3"}, env_file=root / "none"
    )
    assistant = Assistant(settings)
    conversation = Trained(root, assistant)
    text, _ = await conversation.chat("train a model to predict churn", conversation.csv)
    assert "Trained" in text, text
    yield conversation
    await assistant.close()


async def test_a_planted_pickle_is_never_unpickled(trained: Trained) -> None:
    model = trained.run_dir / "model.joblib"
    original = model.read_bytes()
    marker = trained.root / "pwned-by-pickle"
    model.write_bytes(pickle.dumps(_Payload(marker)))
    try:
        explained, _ = await trained.chat("why is tenure important?")
        assert "checksum does not match" in explained
        predicted = mlchat(
            trained.root, trained.data, "predict", str(trained.run_dir), str(trained.csv)
        )
        assert predicted.returncode == 2
        assert "checksum does not match" in predicted.stderr
        assert "Traceback" not in predicted.stderr
    finally:
        model.write_bytes(original)
    assert not marker.exists()
    again, _ = await trained.chat("why is tenure important?")  # the real model still loads
    assert "ranked" in again and "checksum" not in again


async def test_sandboxed_code_cannot_touch_the_models(trained: Trained) -> None:
    model = trained.run_dir / "model.joblib"
    before = model.read_bytes()
    marker = trained.root / "pwned-from-sandbox"
    code = f"""
import glob, os, pickle
class P:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
hits = 0
for pattern in ("runs/*/model.joblib", "../runs/*/model.joblib", "{trained.workspace}/runs/*/model.joblib"):
    for path in glob.glob(pattern):
        try:
            with open(path, "wb") as handle:
                pickle.dump(P(), handle)
            hits += 1
        except OSError as exc:
            print("refused", type(exc).__name__)
print("overwritten", hits)
"""
    ran = mlchat(
        trained.root, trained.data, "chat", "--thread", trained.thread, f"```python\n{code}\n```"
    )
    assert ran.returncode == 0, ran.stderr
    assert "overwritten 0" in ran.stdout, ran.stdout
    await trained.chat("why is tenure important?")
    predicted = mlchat(
        trained.root, trained.data, "predict", str(trained.run_dir), str(trained.csv)
    )
    assert not marker.exists()
    if model.read_bytes() != before:  # the write reached it: the checksum must have stopped it
        assert predicted.returncode == 2
        model.write_bytes(before)


async def test_planted_links_to_secrets_are_neither_offered_nor_served(trained: Trained) -> None:
    card = trained.run_dir / "model_card.md"
    saved = card.read_bytes()
    card.unlink()
    card.symlink_to(trained.secret)
    try:
        listed, events = await trained.chat("download the model")
        offered = [e.path.name for e in events if isinstance(e, File)]
        assert "model.joblib" in offered and "model_card.md" not in offered
        assert CANARY not in listed
        with pytest.raises(UserFacingError):
            read_user_file(trained.data, card)
    finally:
        card.unlink()
        card.write_bytes(saved)
    for secret in (
        trained.data / "auth" / "password",
        trained.data / "mlchat.db",
        trained.workspace / "scratch" / "anything.csv",
    ):
        with pytest.raises((UserFacingError, OSError)):
            assert CANARY not in read_user_file(trained.data, secret).decode(errors="replace")


async def test_an_upload_replaced_by_a_link_is_not_read(trained: Trained) -> None:
    other = trained.root / "other-conversation.csv"
    other.write_text(f"tenure,plan,churn\n1,{CANARY},yes\n")
    (upload,) = (trained.workspace / "uploads").iterdir()
    saved = upload.read_bytes()
    upload.unlink()
    upload.symlink_to(other)
    try:
        shown, events = await trained.chat("show the data")
        assert CANARY not in shown + repr(events)
        assert "no longer a regular file" in shown
    finally:
        upload.unlink()
        upload.write_bytes(saved)


async def test_nothing_is_written_through_a_linked_folder(trained: Trained) -> None:
    elsewhere = trained.root / "elsewhere"
    elsewhere.mkdir()
    moved = {}
    for name in ("uploads", "predictions"):
        folder = trained.workspace / name
        moved[name] = folder.rename(trained.workspace / f"{name}.real")
        folder.symlink_to(elsewhere)
    try:
        new_rows = trained.root / "new.csv"
        pd.read_csv(trained.csv).drop(columns="churn").to_csv(new_rows, index=False)
        with pytest.raises(UserFacingError, match="link"):
            await trained.chat("predict on this file", new_rows)
    finally:
        for name, real in moved.items():
            (trained.workspace / name).unlink()
            real.rename(trained.workspace / name)
    assert list(elsewhere.iterdir()) == []


async def test_only_checked_regular_files_leave_the_sandbox(trained: Trained) -> None:
    code = f"""
import os
df.head(3).assign(note="=HYPERLINK(1)").to_csv("result.csv", index=False)
os.symlink({str(trained.secret)!r}, "leak.csv")
os.symlink("/etc/passwd", "passwd.txt")
with open("fake.png", "w") as handle:
    handle.write("not an image")
print("written")
"""
    shown, events = await trained.chat(f"```python\n{code}\n```")
    assert "written" in shown, shown
    offered = {e.path.name: e.path for e in events if isinstance(e, File)}
    assert set(offered) == {"result.csv"}, offered
    copied = offered["result.csv"]
    assert copied.parent == trained.workspace / "outputs"
    assert not copied.is_symlink()
    text = read_user_file(trained.data, copied).decode()
    assert "'=HYPERLINK(1)" in text and "tenure" in text
    refused = " ".join(e.message for e in events if isinstance(e, Notice))
    assert "fake.png" in refused and "leak.csv" in refused, refused
    assert CANARY not in shown + repr(events) + refused
    assert not (trained.workspace / "outputs" / "leak.csv").exists()
