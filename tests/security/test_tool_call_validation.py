"""LLM05/LLM06: tool calls the model gets wrong or abuses are refused as tool errors.

Through the real Assistant and real tools with a scripted model: an unknown
tool, wrong argument types, dataset ids that are paths out of the workspace,
and an endless loop of calls (stopped by the per-turn cap). Each bad call
comes back to the model as an error it can act on; no file outside the
workspace is read; the turn ends normally and the thread goes on. (The agent
loop alone is covered in tests/assistant/test_agent.py.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from assistant.events import Notice, ToolFinished, TurnFinished
from assistant.session import Assistant
from tests.assistant.scripted import ScriptedProvider, call, say
from tests.reliability.common import offline_settings, reply, small_table, turn

pytestmark = pytest.mark.asyncio(loop_scope="module")
SECRET = "TOP-SECRET-OUTSIDE-THE-WORKSPACE"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Assistant, ScriptedProvider, Path]]:
    root = tmp_path_factory.mktemp("tool-calls")
    (root / "secret.csv").write_text(f"a,b\n{SECRET},1\nx,2\n")
    small_table().to_csv(root / "good.csv", index=False)
    model = ScriptedProvider([])
    helper = Assistant(offline_settings(root, MLCHAT_MAX_TOOL_CALLS="5"), provider=model)
    yield helper, model, root
    await helper.close()


BAD_CALLS = {
    "unknown_tool": (call("shell", command="cat /etc/passwd"), r"no tool named 'shell'"),
    "wrong_type": (call("train_models", budget_s="a lot", models="tree"), r"budget_s|integer"),
    "dotdot_dataset": (call("profile_dataset", dataset_id="../../secret.csv"), r"dataset"),
    "absolute_dataset": (call("profile_dataset", dataset_id="{root}/secret.csv"), r"dataset"),
    "predict_absolute": (call("predict_file", dataset_id="{root}/secret.csv"), r"dataset|model"),
    "extra_argument": (call("profile_dataset", path="/etc/passwd"), r"path"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CALLS))
async def test_a_bad_tool_call_is_an_error_the_model_sees_and_nothing_leaks(
    rig: tuple[Assistant, ScriptedProvider, Path], kind: str
) -> None:
    assistant, model, root = rig
    thread = f"bad-call-{kind}"
    record = assistant.attach_file(thread, root / "good.csv")
    script, mentions = BAD_CALLS[kind]
    script = [
        type(d)(type(d.call)(d.call.id, d.call.name, d.call.arguments.replace("{root}", str(root))))
        if hasattr(d, "call")
        else d
        for d in script
    ]
    model.replies[:] = [script, say("Sorry, let me try that differently.")]
    events = await turn(assistant, thread, "do it", [record])
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert len(finished) == 1 and finished[0].is_error
    assert re.search(mentions, finished[0].summary, re.I), finished[0].summary
    assert SECRET not in finished[0].summary
    assert all(SECRET not in m.content for request in model.requests for m in request)
    assert "root:x:0:0" not in finished[0].summary
    assert isinstance(events[-1], TurnFinished) and not events[-1].stopped
    model.replies[:] = [say("Hello again.")]
    assert "Hello again." in reply(await turn(assistant, thread, "still there?"))


async def test_an_endless_tool_loop_stops_at_the_per_turn_cap(
    rig: tuple[Assistant, ScriptedProvider, Path],
) -> None:
    assistant, model, root = rig
    thread = "endless"
    record = assistant.attach_file(thread, root / "good.csv")
    model.replies[:] = [call("profile_dataset", call_id=f"c{i}") for i in range(50)]
    before = len(model.requests)
    events = await turn(assistant, thread, "profile forever", [record])
    ran = [e for e in events if isinstance(e, ToolFinished)]
    assert len(ran) == 5  # MLCHAT_MAX_TOOL_CALLS
    assert len(model.requests) - before == 6  # the sixth reply asked for one call too many
    assert any(isinstance(e, Notice) and "MLCHAT_MAX_TOOL_CALLS" in e.message for e in events)
    assert isinstance(events[-1], TurnFinished) and events[-1].stopped
    model.replies[:] = [say("Done looping.")]
    assert "Done looping." in reply(await turn(assistant, thread, "ok"))
