"""A conversation as a Jupyter notebook that redoes its work (``mlchat export-notebook``).

The notebook is built from what the store recorded: each user message becomes
a markdown cell (“You asked”), and each tool call under it the code that does
the same with the engine in :mod:`tools`: load and profile the file, train with
the run's plan (target, metric, models, validation, budget, seed), the metrics,
the figures, the model files, explanations and predictions; every ``run_code``
cell appears verbatim, in order, after the dataset is loaded as ``df`` the way
the sandbox loads it. Steps with no engine call of their own (a tuning search,
a plot, a question) get a markdown cell with what the chat answered.

Values from the conversation (file names, columns, the plan) enter code cells
only through ``repr``/JSON literals. Code that ran in the sandbox runs here in
the user's own kernel, unconfined: its cell says so.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from assistant.sandbox.preamble import preamble_code
from assistant.store import ConversationStore, DatasetRecord, RunStore, StoredMessage
from tools.errors import UserFacingError

_ATTACHED = re.compile(r"\n*\[Attached: .*\]\s*$", re.S)
_DATASET_ID = re.compile(r"\(dataset (d\d+)\)")

_SETUP = """\
import json
from pathlib import Path

import pandas as pd
import plotly.io as pio
from IPython.display import display

from tools.analyze import prepare_target, profile_table
from tools.search.automl import candidate_label, fit_automl
from tools.io import file_sha256, load_table
from tools.explain import explain_feature, explain_result
from tools.export import export_run
from tools.plan import Plan
from tools.predict import load_model, predict_file
from tools.io import fitted_model, label_target

# The conversation's files; change a path here if you moved the file.
DATA = {data}
# Models, figures and predictions this notebook writes.
OUT = Path("mlchat-notebook-output")
OUT.mkdir(exist_ok=True)
"""

_TRAIN = """\
table = load_table(DATA[{dataset!r}])
frame = label_target(table.frame, {target!r}, table.parser)
plan = Plan.model_validate(json.loads({plan_json!r}))
task = "regression" if plan.task == "regression" else "classification"
profile = profile_table(frame, target=plan.target, seed=plan.seed, task=task)
print(profile.summary())
print(plan.describe())
result = fit_automl(frame, plan, profile=profile)
leaderboard = pd.DataFrame(
    [
        {{"model": candidate_label(row.family), "score": row.score, "std": row.std,
          "status": row.status}}
        for row in result.leaderboard
    ]
)
print("Best:", candidate_label(result.best_family))
display(leaderboard)
pd.Series(result.cv_metrics, name="cross-validated")
"""

_FIGURES = """\
out_dir = OUT / {run_id!r}
explanation = explain_result(result, frame, out_dir=out_dir / "figures")
for figure in explanation.figures:
    display(pio.from_json(figure.plotly_json))
