"""The app SIGKILLed mid-training: no orphaned worker, and the run is told as interrupted.

``mlchat chat`` (the real command, offline) trains on a table large enough to
keep the worker busy; once the worker process exists the test SIGKILLs the
chat process. The worker (a child of the forkserver, which exits when the app
does) must be gone within a few seconds: ``PR_SET_PDEATHSIG``. The next
``mlchat chat --thread`` marks the run ``interrupted``, says so once with a
hint to train again, leaves a run owned by a live process alone, and "train
again" reruns it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from assistant.processes import current_owner

ROOT = Path(__file__).resolve().parents[2]


def _env(data: Path, budget_s: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("MLCHAT_")
    }
    env.update({"MLCHAT_DATA_DIR": str(data), "MLCHAT_BUDGET_S": budget_s})
    return env


def _chat(data: Path, *args: str, budget_s: str = "60") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "chat", *args],
        cwd=ROOT,
        env=_env(data, budget_s),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(condition, *, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _runs(data: Path) -> list[tuple[str, str, str, str]]:
    if not (data / "mlchat.db").exists():
        return []
    with sqlite3.connect(data / "mlchat.db") as db:
        try:
            return db.execute(
                "SELECT id, thread_id, status, leaderboard FROM runs ORDER BY created_at"
            ).fetchall()
        except sqlite3.OperationalError:
            return []


def _table(path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 20_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n).round(4) for i in range(12)})
    frame["kind"] = rng.choice(["a", "b", "c"], n)
    frame["y"] = np.where(frame["x0"] + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    frame.to_csv(path, index=False)
    return path


def test_sigkill_mid_training_kills_the_worker_and_the_run_is_offered_again(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    data = tmp_path / "data"
    table = _table(tmp_path / "big.csv")
    chat = _chat(data, "--file", str(table), "train a model to predict y")
    app = psutil.Process(chat.pid)

    def worker() -> list[psutil.Process]:
        runs = _runs(data)
        if not runs or runs[-1][2] != "running" or runs[-1][3] == "[]":
            return []  # wait for the first finished candidate: training is under way
        direct = {p.pid for p in app.children()}
        return [p for p in app.children(recursive=True) if p.ppid() in direct]

    started_at = time.monotonic()
    workers = _wait_for(worker, timeout_s=25, what="the training worker")
    record_property("until_mid_training_s", round(time.monotonic() - started_at, 1))
    descendants = app.children(recursive=True)
    chat.send_signal(signal.SIGKILL)
    chat.wait(timeout=5)
    assert chat.stdout is not None
    chat.stdout.close()
    killed_at = time.monotonic()
    gone, alive = psutil.wait_procs(descendants, timeout=5)
    for leftover in alive:  # do not leave them to the machine if the test fails
        leftover.kill()
    assert not alive, f"left running after the app died: {[p.cmdline()[:3] for p in alive]}"
    assert {p.pid for p in workers} <= {p.pid for p in gone}
    record_property("workers_gone_after_s", round(time.monotonic() - killed_at, 2))
    assert time.monotonic() - killed_at < 5
    (run_id, thread, status, _) = _runs(data)[-1]
    assert status == "running"  # nobody could mark it: the process died

    # A run owned by a live process (this test) must survive the restart's recovery.
    with sqlite3.connect(data / "mlchat.db") as db:
        db.execute(
            "INSERT INTO runs(id, thread_id, status, plan, owner, created_at) "
            "VALUES ('live', ?, 'running', '{}', ?, 0)",
            (thread, current_owner()),
        )

    first = _chat(data, "--thread", thread, "show the leaderboard")
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    statuses = {r[0]: r[2] for r in _runs(data)}
    assert statuses[run_id] == "interrupted" and statuses["live"] == "running"
    assert out.count("was interrupted") == 1, out
    assert "predict “y” was interrupted" in out and "Say “train again”" in out

    again = _chat(data, "--thread", thread, "train again for 5 seconds")
    rerun_at = time.monotonic()
    out, _ = again.communicate(timeout=90)
    record_property("rerun_s", round(time.monotonic() - rerun_at, 1))
    assert again.returncode == 0, out
    assert "was interrupted" not in out  # told once
    newest = _runs(data)[-1]
    assert newest[0] not in (run_id, "live") and newest[2] == "finished", out
    with sqlite3.connect(data / "mlchat.db") as db:
        plan = json.loads(
            db.execute("SELECT plan FROM runs WHERE id = ?", newest[:1]).fetchone()[0]
        )
    assert (plan["target"], plan["budget_s"]) == ("y", 5)  # the same request, as asked
