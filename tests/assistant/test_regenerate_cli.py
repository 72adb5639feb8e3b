"""``/regenerate`` in interactive ``mlchat chat`` answers the last message again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_regenerate_replaces_the_last_reply(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith(("MLCHAT_", "OPENAI_"))
    }
    env["MLCHAT_DATA_DIR"] = str(tmp_path / "data")

    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "chat"],
        input="hello\n/regenerate\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
    )

    assert done.returncode == 0, done.stderr
    assert "/regenerate" in done.stdout  # the help line names it
    with sqlite3.connect(tmp_path / "data" / "mlchat.db") as db:
        rows = db.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
    assert [role for role, _ in rows] == ["user", "assistant"]  # one reply, replaced
    assert rows[0][1] == "hello"
