"""Tool errors reworded for a person: in offline mode nobody else reads them.

A tool's error text is addressed to the model that called it ("Ask the user,
or call profile_dataset to see the columns."). Offline, the person reads it,
so instructions to the model become instructions to them, tool names become
what the tool does, and argument names disappear.
"""

from __future__ import annotations

import json
import re

_WHOLE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^Which column should I predict\?.*$", re.S),
        "Which column should I predict? Say, for example, “predict churn” with one of the "
        "file's column names, or “show the data” to see them.",
    ),
    (
        re.compile(r"^No file is attached to this conversation yet\..*$", re.S),
        "No file is attached yet. Attach a CSV, TSV, Parquet, Excel or JSON file, then say what "
        "to predict, e.g. “train a model to predict churn”.",
    ),
    (
        re.compile(r"^The newest file \((.+?)\) is the one the model was trained on\..*$", re.S),
        "The newest file ({0}) is the one the model was trained on. Attach the file with the "
        "rows to predict, then say “predict on this file”.",
    ),
    (
        re.compile(r"^Invalid arguments for (\w+):.*$", re.S),
        "{0} needs something I couldn't read from that. Try rephrasing it, e.g. with the exact "
        "column name.",
    ),
    (
        re.compile(r"^There is no tool named .*$", re.S),
        "I can't do that without a language model.",
    ),
    (
        re.compile(r"^The (\w+) tool failed unexpectedly \(reference (\w+)\)\.?$"),
        "{0} failed on our side (reference {1}). Please try again; if it keeps failing, "
        "tell us the reference.",
    ),
    (
        re.compile(r"^(\w+) was not run: the user's message did not ask for it\..*$", re.S),
        "{0} did not start: your message did not ask for it. Say what you want, e.g. "
        "“train a model to predict churn”.",
    ),
    (
        re.compile(r"^There is no dataset '?(\w+)'?\. Attached datasets: (.*)\.$", re.S),
        "There is no attached file {0}. Attached: {1}.",
    ),
    (
        re.compile(r"^Propose at most (\d+) features per call\.$"),
        "I can add at most {0} features at a time.",
    ),
    (
        re.compile(r"^The user declined to run this code\.$"),
        "The code was not run (you chose to skip it).",
    ),
    (
        re.compile(r"^Give at least one plan field to change\.$"),
        "Tell me what to change, e.g. “use F1”, “only tree models” or “use a 2 minute budget”.",
    ),
)
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bAsk the user to (\w)"), "Please {0}"),
    (re.compile(r",? or pass its dataset_id explicitly"), ""),
    (re.compile(r"\s*Fix (?:them|it) and call again\."), ""),
    (re.compile(r"Fix them and call again:"), "Fix them and send them again:"),
    (re.compile(r"\bcall (\w+) to see\b"), "say “show the data” to see"),
    (re.compile(r"\bset_plan is not enough\b"), "changing the plan is not enough"),
    (re.compile(r"\bdataset_id\b"), "dataset"),
    (re.compile(r"\s*\((?:[a-z]+_[a-z_]+)\)"), ""),
    (re.compile(r"\bthe user's\b"), "your"),
    (re.compile(r"\b[Tt]he user\b"), "you"),
    (re.compile(r"\bper call\b"), "at a time"),
)
_TOOL_WORDS = {
    "profile_dataset": "Profiling the data",
    "set_plan": "Changing the plan",
    "train_models": "Training",
    "tune_model": "Tuning",
    "engineer_features": "Adding the feature",
    "show_leaderboard": "Showing the leaderboard",
    "explain_model": "Explaining the model",
    "suggest_improvements": "Looking for improvements",
    "predict_file": "Predicting",
    "list_artifacts": "Listing the files",
    "deploy_model": "Starting the model service",
    "export_notebook": "Writing the notebook",
    "plot_columns": "Plotting",
    "run_code": "Running the code",
    "query_data": "Answering the question",
    "ask_user": "Asking",
}
_TOOL_NAME = re.compile(r"\b(?:" + "|".join(_TOOL_WORDS) + r")\b")


def for_person(tool: str, message: str) -> str:
    """``message`` (a tool's error for the model) as the user should read it."""
    text = message.strip()
    for pattern, replacement in _WHOLE:
        match = pattern.match(text)
        if match is not None:
            return replacement.format(*(_tool_words(g) for g in match.groups()))
    del tool  # the wording depends on the message alone today
    for pattern, replacement in _PHRASES:
        text = pattern.sub(lambda m, r=replacement: r.format(*m.groups()), text)
    text = _TOOL_NAME.sub(lambda m: _tool_words(m.group(0)).lower(), text)
    return text if text.endswith((".", "!", "?", "”")) else text + "."


def summary_for_person(content: str) -> str:
    """A successful result's ``summary`` (JSON) with what it says of "the user" said to them
    ("Asked the user: ..." -> "Asked you: ..."); anything else is returned as it is."""
    try:
        value = json.loads(content)
    except ValueError:
        return content
    if not isinstance(value, dict) or not isinstance(value.get("summary"), str):
        return content
    summary = value["summary"]
    for pattern, replacement in _ABOUT_THE_USER:
        summary = pattern.sub(replacement, summary)
    if summary == value["summary"]:
        return content
    return json.dumps({**value, "summary": summary}, ensure_ascii=False)


_ABOUT_THE_USER = (
    (re.compile(r"\bAsked the user\b"), "Asked you"),
    (re.compile(r"\bthe user's\b"), "your"),
    (re.compile(r"\b[Tt]he user\b"), "you"),
)


def _tool_words(name: str) -> str:
    return _TOOL_WORDS.get(name, name)
