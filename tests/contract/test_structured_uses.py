"""The schema-constrained call where the brief asks for it, through each real adapter:
a plan request in words turned into plan fields (``mlchat train --plan``), and the
improvement suggestions when a language model is configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from assistant.cli import main
from assistant.cli.plan_words import NO_MODEL
from assistant.context import SessionServices, ToolContext
from assistant.plan_request import PlanRequest, plan_from_words
from assistant.providers.base import ChatSettings, ToolCall
from assistant.providers.router import Route, Router
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.store import ConversationStore, Database, RunStore
from assistant.toolbox import suggest_improvements
from tests.contract.test_provider_contract import provider_for
from tests.fakes.llm_servers import FakeLLMServer, text

DEFAULTS = {
    "openai": "gpt-6-luna",
    "anthropic": "claude-haiku-5-5",
    "gemini": "gemini-3.5-flash-lite",
}
COLUMNS = ["customer_id", "tenure", "plan", "spend", "churned"]


@pytest.fixture(params=["openai", "anthropic", "gemini"])
def fake(request: pytest.FixtureRequest) -> FakeLLMServer:
    return request.getfixturevalue(f"fake_{request.param}")


def router_for(fake: FakeLLMServer) -> tuple[Router, ChatSettings]:
    model = DEFAULTS[fake.protocol]
    return Router([Route(provider_for(fake), model)]), ChatSettings(model)


def schema_sent(fake: FakeLLMServer) -> dict[str, Any]:
    """The JSON schema the first request carried, in the protocol's native field."""
    body = fake.requests[0].body
    if fake.protocol == "openai":
        return body["response_format"]["json_schema"]["schema"]
    if fake.protocol == "anthropic":
        return body["output_config"]["format"]["schema"]
    return body["generationConfig"]["responseJsonSchema"]


# -- a plan request in words -------------------------------------------------------------


async def test_a_plan_request_in_words_becomes_plan_fields(fake: FakeLLMServer) -> None:
    fields = {"target": "churned", "metric": "f1", "models": ["tree"], "budget_s": 120}
    fake.reply(text(json.dumps(fields)))
    router, settings = router_for(fake)

    asked = await plan_from_words(
        router,
        "predict churned, rank by F1, two minutes, trees only",
        columns=COLUMNS,
        settings=settings,
    )

    assert asked == PlanRequest(target="churned", metric="f1", models=("tree",), budget_s=120)
    schema = schema_sent(fake)
    assert schema["properties"]["target"]["enum"] == COLUMNS
    assert "f1" in schema["properties"]["metric"]["enum"]
    assert "trees only" in json.dumps(fake.requests[0].body)  # the words went as data
    assert len(fake.requests) == 1


async def test_a_column_the_table_lacks_is_asked_again_with_the_error(
    fake_openai: FakeLLMServer,
) -> None:
    fake_openai.reply(
        text(json.dumps({"target": "churn", "budget_s": 0})),
        text(json.dumps({"target": "churned", "budget_s": 60})),
    )
    router, settings = router_for(fake_openai)

    asked = await plan_from_words(router, "predict churn", columns=COLUMNS, settings=settings)

    assert (asked.target, asked.budget_s) == ("churned", 60)
    assert len(fake_openai.requests) == 2
    assert "is not one of" in json.dumps(fake_openai.requests[1].body)


