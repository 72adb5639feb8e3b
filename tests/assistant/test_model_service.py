"""The model service: a real trained run, served in process and by ``deploy the model``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi.testclient import TestClient

from assistant.cli.serve_model import load_served
from assistant.events import ToolFinished
from assistant.model_service import ServedModel, build_service
from assistant.session import Assistant
from assistant.settings import Settings
from assistant.toolbox import serving_tools
from assistant.verified_models import ModelIntegrityError
from tests.assistant.test_conversation import churn_table

pytestmark = pytest.mark.asyncio(loop_scope="module")
THREAD = "serving"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def trained(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Assistant]:
    root = tmp_path_factory.mktemp("serving")
    settings = Settings.from_env(
        {"MLCHAT_DATA_DIR": str(root / "data"), "MLCHAT_BUDGET_S": "5"}, env_file=root / "none.env"
    )
    churn_table().to_csv(root / "churn.csv", index=False)
    helper = Assistant(settings)
    record = helper.attach_file(THREAD, root / "churn.csv")
    turn = helper.run_turn(THREAD, "train a model to predict churn", attachments=[record])
    _ = [event async for event in turn]
    yield helper
    for service in list(serving_tools._RUNNING.values()):
        serving_tools._stop(service)
    await helper.close()


def _served(assistant: Assistant) -> tuple[ServedModel, dict]:
    run = assistant.runs.latest(THREAD, with_model=True)
    assert run is not None
    return load_served(assistant.settings, run.id)


def _rows(n: int) -> list[dict]:
    frame = churn_table(n, seed=3).drop(columns="churn")
    return json.loads(frame.to_json(orient="records"))


async def test_json_rows_get_predictions_in_the_files_labels(trained: Assistant) -> None:
    served, example = _served(trained)
    client = TestClient(build_service(served))

    health = client.get("/health").json()
    assert health["status"] == "ok" and health["target"] == "churn"
    assert set(example) == set(served.schema.input_columns)
    response = client.post("/predict", json={"rows": _rows(3)})

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    assert {p["prediction"] for p in predictions} <= {"yes", "no"}
    assert all(abs(p["proba_yes"] + p["proba_no"] - 1) < 1e-9 for p in predictions)


async def test_the_openapi_schema_is_the_training_schema(trained: Assistant) -> None:
    served, _ = _served(trained)
    spec = TestClient(build_service(served)).get("/openapi.json").json()
    row = spec["components"]["schemas"]["Row"]
    assert sorted(row["required"]) == sorted(served.schema.input_columns)
    assert {"type": "number"} in row["properties"]["tenure"]["anyOf"]
    assert (
        "Values seen in training: month, two-year, year"
        in row["properties"]["contract"]["description"]
    )


async def test_bad_json_rows_get_422_naming_the_row_column_and_problem(trained: Assistant) -> None:
    served, _ = _served(trained)
    client = TestClient(build_service(served))
    rows = _rows(2)
    del rows[1]["tenure"]
    rows[0]["monthly_charges"] = "a lot"

    response = client.post("/predict", json={"rows": rows})

    assert response.status_code == 422
    body = response.json()
    problems = {(p["row"], p["column"]): p["problem"] for p in body["problems"]}
    assert problems[(1, "tenure")] == "is missing"
    assert "number" in problems[(0, "monthly_charges")]
    assert "Row 1, column “tenure”: is missing." in body["message"]
    assert client.post("/predict", json={"rows": []}).status_code == 422


async def test_csv_files_are_read_as_the_training_file_and_checked(trained: Assistant) -> None:
    served, _ = _served(trained)
    client = TestClient(build_service(served))
    frame = churn_table(25, seed=4).drop(columns="churn")

    good = client.post("/predict/csv", files={"file": ("new.csv", frame.to_csv(index=False))})
    assert good.status_code == 200, good.text
    assert len(good.json()["predictions"]) == 25
    assert good.json()["predictions"][0]["customer_id"] == frame["customer_id"][0]  # the ID

    broken = frame.astype({"tenure": object})
    broken.loc[7, "tenure"] = "twelve"
    bad = client.post("/predict/csv", files={"file": ("bad.csv", broken.to_csv(index=False))})
    assert bad.status_code == 422
    assert bad.json()["problems"] == [
        {"row": 7, "column": "tenure", "problem": "“twelve” is not a number"}
    ]
    missing = frame.drop(columns="contract").to_csv(index=False)
    response = client.post("/predict/csv", files={"file": ("m.csv", missing)})
    assert response.status_code == 422
    assert response.json()["message"] == "Column “contract”: is missing from the file."


async def test_deploy_the_model_starts_a_service_the_chat_names(trained: Assistant) -> None:
    turn = trained.run_turn(THREAD, "deploy the model")
    events = [event async for event in turn]

    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [e.tool for e in finished] == ["deploy_model"] and not finished[0].is_error
    payload = json.loads(finished[0].summary)
    url = payload["url"]
    assert url.startswith("http://127.0.0.1:") and f"curl -s {url}/predict" in payload["curl"]
    async with httpx.AsyncClient(timeout=30) as client:
        ok = await client.post(f"{url}/predict", json={"rows": _rows(2)})
        bad = await client.post(f"{url}/predict", json={"rows": [{"tenure": 3}]})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
    assert bad.status_code == 422 and "column “contract”: is missing" in bad.json()["message"]


async def test_a_replaced_model_file_is_refused_before_it_is_unpickled(
    trained: Assistant, tmp_path: Path
) -> None:
    run = trained.runs.latest(THREAD, with_model=True)
    assert run is not None
    model_file = Path(run.artifacts["model"])
    original = model_file.read_bytes()
    marker = tmp_path / "pwned"
    import pickle

    class _Boom:
        def __reduce__(self) -> tuple:
            return (Path.touch, (marker,))

    model_file.write_bytes(pickle.dumps(_Boom()))
    try:
        with pytest.raises(ModelIntegrityError):
            load_served(trained.settings, run.id)
        assert not marker.exists()
    finally:
        model_file.write_bytes(original)
