"""The offline assistant: rules that understand the core requests and drive the same tools.

It reads the conversation like a model would: after a user message it picks
the tool call the words ask for; after a tool result it narrates that result
from a template, using only the numbers the tool returned (the result's
``summary`` and fields). Anything it does not understand gets a short list
of what works offline and how to add an API key.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.approval import fenced_blocks
from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
    ToolSpec,
)

HELP_TEXT = (
    "I'm running offline (no API key is set), so I understand these requests:\n"
    "- **train a model to predict <column>** (attach a CSV, Parquet, Excel or JSON file first)\n"
    "- **the target is <column>**, **use F1 / AUC / RMSE / accuracy**, **only tree models**, "
    "**also try SVM**, **use a 2 minute budget**, **the positive class is fraud**, "
    "**treat it as regression / classification**\n"
    "- **tune it for 2 minutes**, **show the leaderboard**, **explain the model**, "
    "**why is <column> important?**, **what would improve it?**\n"
    "- **add a feature income_per_age = income / age** (kept only if cross-validation improves)\n"
    "- **predict on this file** (attach the new file), **download the model**, "
    "**deploy the model** (an HTTP service), **export this as a notebook**\n"
    "- **plot <a> vs <b>**, **distribution of <column>**, **show the data / profile**\n"
    "- a message with a fenced ```python code block runs that code in the sandbox "
    "(your data is loaded as `df`).\n\n"
    "For open-ended questions add a key: set `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` or "
    "`GEMINI_API_KEY` (or `OPENAI_BASE_URL` for a local server such as Ollama) and restart."
)

_METRIC_WORDS: dict[str, str] = {
    "f1": "f1",
    "f1 score": "f1",
    "auc": "roc_auc",
    "roc auc": "roc_auc",
    "roc": "roc_auc",
    "accuracy": "accuracy",
    "balanced accuracy": "balanced_accuracy",
    "log loss": "log_loss",
    "logloss": "log_loss",
    "pr auc": "average_precision",
    "average precision": "average_precision",
    "rmse": "root_mean_squared_error",
    "mae": "mean_absolute_error",
    "r2": "r2",
    "r squared": "r2",
    "mape": "mean_absolute_percentage_error",
}
_MODEL_WORDS: dict[str, str] = {
    "tree": "tree",
    "trees": "tree",
    "tree-based": "tree",
    "boosting": "boosting",
    "gradient boosting": "boosting",
    "linear": "linear",
    "svm": "svm",
    "svms": "svm",
    "knn": "knn",
    "k-nearest": "knn",
    "nearest neighbours": "knn",
    "nearest neighbors": "knn",
    "random forest": "random_forest",
    "random forests": "random_forest",
    "extra trees": "extra_trees",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "logistic regression": "logistic_regression",
    "mlp": "mlp",
    "neural network": "mlp",
    "neural networks": "mlp",
    "naive bayes": "naive_bayes",
    "lda": "lda",
    "ridge": "ridge",
    "lasso": "lasso",
}
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s\b|minutes?|mins?|m\b|hours?|hrs?|h\b)", re.I
)


@dataclass(frozen=True, slots=True)
class Intent:
    """A recognised request: the tool to call and its arguments."""

    tool: str
    arguments: dict[str, Any]


class OfflineAssistant:
    """A rule-based provider behind the same streaming interface as the LLMs."""

    name = "offline"

    def __init__(self) -> None:
        self._issued: deque[ToolCall] = deque(maxlen=256)

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ChatSettings
    ) -> AsyncIterator[Delta]:
        """Reply to the last message: a tool call for a request, a narration for a result."""
        available = {t.name for t in tools}
        for delta in respond(messages, available):
            if isinstance(delta, StreamToolCall):
                self._issued.append(delta.call)
            yield delta

    def issued(self, call: ToolCall) -> bool:
        """Whether this exact call (id, name and arguments) came from these rules, not a model."""
        return call in self._issued


def respond(messages: Sequence[Message], available: set[str]) -> list[Delta]:
    """The deltas of the offline reply to ``messages``."""
    last = messages[-1] if messages else Message("user", "")
    if last.role == "tool":
        results = _results_of_last_batch(messages)
        follow_up = _follow_up(messages, results, available)
        if follow_up is not None:
            return _call(follow_up)
        return _say("\n\n".join(narrate(name, content) for name, content in results))
    if last.role == "user" and last.name == "grounding_check":
        return _say(_previous_assistant_text(messages))
    intent = parse_request(last.content, available)
    if intent is None:
        return _say(HELP_TEXT)
    return _call(intent)


def parse_request(text: str, available: set[str]) -> Intent | None:
    """The intent of a user message, or ``None`` when no rule matches."""
    attached = re.findall(r"\(dataset (d\d+)\)", text)
    body = re.sub(r"\n\n\[Attached: .*\]\s*$", "", text, flags=re.S).strip()
    lowered = body.lower()
    code = fenced_blocks(body)
    if code and "run_code" in available:
        return Intent("run_code", {"code": code[0]})
    plan_changes = {**_plan_changes(lowered), **_class_changes(body)}
    dataset = {"dataset_id": attached[-1]} if attached else {}
    features = _feature_request(body)
    if features and "engineer_features" in available:
        return Intent("engineer_features", {"features": features})
    if re.search(r"\bnotebook\b|\.ipynb\b", lowered) and "export_notebook" in available:
        return Intent("export_notebook", {})
    if (
        re.search(r"\b(deploy|serve)\b|\b(api|endpoint|http service)\b", lowered)
        and "deploy_model" in available
    ):
        return Intent("deploy_model", {})

    asks_for_predictions = re.search(
        r"\bpredict(ions?)?\b.*\b(this|new|that|attached|the)\b.*\b(file|data|dataset|rows)\b",
        lowered,
    ) or re.search(r"\b(score|apply)\b.*\b(file|data)\b", lowered)
    if (
        asks_for_predictions
        and "predict_file" in available
        and not re.search(r"\bto predict\b", lowered)
    ):
        return Intent("predict_file", dataset)
    target = _target_phrase(body)
    if (
        target
        and "train_models" in available
        and re.search(r"\b(train|fit|build|model|predict|target|forecast|classif|regress)", lowered)
    ):
        return Intent("train_models", {**dataset, "target": target, **plan_changes})
    if (
        re.search(r"\btune\b|\btuning\b|\bkeep (training|improving)\b", lowered)
        and "tune_model" in available
    ):
        duration = _duration_s(lowered)
        return Intent("tune_model", {"budget_s": int(duration)} if duration else {})
    if (
        re.search(r"\b(train|retrain|re-train|fit|run it|go ahead|start)\b", lowered)
        and "train_models" in available
    ):
        return Intent("train_models", {**dataset, **plan_changes})
    if plan_changes and "set_plan" in available:
        return Intent("set_plan", plan_changes)
    why = re.search(
        r"\bwhy (?:is|does|are|do)\s+(?:the\s+)?[`'\"]?(.+?)[`'\"]?\s+(?:so\s+)?(?:important|matter|useful|relevant)",
        lowered,
    )
    if why and "explain_model" in available:
        return Intent("explain_model", {"feature": _original_case(body, why.group(1))})
    if (
        re.search(
            r"\b(explain|explanation|importan|insight|how good|how well|metrics|evaluate)", lowered
        )
        and "explain_model" in available
    ):
        return Intent("explain_model", {})
    if (
        re.search(r"\b(improve|better|boost|increase (the )?(score|accuracy)|what next)\b", lowered)
        and "suggest_improvements" in available
    ):
        return Intent("suggest_improvements", {})
    if (
        re.search(r"\bleader ?board\b|\branking\b|\bcompare (the )?models\b|\bwhich model", lowered)
        and "show_leaderboard" in available
    ):
        return Intent("show_leaderboard", {})
    wants_files = re.search(r"\b(download|export|artifacts?)\b", lowered) or re.search(
        r"\b(save|get|give|send)\b.*\b(model|pipeline|script|card|files)\b", lowered
    )
    if wants_files and "list_artifacts" in available:
        return Intent("list_artifacts", {})
    plot = _plot_request(body)
    if plot and "plot_columns" in available:
        return Intent("plot_columns", plot)
    if (
        re.search(
            r"\b(show|describe|profile|summar|look at|analy[sz]e|overview|columns)\b", lowered
        )
        and "profile_dataset" in available
    ):
        return Intent("profile_dataset", dataset)
    if attached and "profile_dataset" in available and len(lowered) < 40:
        return Intent("profile_dataset", dataset)
    return None


def narrate(tool: str, content: str) -> str:
    """A short reply about one tool result, built only from what the tool returned."""
    result = _parse(content)
    if result is None:  # an error message from the tool or the loop
        return content if content.endswith((".", "!", "?")) else content + "."
    summary = str(result.get("summary", "")).strip()
    lines = [summary] if summary else []
    notes = result.get("warnings") or []
    if tool == "train_models":
        notes = [*(result.get("notes") or []), *notes]
    if tool in ("profile_dataset", "train_models") and notes:
        lines.append("Things to know:\n" + "\n".join(f"- {n}" for n in notes[:6]))
    if tool == "explain_model" and result.get("insights"):
        lines.append("\n".join(f"- {i}" for i in result["insights"][:6]))
    if tool == "suggest_improvements" and result.get("suggestions"):
        lines.append("\n".join(f"- {s}" for s in result["suggestions"]))
    if tool == "engineer_features" and result.get("features"):
        lines.append(
            "\n".join(
                f"- {f['feature']} = {f['expression']}: "
                f"{'kept' if f['kept'] else 'not kept'} ({f['why']})"
                for f in result["features"]
            )
        )
    if tool == "run_code" and result.get("output"):
        lines.append(f"```\n{result['output']}\n```")
    return "\n\n".join(lines) or "Done."


def _follow_up(
    messages: Sequence[Message], results: list[tuple[str, str]], available: set[str]
) -> Intent | None:
    """A second tool the request implies (none today: each request maps to one call)."""
    del messages, results, available
    return None


def _results_of_last_batch(messages: Sequence[Message]) -> list[tuple[str, str]]:
    batch: list[tuple[str, str]] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        batch.append((message.name or "", message.content))
    return list(reversed(batch))


def _previous_assistant_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages[:-1]):
        if message.role == "assistant" and message.content:
            return message.content
    return "Done."


def _plan_changes(lowered: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    metric = re.search(
        r"\b(?:use|using|optimi[sz]e(?: for)?|maximi[sz]e|minimi[sz]e|metric(?: is| to| should be)?|by)\s+(?:the\s+)?([a-z0-9 -]+?)(?:\s+(?:score|metric|as the metric|instead))?\s*(?:[.,;!]|$|\band\b)",
        lowered,
    )
    if metric:
        word = metric.group(1).strip()
        if word in _METRIC_WORDS:
            changes["metric"] = _METRIC_WORDS[word]
    only = re.search(r"\bonly (?:use |try )?([a-z -]+?) models?\b|\bonly ([a-z -]+)$", lowered)
    also = re.search(
        r"\b(?:also|and) (?:try|use|add|include) ([a-z -]+?)(?: models?)?\s*(?:[.,;!]|$)", lowered
    )
    if only:
        family = _MODEL_WORDS.get((only.group(1) or only.group(2) or "").strip())
        if family:
            changes["models"] = [family]
    elif also:
        family = _MODEL_WORDS.get(also.group(1).strip())
        if family:
            changes["add_models"] = [family]
    duration = _duration_s(lowered)
    if (
        duration
        and re.search(r"\b(budget|for|within|in|spend|take)\b", lowered)
        and not re.search(r"\btune\b", lowered)
    ):
        changes["budget_s"] = int(duration)
    return changes


def _class_changes(text: str) -> dict[str, Any]:
    """ "the positive class is fraud" and "treat it as regression" (labels keep their case)."""
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
            "regression" if word in {"regression", "number", "numbers"} else ("classification")
        )
    return changes


def _duration_s(lowered: str) -> float | None:
    match = _DURATION.search(lowered)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit.startswith("h"):
        return value * 3600
    if unit.startswith("m"):
        return value * 60
    return value


def _target_phrase(text: str) -> str | None:
    patterns = (
        r"\bto predict\s+(?:the\s+|whether\s+|if\s+)?[`'\"]?([\w .%/-]+?)[`'\"]?(?:\s+(?:column|using|with|from|on|in|for|and)\b|[.,;!?]|$)",
        r"\btarget(?: column)?\s+(?:is|=|:|should be)\s+[`'\"]?([\w .%/-]+?)[`'\"]?(?:\s+(?:column|and)\b|[.,;!?]|$)",
        r"\bpredict(?:ing|s)?\s+(?:the\s+)?[`'\"]?([\w .%/-]+?)[`'\"]?(?:\s+(?:column|using|with|from|on|in|for|and)\b|[.,;!?]|$)",
        r"\b(?:classify|forecast)\s+(?:the\s+)?[`'\"]?([\w .%/-]+?)[`'\"]?(?:\s+(?:column|using|with|from|on|in|for|and)\b|[.,;!?]|$)",
    )
    for pattern in patterns:
        match = re.search(pattern, text, re.I)
        if match:
            phrase = match.group(1).strip()
            if phrase and phrase.lower() not in {"this file", "it", "this", "the file", "new file"}:
                return phrase
    return None


def _feature_request(text: str) -> list[str]:
    """``"add a feature r = a / b; d = a - b"`` -> ``["r = a / b", "d = a - b"]``.

    A feature without a name is named after its expression.
    """
    match = re.match(
        r"\s*(?:please\s+)?(?:add|try|create|engineer)\s+(?:an?\s+|the\s+)?(?:new\s+)?"
        r"(?:derived\s+)?features?\s*:?\s+(.+)$",
        text,
        re.I | re.S,
    )
    if match is None:
        return []
    features = []
    for part in re.split(r";|\n", match.group(1)):
        part = part.strip().rstrip(".")
        if not re.search(r"[=+\-*/()<>]", part):
            continue  # "try feature selection" is not an expression
        if not re.search(r"(?<![=<>!])=(?!=)", part):
            slug = re.sub(r"[^0-9a-z]+", "_", part.lower()).strip("_")[:40] or "feature"
            part = f"{'f_' + slug if not slug[0].isalpha() else slug} = {part}"
        features.append(part)
    return features


def _plot_request(text: str) -> dict[str, Any] | None:
    versus = re.search(
        r"\bplot\s+(?:of\s+)?[`'\"]?([\w .%/-]+?)[`'\"]?\s+(?:vs\.?|versus|against|by)\s+[`'\"]?([\w .%/-]+?)[`'\"]?\s*[.?!]?$",
        text,
        re.I,
    )
    if versus:
        return {"y": versus.group(1).strip(), "x": versus.group(2).strip()}
    single = re.search(
        r"\b(?:distribution|histogram|plot)\s+(?:of\s+)?(?:the\s+)?[`'\"]?([\w .%/-]+?)[`'\"]?\s*[.?!]?$",
        text,
        re.I,
    )
    if single:
        return {"x": single.group(1).strip()}
    return None


def _original_case(text: str, lowered_fragment: str) -> str:
    index = text.lower().find(lowered_fragment)
    return text[index : index + len(lowered_fragment)] if index >= 0 else lowered_fragment


def _parse(content: str) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _say(text: str) -> list[Delta]:
    words = re.findall(r"\S+\s*", text) or [text]
    chunks = ["".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    return [*(StreamText(c) for c in chunks), StreamUsage(0, 0), StreamEnd("stop")]


def _call(intent: Intent) -> list[Delta]:
    call = ToolCall(f"offline_{uuid.uuid4().hex[:10]}", intent.tool, json.dumps(intent.arguments))
    return [StreamToolCall(call), StreamUsage(0, 0), StreamEnd("tool_calls")]
