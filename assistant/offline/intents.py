"""From one user message to the tool calls it asks for, in order.

A message is cut into clauses ("use F1 and only trees, then train" is three);
each clause may change the plan (target, metric, models, budget, positive
class, task) and may ask for one action (train, tune, explain, plot, a data
question...). Plan changes join a training request when there is one, else
they become one ``set_plan`` call. When the target is needed but unknown or
names no column, or nothing is understood, the answer is a question back
(``ask_user``) rather than a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from assistant.approval import fenced_blocks
from assistant.offline import vocabulary as v
from assistant.offline.columns import PLACEHOLDER, ColumnIndex, mark_columns
from assistant.offline.durations import find_duration
from assistant.offline.facts import FileFacts, Situation
from assistant.offline.features import feature_request, spoken_feature
from assistant.offline.intent import Intent
from assistant.offline.questions import read_question
from assistant.offline.suggestions import likely_targets, target_question, unclear_question
from assistant.offline.typos import repair
from tools.sql_source import find_database_urls

_TRAIN_KEYS = frozenset(
    {"target", "metric", "models", "add_models", "budget_s", "task", "positive_class"}
)
_ATTACHED = re.compile(r"\n\n\[Attached: .*\]\s*$", re.S)


@dataclass
class _Clause:
    text: str
    settings: dict[str, Any] = field(default_factory=dict)
    action: Intent | None = None
    unknown_target: str | None = None


@dataclass
class _Reader:
    facts: FileFacts | None
    situation: Situation
    available: set[str]
    index: ColumnIndex = field(init=False)
    typed: dict[str, str] = field(default_factory=dict)
    """Column -> the misspelling the user wrote for it."""

    def __post_init__(self) -> None:
        self.index = ColumnIndex(self.facts)

    def column(self, placeholder: str) -> str:
        return self.index.names[int(placeholder)]

    def columns_in(self, text: str) -> list[str]:
        return [self.column(m.group(1)) for m in PLACEHOLDER.finditer(text)]


def read_message(
    text: str,
    *,
    facts: FileFacts | None = None,
    situation: Situation | None = None,
    available: set[str],
) -> list[Intent]:
    """The tool calls ``text`` asks for, in order (empty when nothing fits the tools at hand)."""
    body = _ATTACHED.sub("", text).strip()
    situation = situation or Situation()
    if situation.options and re.fullmatch(r"\s*#?(\d{1,2})[.)]?\s*", body):
        choice = int(body.strip(" #.)")) - 1
        if 0 <= choice < len(situation.options):
            answered = Situation(situation.has_model, situation.target, situation.new_file)
            return read_message(
                situation.options[choice], facts=facts, situation=answered, available=available
            )
    code = fenced_blocks(body)
    if code and "run_code" in available:
        return [Intent("run_code", {"code": code[0]})]
    features = feature_request(body)
    if features and "engineer_features" in available:
        return [Intent("engineer_features", {"features": features})]
    if re.search(r"\bnotebook\b|\.ipynb\b", body.lower()) and "export_notebook" in available:
        return [Intent("export_notebook", {})]
    if (
        re.search(r"\b(deploy|serve)\b|\b(api|endpoint|http service)\b", body.lower())
        and "deploy_model" in available
    ):
        return [Intent("deploy_model", {})]
    load, body = _sql_request(body, available)
    if load is not None:  # the table is read first; the rest is about it once it is attached
        rest = read_message(body, facts=facts, situation=situation, available=available)
        return [load, *(c for c in rest if c.tool != "ask_user" or facts is not None)]
    reader = _Reader(facts, situation, available)
    lowered = re.sub(r"[`“”\"]", " ", body.lower())
    mentions = reader.index.find(lowered)
    reader.typed = {m.column: m.typed for m in mentions if m.typed}
    kept = frozenset(w for m in mentions for w in re.findall(r"[a-z]+", lowered[m.start : m.end]))
    marked = repair(mark_columns(lowered, mentions), keep=kept)
    spoken = spoken_feature(marked, reader.index.names)
    if spoken and "engineer_features" in available and situation.has_model:
        return [Intent("engineer_features", {"features": spoken})]
    clauses = [_Clause(part.strip()) for part in v.CLAUSE_BREAK.split(marked) if part.strip()]
    for clause in clauses:
        _read_clause(clause, reader)
    _refer_back(clauses, reader)
    classes = _class_changes(body)  # on the text as written: labels keep their case
    if classes and clauses:
        said = [c for c in clauses if re.search(r"\b(positive|treat|handle|consider)\b", c.text)]
        (said or clauses)[0].settings.update(classes)
        for clause in said[:1]:
            if clause.action is not None and clause.action.tool != "train_models":
                clause.action = None
    calls = _assemble(clauses, reader)
    if situation.new_file:  # "show the data" with a file attached is about that file
        calls = [
            replace(c, arguments={**c.arguments, "dataset_id": situation.new_file})
            if c.tool == "profile_dataset" and not c.arguments.get("dataset_id")
            else c
            for c in calls
        ]
    if not calls and situation.new_file and len(body) < 60 and "profile_dataset" in available:
        calls = [Intent("profile_dataset", {"dataset_id": situation.new_file})]
    if calls or "ask_user" not in available:
        return [c for c in calls if c.tool in available]
    question = unclear_question(marked, reader.index, facts, situation)
    return [question] if question is not None else []


_SQL_TABLE = re.compile(
    r"\b(?:from|on|of|read|load|use)?\s*(?:the\s+)?table\s+[`\"“']?([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)[`\"”']?",
    re.I,
)
_SQL_QUERY = re.compile(r"[`\"“]\s*((?:select|with)\b[^`\"”]+)[`\"”]", re.I)


def _sql_request(body: str, available: set[str]) -> tuple[Intent | None, str]:
    """A ``load_sql_table`` call for "the table orders of postgresql://...", and the text left."""
    if "load_sql_table" not in available:
        return None, body
    urls = find_database_urls(body)
    query = _SQL_QUERY.search(body)
    table = None if query else _SQL_TABLE.search(body)
    if not (urls or re.search(r"\bdatabase\b", body, re.I)) or not (query or table):
        return None, body
    found = query or table
    assert found is not None
    arguments: dict[str, Any] = (
        {"query": found.group(1).strip()} if query else {"table": found.group(1)}
    )
    if urls:
        arguments["source"] = urls[0]
        body = body.replace(urls[0], " ")
    rest = body[: found.start()] + " " + body[found.end() :]
    rest = re.sub(
        r"\s+(?:of|from|in|at)\s+(?:the\s+)?(?:database\s*)?(?=\s|$)", " ", rest, flags=re.I
    )
    return Intent("load_sql_table", arguments), re.sub(r"\s+", " ", rest).strip()


def _read_clause(clause: _Clause, reader: _Reader) -> None:
    text = v.BETTER_METRIC.sub(" metric ", clause.text)  # "accuracy is a better measure"
    situation = reader.situation
    columns = reader.columns_in(text)
    duration = find_duration(text)
    tune = v.TUNE.search(text)
    clause.settings.update(_metric(text))
    clause.settings.update(_models(text))
    if duration is not None and not tune:
        clause.settings["budget_s"] = duration[0]
    why = _why(text, reader)
    target = None if why else _target(text, reader)
    if target is not None:
        clause.settings["target"] = target
    elif not why and not columns:
        unknown = v.PREDICT_UNKNOWN.search(text)
        new_file_to_score = situation.new_file and situation.has_model
        if unknown and not v.PREDICT_FILE_WORDS.search(text) and not new_file_to_score:
            clause.unknown_target = unknown.group(1)
    if (
        situation.new_file
        and situation.has_model
        and "target" not in clause.settings
        and v.PREDICT_FILE.search(text)
        and not v.TRAIN.search(text)
    ):
        clause.action = Intent("predict_file", {"dataset_id": situation.new_file})
    elif v.PREDICT_FILE_WORDS.search(text) and "target" not in clause.settings:
        new_file = situation.new_file
        clause.action = Intent("predict_file", {"dataset_id": new_file} if new_file else {})
    elif tune:
        clause.action = Intent("tune_model", {"budget_s": duration[0]} if duration else {})
    elif v.HAND_OVER.search(text) and "target" not in clause.settings:
        clause.action = Intent("list_artifacts", {})
    elif v.IMPROVE_WORDS.search(text) and not columns and v.IMPROVE.search(text):
        clause.action = Intent("suggest_improvements", {})
        clause.settings.pop("metric", None)
    elif v.TRAIN.search(text) or v.MODEL_VERB.search(text) or v.COLUMN_MODEL.search(text):
        clause.action = Intent("train_models", {})
    elif why is not None:
        clause.action = Intent("explain_model", {"feature": why})
    elif v.BOARD.search(text):
        clause.action = Intent("show_leaderboard", {})
    elif v.NOTEBOOK.search(text) and "export_notebook" in reader.available:
        clause.action = Intent("export_notebook", {})
    elif v.DEPLOY.search(text) and "deploy_model" in reader.available:
        clause.action = Intent("deploy_model", {})
    elif v.DOWNLOAD.search(text) and not v.PLOT.search(text):
        clause.action = Intent("list_artifacts", {})
    elif v.PLOT.search(text) and columns:
        clause.action = Intent("plot_columns", _plot_arguments(text, reader))
    elif (question := read_question(text, reader.index, reader.facts)) is not None:
        clause.action = Intent("query_data", question)
        clause.settings.clear()
    elif _asks_about_model(text, clause.settings):
        clause.action = Intent("explain_model", {})
        clause.settings.pop("metric", None)
    elif v.IMPROVE.search(text):
        clause.action = Intent("suggest_improvements", {})
        clause.settings.pop("metric", None)
    elif v.PROFILE.search(text) and not clause.settings:
        clause.action = Intent("profile_dataset", {})
    action = clause.action
    if "target" in clause.settings and action is not None and action.tool == "explain_model":
        clause.action = Intent("train_models", {})  # "explain what drives revenue": no model yet


def _refer_back(clauses: list[_Clause], reader: _Reader) -> None:
    """ "plot age and tell me why it matters": "it" is the one column said just before."""
    for before, clause in pairwise(clauses):
        named = list(dict.fromkeys(reader.columns_in(before.text)))
        if (
            clause.action is None
            and not reader.columns_in(clause.text)
            and re.search(r"\b(it|that|this one)\b", clause.text)
            and v.WHY.search(clause.text)
            and len(named) == 1
            and named[0] != reader.situation.target
        ):
            clause.action = Intent("explain_model", {"feature": named[0]})


def _assemble(clauses: list[_Clause], reader: _Reader) -> list[Intent]:
    settings: dict[str, Any] = {}
    for clause in clauses:
        for key, value in clause.settings.items():
            if key in settings and isinstance(value, list) and isinstance(settings[key], list):
                settings[key] = [*settings[key], *value]
            else:
                settings[key] = value
    actions = [c.action for c in clauses if c.action is not None]
    unknown = next((c.unknown_target for c in clauses if c.unknown_target), None)
    is_training = any(a.tool == "train_models" for a in actions)
    if "target" in settings and not is_training:
        actions.append(Intent("train_models", {}))  # "the target is X" trains, as it always did
        is_training = True
    if not is_training and unknown is not None and not actions:
        is_training = True  # "predict sales" on a file without such a column
        actions.append(Intent("train_models", {}))
    calls: list[Intent] = []
    if is_training:
        train_settings = {k: val for k, val in settings.items() if k in _TRAIN_KEYS}
        rest = {k: val for k, val in settings.items() if k not in _TRAIN_KEYS}
        if rest:
            calls.append(Intent("set_plan", {**rest, **_without_target(train_settings)}))
            train_settings = {k: val for k, val in train_settings.items() if k == "target"}
        if unknown is not None and "target" not in train_settings:
            closest = reader.index.closest(unknown)
            if closest is not None:
                train_settings["target"] = closest
                reader.typed[closest] = unknown
            elif "ask_user" not in reader.available:
                train_settings["target"] = unknown  # the tool answers with the closest columns
        planned = reader.facts.planned_target if reader.facts is not None else None
        target = train_settings.get("target") or reader.situation.target or planned
        if unknown is not None and "target" not in train_settings:
            target = None  # a column the file lacks: ask rather than keep the old target
        if target is None and "ask_user" in reader.available:
            if train_settings and not rest:
                calls.append(Intent("set_plan", train_settings))
            calls.append(target_question(reader.facts, unknown))
            return _after_training(calls, actions)
        for action in actions:
            if action.tool == "train_models":
                dataset = (
                    {"dataset_id": reader.situation.new_file} if reader.situation.new_file else {}
                )
                typed = reader.typed.get(str(train_settings.get("target")))
                note = (
                    f"Using the column “{train_settings['target']}” for “{typed}”." if typed else ""
                )
                calls.append(Intent("train_models", {**dataset, **train_settings}, note))
                train_settings = {}
            else:
                calls.append(action)
        return _deduplicated(calls)
    if settings:
        position = next(i for i, c in enumerate(clauses) if c.settings)
        before = [c.action for c in clauses[:position] if c.action is not None]
        after = [c.action for c in clauses[position:] if c.action is not None]
        return _deduplicated([*before, Intent("set_plan", settings), *after])
    return _deduplicated(actions)


def _after_training(calls: list[Intent], actions: list[Intent]) -> list[Intent]:
    """Only what comes before training can run before the target is known."""
    first_train = next(i for i, a in enumerate(actions) if a.tool == "train_models")
    return _deduplicated([*actions[:first_train], *calls])


def _deduplicated(calls: list[Intent]) -> list[Intent]:
    kept: list[Intent] = []
    for call in calls:
        if call not in kept:
            kept.append(call)
    return kept


def _without_target(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: val for k, val in settings.items() if k != "target"}


def _metric(text: str) -> dict[str, Any]:
    match = v.METRIC.search(text)
    if match is None:
        return {}
    word = match.group(1)
    metric = next(name for pattern, name in v.METRICS if re.fullmatch(pattern, word))
    if v.IMPROVE_WORDS.search(text):
        return {}
    is_terse = any(  # "only boosting, rmse, go": one item of a list may be the metric alone
        not re.search(r"[a-z0-9«]", v.FILLER.sub(" ", part.replace(word, " ")))
        for part in text.split(",")
        if word in part
    )
    question = re.search(r"\b(what|what's|how|show|tell|give me|report|which)\b", text)
    if is_terse or (v.METRIC_SETTING.search(text) and not question):
        return {"metric": metric}
    return {}


def _models(text: str) -> dict[str, Any]:
    found = [m for m in v.FAMILY.finditer(text)]
    if not found:
        return {}
    families = []
    for match in found:
        word = match.group(1)
        family = next(name for pattern, name in v.FAMILIES if re.fullmatch(pattern, word))
        if family not in families:
            families.append(family)
    before = text[: found[0].start()]
    if v.REMOVE.search(before):
        return {"remove_models": families}
    if v.ONLY.search(text):
        return {"models": families}
    if v.ADD.search(text):
        return {"add_models": families}
    if v.USE.search(before) and not re.search(r"\b(how|did|compare|which|what)\b", text):
        return {"models": families}
    return {}


def _class_changes(text: str) -> dict[str, Any]:
    """ "the positive class is fraud" and "treat it as regression"."""
    changes: dict[str, Any] = {}
    label = r"[`'\"“]?([\w .%/-]+?)[`'\"”]?"
    positive = re.search(
        rf"\bpositive (?:class|label)\s+(?:is|=|:|should be|to)\s+{label}\s*(?:[.,;!?]|$|\band\b)",
        text,
        re.I,
    ) or re.search(
        rf"\b(?:make|set|use)\s+{label}\s+(?:as\s+)?the positive (?:class|label)\b", text, re.I
    )
    if positive:
        changes["positive_class"] = positive.group(1).strip()
    task = re.search(
        r"\b(?:treat|handle|consider|model|do|make)\s+(?:it|this|the target|the task|the problem)"
        r"\s+(?:as\s+)?(?:an?\s+)?(regression|classification|classes|numbers?)\b",
        text,
        re.I,
    )
    if task:
        word = task.group(1).lower()
        changes["task"] = (
            "regression" if word in {"regression", "number", "numbers"} else "classification"
        )
    return changes


def _target(text: str, reader: _Reader) -> str | None:
    """The column the clause names as the thing to predict."""
    excluded = {reader.column(m.group(1)) for m in v.NOT_COLUMN.finditer(text)}
    for pattern in (
        v.TARGET_BEFORE,
        v.TARGET_AFTER,
        v.PREDICT_COLUMN,
        v.MODEL_VERB,
        v.COLUMN_MODEL,
    ):
        for match in pattern.finditer(text):
            column = reader.column(next(g for g in match.groups() if g is not None))
            if column not in excluded:
                return column
    situation = reader.situation
    likely = v.LIKELY.search(text)
    if likely is not None and not (situation.new_file and situation.has_model):
        column = reader.column(next(g for g in likely.groups() if g is not None))
        if not (situation.has_model and column == situation.target):
            return column  # "who is likely to churn": a model of churn is wanted
    drives = v.DRIVES.search(text)
    if drives is not None:
        column = reader.column(drives.group(1))
        if not (situation.has_model and column == situation.target):
            return column
    columns = [c for c in reader.columns_in(text) if c not in excluded]
    if situation.new_file and situation.has_model:
        return None  # a new file to score: only an explicit "predict X" names a target
    if columns and v.TRAINING_CONTEXT.search(text) and not v.PLOT.search(text):
        near = v.FOR_COLUMN.search(text)
        if near is not None and reader.column(near.group(1)) not in excluded:
            return reader.column(near.group(1))
        if len(set(columns)) == 1 and not v.PREDICT_FILE_WORDS.search(text):
            return columns[0]
    return None


def _why(text: str, reader: _Reader) -> str | None:
    """The feature a "why does X matter" clause asks about."""
    columns = reader.columns_in(text)
    if not columns or v.PLOT.search(text):
        return None
    if not v.WHY.search(text) and not re.search(r"\bexplain\b", text):
        return None
    if v.TARGET_BEFORE.search(text) or v.TARGET_AFTER.search(text):
        return None
    if re.search(r"\b(train|retrain|fit|predict)\b", text):
        return None
    situation = reader.situation
    features = [c for c in columns if c != situation.target] or columns
    if not situation.has_model and features == columns and v.DRIVES.search(text):
        return None
    if re.search(r"\bexplain\b", text) and not v.WHY.search(text) and not situation.has_model:
        return None
    if features[0] == situation.target and not v.WHY.search(text):
        return None
    return features[0]


def _plot_arguments(text: str, reader: _Reader) -> dict[str, Any]:
    pair = v.PLOT_PAIR.search(text)
    if pair is not None:
        return {"y": reader.column(pair.group(1)), "x": reader.column(pair.group(2))}
    columns = list(dict.fromkeys(reader.columns_in(text)))
    if len(columns) >= 2:
        return {"y": columns[0], "x": columns[1]}
    return {"x": columns[0]}


def _asks_about_model(text: str, settings: dict[str, Any]) -> bool:
    if "metric" in settings:  # "rank by the area under the ROC curve" names a metric only
        text = v.METRIC.sub(" ", text)
    if v.EXPLAIN.search(text):
        return True
    return "metric" not in settings and bool(v.METRIC.search(text))


__all__ = ["Intent", "likely_targets", "read_message"]
