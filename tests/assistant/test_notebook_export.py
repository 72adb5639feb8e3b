"""Export a real conversation as a notebook and run it top to bottom in a clean kernel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import pytest_asyncio

from assistant.cli import main as mlchat
from assistant.events import File, ToolFinished
from assistant.session import Assistant
from assistant.settings import Settings
from tests.assistant.test_conversation import churn_table

pytestmark = pytest.mark.asyncio(loop_scope="module")
THREAD = "notebook"
CODE = "print('rows', df.shape[0])\ndf['tenure'].describe()"
ASKED = [
    "train a model on this file to predict churn",
    "why is tenure important?",
    f"```python\n{CODE}\n```",
    "predict on this file",
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def conversation(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Assistant]:
    root = tmp_path_factory.mktemp("notebook")
    settings = Settings.from_env(
        {"MLCHAT_DATA_DIR": str(root / "data"), "MLCHAT_BUDGET_S": "5"}, env_file=root / "none.env"
    )
    churn_table().to_csv(root / "churn.csv", index=False)
    churn_table(20, seed=2).drop(columns="churn").to_csv(root / "new.csv", index=False)
    helper = Assistant(settings)
    for text, attach in zip(ASKED, ("churn.csv", None, None, "new.csv"), strict=True):
        records = [helper.attach_file(THREAD, root / attach)] if attach else []
        _ = [e async for e in helper.run_turn(THREAD, text, attachments=records)]
    yield helper
    await helper.close()


async def test_the_notebook_follows_the_conversation_and_runs_in_a_clean_kernel(
    conversation: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MLCHAT_DATA_DIR", str(conversation.settings.data_dir))
    out = tmp_path / "conversation.ipynb"
    assert mlchat(["export-notebook", THREAD, "--out", str(out)]) == 0

    notebook = nbformat.read(out, as_version=4)
    asked = [c.source for c in notebook.cells if c.source.startswith("### You asked")]
    assert [a.split("\n\n")[1].splitlines()[0] for a in asked] == [
        "> train a model on this file to predict churn",
        "> why is tenure important?",
        "> ```python",
        "> predict on this file",
    ]
    sources = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert CODE in sources  # the sandbox's code, verbatim, in its own cell
    run = conversation.runs.latest(THREAD, with_model=True)
    assert run is not None
    train = next(s for s in sources if "fit_automl(frame, plan" in s)
    assert (
        json.dumps(run.plan, ensure_ascii=False, sort_keys=True)
        in train.encode().decode("unicode_escape")
        or repr(json.dumps(run.plan, ensure_ascii=False, sort_keys=True)) in train
    )

    work = tmp_path / "kernel"
    work.mkdir()
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    client.execute()

    printed = "\n".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "Best:" in printed and "rows 300" in printed
    assert "share of “yes”" in printed  # "why is tenure important?", in the file's words
    predictions = pd.read_csv(work / "mlchat-notebook-output" / "new-predictions.csv")
    assert len(predictions) == 20 and set(predictions["prediction"]) <= {"yes", "no"}


async def test_export_this_as_a_notebook_offers_the_file_in_the_chat(
    conversation: Assistant,
) -> None:
    events = [e async for e in conversation.run_turn(THREAD, "export this as a notebook")]

    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [e.tool for e in finished] == ["export_notebook"] and not finished[0].is_error
    files = [e for e in events if isinstance(e, File)]
    assert [f.path.name for f in files] == ["conversation.ipynb"]
    notebook = nbformat.reads(files[0].path.read_text(encoding="utf-8"), as_version=4)
    asked = [c.source for c in notebook.cells if c.source.startswith("### You asked")]
    assert len(asked) == len(ASKED) + 1 and "export this as a notebook" in asked[-1]