print("\\n".join(explanation.insights))
"""

_FILES = """\
exported = export_run(
    result,
    out_dir=out_dir,
    frame=frame,
    data_path=DATA[{dataset!r}],
    data_sha256=file_sha256(DATA[{dataset!r}]),
    explanation=explanation,
    notes=[*table.notes, *result.notes],
    target_words=table.boolean_words.get(plan.target),
    parser=table.parser,
)
model, schema = load_model(exported.out_dir)  # the file this notebook just wrote
sorted(path.name for path in exported.out_dir.iterdir())
"""

_EXPLAIN_FEATURE = """\
rows, _ = prepare_target(frame, plan.target)
inner = fitted_model(model)
columns = list(inner.input_columns_)
story = explain_feature(
    inner,
    rows.loc[:, columns],
    rows[plan.target].to_numpy(),
    {feature!r},
    task=plan.task,
    out_dir=out_dir / "figures",
    importance=explanation.importance,
    words=table.parser.words({feature!r}),
)
print("\\n".join(story.insights))
display(pio.from_json(story.figure.plotly_json))
"""

_EXPLAIN = """\
print("\\n".join(explanation.insights))
pd.DataFrame([{"column": i.column, "importance": i.mean, "rank": i.rank} for i in explanation.importance])
"""

_PREDICT = """\
predicted = predict_file(
    model, DATA[{dataset!r}], out=OUT / {out_name!r}, schema=schema
)
print(predicted.summary())
pd.read_csv(OUT / {out_name!r}).head()
"""

_PROFILE = """\
table = load_table(DATA[{dataset!r}])
print(profile_table(table.frame{target}).summary())
table.frame.head()
"""


@dataclass
class _State:
    datasets: dict[str, DatasetRecord]
    latest_dataset: str | None = None
    trained: bool = False
    df_dataset: str | None = None
    cells: list[Any] = field(default_factory=list)


def build_notebook(
    conversations: ConversationStore, runs: RunStore, thread_id: str
) -> nbformat.NotebookNode:
    """The notebook that redoes the work of conversation ``thread_id`` (see the module doc).

    Raises :class:`~tools.errors.UserFacingError` when the conversation has no messages.
    """
    messages = conversations.messages(thread_id)
    if not messages:
        raise UserFacingError(f"There is no conversation “{thread_id}” with messages to export.")
    datasets = {record.id: record for record in conversations.datasets(thread_id)}
    state = _State(datasets)
    results = {m.tool_call_id: m for m in messages if m.role == "tool" and m.tool_call_id}
    state.cells.append(new_markdown_cell(_header(thread_id)))
    state.cells.append(new_code_cell(_SETUP.format(data=_data_literal(datasets))))
    for message in messages:
        if message.role == "user" and message.name is None:
            _asked(message, state)
        elif message.role == "assistant" and message.tool_calls:
            for call in message.tool_calls:
                _tool_cells(call, results.get(call.get("id", "")), runs, state)
    notebook = new_notebook(cells=state.cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> Path:
    """Write ``notebook`` to ``path`` (validated ``.ipynb``); return the path."""
    nbformat.validate(notebook)
    path.write_text(nbformat.writes(notebook), encoding="utf-8")
    return path


def _header(thread_id: str) -> str:
    day = time.strftime("%Y-%m-%d", time.gmtime())
    return (
        f"# mlchat conversation {thread_id}\n\n"
        f"Exported from mlchat on {day}. Each **You asked** cell is a message of the "
        "conversation; the code under it redoes what mlchat did, with mlchat's engine "
        "(`tools/`; install mlchat with `pip install -e .` in its folder). Training uses the "
        "run's own plan (target, metric, models, validation, budget, seed); budgets are "
        "wall-clock time, so the leaderboard can differ a little. Code that ran in the chat's "
        "sandbox runs here in your own kernel, without the sandbox: read it first."
    )


def _data_literal(datasets: dict[str, DatasetRecord]) -> str:
    if not datasets:
        return "{}"
    lines = [
        f"    {key!r}: Path({str(record.path)!r}),  # {record.name}"
        for key, record in datasets.items()
    ]
    return "{\n" + "\n".join(lines) + "\n}"


def _asked(message: StoredMessage, state: _State) -> None:
    attached = _DATASET_ID.findall(message.content)
    if attached:
        state.latest_dataset = attached[-1]
    text = _ATTACHED.sub("", message.content).strip()
    names = [state.datasets[d].name for d in attached if d in state.datasets]
    quoted = "\n".join(f"> {line}" for line in text.splitlines()) or "> (no text)"
    files = f"\n\n(attached: {', '.join(names)})" if names else ""
    state.cells.append(new_markdown_cell(f"### You asked\n\n{quoted}{files}"))


def _tool_cells(
    call: dict[str, Any], result: StoredMessage | None, runs: RunStore, state: _State
) -> None:
    name = str(call.get("name", ""))
    try:
        arguments = json.loads(call.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = {}
    outcome = _parsed(result)
    if outcome is None:
        said = (result.content if result is not None else "no result").strip()
        state.cells.append(new_markdown_cell(f"*In the chat, {name} did not succeed:* {said}"))
        return
    if name == "train_models":
        _train_cells(outcome, runs, state)
    elif name == "run_code" and isinstance(arguments.get("code"), str):
        _code_cells(arguments["code"], state)
    elif name == "predict_file" and state.trained:
        dataset = arguments.get("dataset_id") or state.latest_dataset
        if dataset in state.datasets:
            out_name = str(
                outcome.get("file") or f"{state.datasets[dataset].path.stem}-predictions.csv"
            )
            state.cells.append(new_code_cell(_PREDICT.format(dataset=dataset, out_name=out_name)))
    elif name == "explain_model" and state.trained:
        feature = outcome.get("feature") or arguments.get("feature")
        source = (
            _EXPLAIN_FEATURE.format(feature=str(feature))
            if isinstance(feature, str) and feature
            else _EXPLAIN
        )
        state.cells.append(new_code_cell(source))
    elif name == "profile_dataset":
        dataset = arguments.get("dataset_id") or state.latest_dataset
        if dataset in state.datasets:
            target = arguments.get("target")
            extra = f", target={target!r}" if isinstance(target, str) and target else ""
            state.cells.append(new_code_cell(_PROFILE.format(dataset=dataset, target=extra)))
    else:
        summary = str(outcome.get("summary") or "").strip()
        note = f"*In the chat ({name}):* {summary}" if summary else f"*In the chat: {name}.*"
        if name == "tune_model":
            note += (
                "\n\nThis notebook does not replay the tuning search; the model above is the "
                "one trained with the plan."
            )
        state.cells.append(new_markdown_cell(note))


def _train_cells(outcome: dict[str, Any], runs: RunStore, state: _State) -> None:
    run = runs.get(str(outcome.get("run_id", "")))
    if run is None or not run.plan.get("target") or run.dataset_id not in state.datasets:
        state.cells.append(new_markdown_cell(f"*In the chat:* {outcome.get('summary', '')}"))
        return
    dataset = run.dataset_id
    state.latest_dataset = dataset
    plan_json = json.dumps(run.plan, ensure_ascii=False, sort_keys=True)
    target = str(run.plan["target"])
    state.cells.append(
        new_markdown_cell(
            f"Train with the plan of run `{run.id}`. In the chat: {outcome.get('summary', '')}"
        )
    )
    state.cells.append(
        new_code_cell(_TRAIN.format(dataset=dataset, target=target, plan_json=plan_json))
    )
    state.cells.append(new_code_cell(_FIGURES.format(run_id=run.id)))
    state.cells.append(new_code_cell(_FILES.format(dataset=dataset)))
    state.trained = True


def _code_cells(code: str, state: _State) -> None:
    dataset = state.latest_dataset
    if dataset is not None and dataset in state.datasets and dataset != state.df_dataset:
        path = str(state.datasets[dataset].path)
        state.cells.append(new_code_cell("# The sandbox's `df`\n" + preamble_code(path)))
        state.df_dataset = dataset
    state.cells.append(new_markdown_cell("Code that ran in the chat's sandbox:"))
    state.cells.append(new_code_cell(code.rstrip()))


def _parsed(result: StoredMessage | None) -> dict[str, Any] | None:
    """A tool's JSON result, or ``None`` for an error or a missing result."""
    if result is None:
        return None
    try:
        parsed = json.loads(result.content)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
