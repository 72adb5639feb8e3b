"""The server SIGKILLed mid-training, in the browser: the reopened thread says so and offers a rerun."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ChainlitServer, log_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_server() -> Iterator[ChainlitServer]:
    """A server whose trainings take a minute, so there is time to kill it mid-run."""
    base = Path(tempfile.mkdtemp(prefix="mlchat-e2e-crash-"))
    server = ChainlitServer(base / "data", base / "server.log", env={"MLCHAT_BUDGET_S": "60"})
    server.start()
    yield server
    if server.process is not None:  # a rerun is still training: do not wait for a clean stop
        server.process.kill()
        server.process.wait(timeout=10)
        server.process = None
    shutil.rmtree(base, ignore_errors=True)


def _runs(server: ChainlitServer) -> list[tuple[str, str, str, dict[str, object]]]:
    with sqlite3.connect(server.data_dir / "mlchat.db") as conn:
        rows = conn.execute(
            "SELECT id, status, leaderboard, plan FROM runs ORDER BY created_at"
        ).fetchall()
    return [(r[0], r[1], r[2], json.loads(r[3] or "{}")) for r in rows]


def _wait_for_training(server: ChainlitServer, *, after: int, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = _runs(server)[after:]
        if runs and runs[-1][1] == "running" and runs[-1][2] != "[]":
            return runs[-1][0]
        time.sleep(0.1)
    raise AssertionError("no training run got under way")


def test_a_run_cut_off_by_sigkill_is_reported_once_with_a_run_again_button(
    slow_server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n).round(4) for i in range(10)})
    frame["churn"] = np.where(frame["x0"] + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    upload = tmp_path / "big.csv"
    frame.to_csv(upload, index=False)
    marker = f"train a model on this file to predict churn; attempt {uuid.uuid4().hex[:6]}"

    log_in(page, slow_server)
    page.set_input_files("#upload-button-input", upload)
    expect(page.locator("#attachments")).to_contain_text("big.csv")
    page.fill("#chat-input", marker)
    page.click("#chat-submit")
    run_id = _wait_for_training(slow_server, after=0)

    assert slow_server.process is not None
    slow_server.process.kill()  # SIGKILL: no shutdown handler runs
    slow_server.process.wait(timeout=10)
    slow_server.process = None
    slow_server.start()

    page.goto(slow_server.url)
    page.locator("#thread-history").get_by_text(marker).click()
    notice = page.locator("[data-step-type='assistant_message']").filter(has_text="was interrupted")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("The training run to predict “churn” was interrupted")
    assert [r[1] for r in _runs(slow_server) if r[0] == run_id] == ["interrupted"]

    page.get_by_role("button", name="Run again").click()
    expect(page.locator("[data-step-type='user_message']").last).to_contain_text(
        "Train again with the same settings."
    )
    rerun_id = _wait_for_training(slow_server, after=1)
    rerun = next(r for r in _runs(slow_server) if r[0] == rerun_id)
    interrupted = next(r for r in _runs(slow_server) if r[0] == run_id)
    assert rerun[3] == interrupted[3]  # the same request: target, budget, models

    page.reload()  # reopening again: told once only
    expect(page.locator("[data-step-type='user_message']").last).to_contain_text("Train again")
    expect(notice).to_have_count(1)
