"""The app process SIGKILLed while it writes: nothing acknowledged is lost, the database is sound.

A child process (tests/reliability/sigkill_child.py) chats through the real
Assistant, router and store against a fake OpenAI server, printing an ``ack``
line after each finished turn. The parent kills it with SIGKILL at a random
moment, twice over the same database, then checks ``PRAGMA
integrity_check`` and that every acknowledged turn's user message, reply and
usage row are present.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _child(data_dir: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.sigkill_child", str(data_dir), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _connect(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "mlchat.db")


def test_acknowledged_turns_survive_sigkill_and_the_database_passes_integrity_check(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    rng = random.Random(9)
    acknowledged: list[tuple[str, int]] = []
    for _ in range(2):
        child = _child(tmp_path, "loop")
        assert child.stdout is not None
        wanted = rng.randint(4, 10)
        for seen, line in enumerate(child.stdout, start=1):
            _, thread, number = line.split()
            acknowledged.append((thread, int(number)))
            if seen >= wanted:
                break
        time.sleep(rng.uniform(0.0, 0.05))  # land somewhere inside the next turn's writes
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
    db = _connect(tmp_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    found = 0
    for thread, number in acknowledged:
        turn = db.execute(
            "SELECT turn_id FROM messages WHERE thread_id = ? AND role = 'user' AND content = ?",
            (thread, f"message {number}"),
        ).fetchone()
        assert turn is not None, (thread, number)
        reply = db.execute(
            "SELECT count(*) FROM messages WHERE turn_id = ? AND role = 'assistant'", turn
        ).fetchone()[0]
        usage = db.execute("SELECT count(*) FROM llm_calls WHERE turn_id = ?", turn).fetchone()[0]
        assert reply == 1 and usage == 1, (thread, number, reply, usage)
        found += 1
    record_property("rows_acknowledged", len(acknowledged))
    record_property("rows_found", found)
    assert found == len(acknowledged) >= 8


def test_a_reply_and_its_usage_row_are_stored_together_or_not_at_all(tmp_path: Path) -> None:
    child = _child(tmp_path, "after-usage")
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL  # killed right after the usage commit
    db = _connect(tmp_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    usage_turns = {r[0] for r in db.execute("SELECT turn_id FROM llm_calls")}
    reply_turns = {
        r[0] for r in db.execute("SELECT turn_id FROM messages WHERE role = 'assistant'")
    }
    assert usage_turns, "the model call was recorded"
    assert usage_turns == reply_turns
