from __future__ import annotations

import json

import pytest

from assistant.offline import HELP_TEXT, Intent, narrate, parse_request, respond
from assistant.providers.base import Message, StreamText, StreamToolCall

ALL = {
    "profile_dataset",
    "set_plan",
    "train_models",
    "tune_model",
    "explain_model",
    "suggest_improvements",
    "predict_file",
    "show_leaderboard",
    "list_artifacts",
    "plot_columns",
    "run_code",
}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        (
            "train a model on this file to predict churn\n\n[Attached: churn.csv (dataset d1)]",
            Intent("train_models", {"dataset_id": "d1", "target": "churn"}),
        ),
        ("Train a model to predict Churn.", Intent("train_models", {"target": "Churn"})),
        ("the target is monthly_charges", Intent("train_models", {"target": "monthly_charges"})),
        ("predict churn using F1", Intent("train_models", {"target": "churn", "metric": "f1"})),
        (
            "train to predict price, only tree models, 2 minute budget",
            Intent("train_models", {"target": "price", "models": ["tree"], "budget_s": 120}),
        ),
        ("use F1", Intent("set_plan", {"metric": "f1"})),
        ("use AUC instead", Intent("set_plan", {"metric": "roc_auc"})),
        ("use rmse", Intent("set_plan", {"metric": "root_mean_squared_error"})),
        ("only tree models", Intent("set_plan", {"models": ["tree"]})),
        ("also try SVM", Intent("set_plan", {"add_models": ["svm"]})),
        ("tune it for 2 minutes", Intent("tune_model", {"budget_s": 120})),
        ("tune for 30 seconds", Intent("tune_model", {"budget_s": 30})),
        ("explain the model", Intent("explain_model", {})),
        ("why is tenure important?", Intent("explain_model", {"feature": "tenure"})),
        (
            "Why does Monthly Charges matter",
            Intent("explain_model", {"feature": "Monthly Charges"}),
        ),
        ("what would improve it?", Intent("suggest_improvements", {})),
        (
            "predict on this file\n\n[Attached: new.csv (dataset d2)]",
            Intent("predict_file", {"dataset_id": "d2"}),
        ),
        ("show the leaderboard", Intent("show_leaderboard", {})),
        ("download the model", Intent("list_artifacts", {})),
        ("plot age vs income", Intent("plot_columns", {"y": "age", "x": "income"})),
        ("distribution of churn", Intent("plot_columns", {"x": "churn"})),
        ("show the data", Intent("profile_dataset", {})),
        ("retrain", Intent("train_models", {})),
        ("the positive class is fraud", Intent("set_plan", {"positive_class": "fraud"})),
        ("The positive class is “Yes”.", Intent("set_plan", {"positive_class": "Yes"})),
        ("make churned the positive class", Intent("set_plan", {"positive_class": "churned"})),
        ("treat it as regression", Intent("set_plan", {"task": "regression"})),
        ("Treat it as a classification", Intent("set_plan", {"task": "classification"})),
        (
            "use F1 and the positive class is fraud",
            Intent("set_plan", {"metric": "f1", "positive_class": "fraud"}),
        ),
        (
            "treat the target as classification and retrain",
            Intent("train_models", {"task": "classification"}),
        ),
        ("```python\nprint(df.shape)\n```", Intent("run_code", {"code": "print(df.shape)\n"})),
    ],
)
def test_core_requests_are_understood(text: str, intent: Intent) -> None:
    assert parse_request(text, ALL) == intent


def test_an_unknown_request_gets_the_offline_help() -> None:
    deltas = respond([Message("user", "write me a poem about the sea")], ALL)
    text = "".join(d.text for d in deltas if isinstance(d, StreamText))
    assert text == HELP_TEXT
    assert "OPENAI_API_KEY" in text


def test_a_request_becomes_one_tool_call_with_json_arguments() -> None:
    deltas = respond([Message("user", "train a model to predict churn")], ALL)
    calls = [d.call for d in deltas if isinstance(d, StreamToolCall)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("train_models", {"target": "churn"})
    ]


def test_a_tool_result_is_narrated_from_its_own_numbers() -> None:
    result = json.dumps(
        {
            "summary": "Best model: LightGBM, ROC AUC 0.843 ± 0.012.",
            "warnings": ["customer_id looks like an ID."],
        }
    )
    text = narrate("train_models", result)
    assert text.startswith("Best model: LightGBM, ROC AUC 0.843 ± 0.012.")
    assert "- customer_id looks like an ID." in text


def test_a_tool_error_is_passed_on_as_it_is() -> None:
    assert narrate("train_models", "The file has no column named 'chrn'. Closest: churn") == (
        "The file has no column named 'chrn'. Closest: churn."
    )


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("here is a file\n\n[Attached: a.csv (dataset d1)]", "profile_dataset"),
        ("keep this file\n\n[Attached: a.csv (dataset d1)]", "profile_dataset"),
        ("save the model", "list_artifacts"),
        ("give me the files", "list_artifacts"),
        ("export it", "list_artifacts"),
    ],
)
def test_files_means_download_only_when_asked_for(text: str, tool: str) -> None:
    intent = parse_request(text, ALL)
    assert intent is not None and intent.tool == tool
