"""``mlchat chat`` as a user runs it: a subprocess with the offline assistant."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assistant.approval import CodeRequest
from assistant.cli.chat import TerminalApprover

ROOT = Path(__file__).resolve().parent.parent


def mlchat(
    tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("MLCHAT_")
    }
    env.update({"MLCHAT_DATA_DIR": str(tmp_path / "data"), "MLCHAT_BUDGET_S": "4"})
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", "chat", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
        input=stdin,
    )


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tenure": rng.integers(1, 72, 150), "plan": rng.choice(["a", "b"], 150)})
    frame["churn"] = np.where(frame["tenure"] < 20, "yes", "no")
    path = tmp_path / "churn.csv"
    frame.to_csv(path, index=False)
    return path


def test_interactive_turns_then_a_one_shot_follow_up_in_the_same_thread(
    tmp_path: Path, churn_csv: Path
) -> None:
    """Interactive: a failed call's text is the person's wording (issue 18), an unclear
    target is asked as numbered choices and typing a number trains on that column; then a
    one-shot follow-up continues the same thread."""
    typed = "deploy the model\ntrain a model\n2\n"
    first = mlchat(tmp_path, "--file", str(churn_csv), stdin=typed)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "There is no trained model yet: train one first." in out
    assert "(train_models)" not in out and "Ask the user" not in out
    assert "Which column should I predict?\n  1. predict churn\n  2. predict plan\n" in out
    assert "· train_models(target='plan'," in out
    assert "Trained" in out and "Leaderboard" in out
    assert "[file] Fitted pipeline (model.joblib)" in out
    assert "Traceback" not in out + first.stderr
    thread = re.search(r"thread: (\w+)", out)
    assert thread is not None

    second = mlchat(tmp_path, "--thread", thread.group(1), "show the leaderboard")
    assert second.returncode == 0, second.stderr
    assert "Leaderboard of run" in second.stdout
    assert f"thread: {thread.group(1)}" in second.stdout


def test_user_errors_exit_2_with_one_sentence(tmp_path: Path) -> None:
    unknown = mlchat(tmp_path, "--thread", "nope", "hello")
    assert unknown.returncode == 2
    assert "There is no conversation “nope”" in unknown.stderr
    missing = mlchat(tmp_path, "--file", "absent.csv", "train")
    assert missing.returncode == 2
    assert "absent.csv" in missing.stderr and "Traceback" not in missing.stderr


async def test_the_terminal_asks_before_code_runs_and_skips_without_a_terminal() -> None:
    request = CodeRequest("t1", "c1", "import os\nos.remove('x')\n")
    answers = iter(["maybe", "a"])
    out = io.StringIO()
    asking = TerminalApprover(out, can_ask=True, ask=lambda prompt: next(answers))
    assert await asking.decide(request) == "allow_conversation"
    assert "  | os.remove('x')\n" in out.getvalue()

    out = io.StringIO()
    assert await TerminalApprover(out, can_ask=False).decide(request) == "skip"
    assert "--allow-code" in out.getvalue()
    allowed = TerminalApprover(io.StringIO(), can_ask=False, allow_all=True)
    assert await allowed.decide(request) == "run"


def test_a_question_is_printed_as_numbered_choices_and_a_number_picks_one(
    tmp_path: Path,
) -> None:
    from assistant.cli.chat import _Renderer, picked
    from assistant.events import Choices

    out = io.StringIO()
    renderer = _Renderer(out, tmp_path)
    renderer.render(Choices("Which column should I predict?", ("predict churn", "predict plan")))
    assert out.getvalue().splitlines()[:3] == [
        "Which column should I predict?",
        "  1. predict churn",
        "  2. predict plan",
    ]
    assert picked("2", renderer.offered) == "predict plan"
    assert picked("3", renderer.offered) == "3"
    assert picked("predict tenure", renderer.offered) == "predict tenure"