@pytest.fixture
def customers(tmp_path: Path) -> Path:
    rows = 120
    frame = pd.DataFrame(
        {
            "customer_id": [f"K{i:03d}" for i in range(rows)],
            "tenure": [i % 50 + 1 for i in range(rows)],
            "plan": ["basic", "plus", "pro"] * (rows // 3),
            "spend": [float(i % 17) * 3.5 for i in range(rows)],
            "churned": ["yes" if (i % 50) < 15 else "no" for i in range(rows)],
        }
    )
    frame.to_csv(tmp_path / "customers.csv", index=False)
    return tmp_path


def test_mlchat_train_plan_trains_with_the_fields_the_model_read(
    customers: Path,
    fake_openai: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(customers)
    monkeypatch.setenv("MLCHAT_DATA_DIR", str(customers / "data"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url)
    fields = {"target": "churned", "metric": "f1", "models": ["logistic_regression"], "budget_s": 4}
    fake_openai.reply(text(json.dumps(fields)))

    status = main(["train", "customers.csv", "--plan", "predict churned with F1", "--out", "run"])

    out = capsys.readouterr().out
    assert status == 0
    assert "Plan from your words: target: churned, metric: f1, models: logistic_regression" in out
    report = json.loads((customers / "run" / "report.json").read_text(encoding="utf-8"))
    assert (report["plan"]["target"], report["plan"]["metric"]) == ("churned", "f1")
    assert report["plan"]["models"] == ["logistic_regression"]
    assert fake_openai.requests[0].body["model"] == "gpt-6-luna"


def test_mlchat_train_plan_without_a_language_model_names_the_flags(
    customers: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(customers)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLCHAT_DATA_DIR", str(customers / "data"))

    status = main(["train", "customers.csv", "--plan", "predict churned"])

    assert status == 2
    assert capsys.readouterr().err.strip() == f"mlchat: {NO_MODEL}"
    assert not (customers / "data").exists()  # nothing written before the refusal


# -- improvement suggestions -------------------------------------------------------------


def _context(tmp_path: Path, language_model: Any) -> ToolContext:
    db = Database(tmp_path / "mlchat.db")
    runs = RunStore(db)
    conversations = ConversationStore(db)
    conversations.ensure_thread("t1")
    runs.start("r1", thread_id="t1", dataset_id=None, plan={})
    runs.finish(
        "r1",
        status="done",
        leaderboard=[
            {"family": "lightgbm", "score": 0.81, "std": 0.03, "status": "ok"},
            {"family": "logistic_regression", "score": 0.8, "std": 0.02, "status": "ok"},
        ],
        metrics={
            "target": "churned",
            "task": "binary",
            "metric": "roc_auc",
            "n_rows": 5000,
            "warnings": [],
            "importance": [
                {"column": "tenure", "importance": 0.2, "rank": 1},
                {"column": "spend", "importance": 0.1, "rank": 2},
            ],
        },
        artifacts={"model": "model.joblib"},
    )
    services = SessionServices(
        settings=Settings(data_dir=tmp_path),
        conversations=conversations,
        runs=runs,
        language_model=language_model,
    )
    return ToolContext("t1", ToolCall("c1", "suggest_improvements", "{}"), services, lambda e: None)


async def test_suggestions_come_from_the_configured_model_within_the_schema(
    fake: FakeLLMServer, tmp_path: Path
) -> None:
    answer = {
        "suggestions": [
            {
                "kind": "features",
                "text": "Spend per month of tenure may separate churners better.",
                "say": "add a feature spend_per_month = spend / tenure",
                "columns": ["spend", "tenure"],
            }
        ]
    }
    fake.reply(text(json.dumps(answer)))
    routed = router_for(fake)

    result = await suggest_improvements(_context(tmp_path, lambda thread: routed))

    assert result.facts["suggestions"] == [
        "Spend per month of tenure may separate churners better. "
        "(say “add a feature spend_per_month = spend / tenure”)"
    ]
    item = schema_sent(fake)["properties"]["suggestions"]["items"]
    assert item["properties"]["columns"]["items"]["enum"] == ["tenure", "spend"]
    assert "lightgbm" in json.dumps(fake.requests[0].body)  # the run's facts went as data


async def test_suggestions_fall_back_to_the_rules_when_the_model_answers_badly_twice(
    fake_openai: FakeLLMServer, tmp_path: Path
) -> None:
    made_up = {"kind": "features", "text": "Use age.", "say": "add age", "columns": ["age"]}
    fake_openai.reply(*[text(json.dumps({"suggestions": [made_up]}))] * 2)
    routed = router_for(fake_openai)

    result = await suggest_improvements(_context(tmp_path, lambda thread: routed))

    assert len(fake_openai.requests) == 2
    assert any("tuning the best one" in s for s in result.facts["suggestions"])
    assert not any("age" in s for s in result.facts["suggestions"])


async def test_offline_the_suggestions_are_the_rules_and_no_model_is_asked(
    fake_openai: FakeLLMServer, tmp_path: Path
) -> None:
    result = await suggest_improvements(_context(tmp_path, lambda thread: None))

    assert fake_openai.requests == []
    assert (
        result.facts["summary"] == f"{len(result.facts['suggestions'])} suggestion(s) for run r1."
    )


async def test_the_assistant_lends_tools_its_model_only_when_one_is_configured(
    fake_openai: FakeLLMServer, tmp_path: Path
) -> None:
    keyed = Assistant(
        Settings(data_dir=tmp_path / "a", openai_api_key="sk-test", openai_base_url=fake_openai.url)
    )
    offline = Assistant(Settings(data_dir=tmp_path / "b"))
    try:
        assert keyed.services.language_model is not None
        chosen = keyed.services.language_model("t1")
        assert chosen is not None and chosen[1].model == "gpt-6-luna"
        assert offline.services.language_model is not None
        assert offline.services.language_model("t1") is None
    finally:
        await keyed.close()
        await offline.close()
