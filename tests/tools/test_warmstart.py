"""Warm starts: history of runs (SQLite or PostgreSQL), nearest datasets, the built-in portfolio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy
from sklearn.datasets import make_classification

from tests.postgres import new_database
from tools.analyze.profile import profile_table
from tools.plan import build_plan
from tools.search.studies import trial_to_params
from tools.search.tune import TrialReport, tune
from tools.warmstart import (
    PORTFOLIO_PATH,
    WarmStartStore,
    portfolio,
    warm_start_configs,
)


def _wide_frame(n_rows: int, n_features: int, seed: int) -> pd.DataFrame:
    X, y = make_classification(
        n_samples=n_rows, n_features=n_features, n_informative=5, random_state=seed
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(n_features)])
    frame["label"] = np.where(y == 1, "yes", "no")
    return frame


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, churn_frame: pd.DataFrame
) -> WarmStartStore:
    """Two past binary runs: a small mixed-type churn table and a wide numeric one
    (in a SQLite file, and in a PostgreSQL database)."""
    if request.param == "sqlite":
        store = WarmStartStore(tmp_path / "history.db")
    else:
        store = WarmStartStore(new_database(request.getfixturevalue("postgres_server_url")))
    churn_meta = profile_table(churn_frame, target="churn").meta_features
    wide_meta = profile_table(_wide_frame(800, 40, 0), target="label").meta_features
    store.record_run(
        "churn-run",
        task="binary",
        meta_features=churn_meta,
        best_configs={"knn": {"n_neighbors": 7, "weights": "distance"}},
        scores={"knn": 0.81},
        metric="roc_auc",
    )
    store.record_run(
        "wide-run",
        task="binary",
        meta_features=wide_meta,
        best_configs={"knn": {"n_neighbors": 31, "weights": "uniform"}},
        scores={"knn": 0.9},
        metric="roc_auc",
    )
    store.record_run(
        "regression-run",
        task="regression",
        meta_features=churn_meta,
        best_configs={"knn": {"n_neighbors": 3, "weights": "uniform"}},
    )
    return store


def test_nearest_dataset_comes_first(store: WarmStartStore) -> None:
    new_wide = profile_table(_wide_frame(600, 36, 1), target="label").meta_features

    neighbors = store.similar(new_wide, "knn", task="binary", k=2)

    assert [n.run_id for n in neighbors] == ["wide-run", "churn-run"]
    assert neighbors[0].distance < neighbors[1].distance
    assert neighbors[0].params == {"n_neighbors": 31, "weights": "uniform"}
    assert (neighbors[0].score, neighbors[0].metric) == (0.9, "roc_auc")
    assert store.similar(new_wide, "lightgbm", task="binary") == []


def test_other_tasks_are_never_neighbors(store: WarmStartStore, churn_frame: pd.DataFrame) -> None:
    meta = profile_table(churn_frame, target="churn").meta_features
    runs = [n.run_id for n in store.similar(meta, "knn", task="binary", k=5)]
    assert runs == ["churn-run", "wide-run"]
    regression = store.similar(meta, "knn", task="regression", k=5)
    assert [n.run_id for n in regression] == ["regression-run"]


def test_recording_a_run_again_replaces_it(store: WarmStartStore, tmp_path: Path) -> None:
    store.record_run(
        "wide-run",
        task="binary",
        meta_features={"log_rows": 3.0},
        best_configs={"knn": {"n_neighbors": 5, "weights": "uniform"}},
    )
    assert store.count_runs() == 3
    with store.engine.connect() as db:
        rows = db.execute(
            sqlalchemy.text("SELECT params_json FROM warmstart_config WHERE run_id = 'wide-run'")
        ).fetchall()
    assert [json.loads(r[0]) for r in rows] == [{"n_neighbors": 5, "weights": "uniform"}]


def test_tuning_starts_from_the_most_similar_datasets_config(
    store: WarmStartStore, tmp_path: Path
) -> None:
    frame = _wide_frame(300, 40, 2)
    profile = profile_table(frame, target="label")
    plan = build_plan(profile, target="label", folds=3)
    configs = warm_start_configs(
        profile.meta_features, "knn", task="binary", store=store, k=1, n_portfolio=0
    )
    assert configs == [{"n_neighbors": 31, "weights": "uniform"}]
    reports: list[TrialReport] = []

    tune(
        frame,
        plan,
        profile=profile,
        storage=tmp_path / "studies.log",
        study_key="new-run",
        families=["knn"],
        warm_start={"knn": configs},
        n_trials=2,
        budget_s=30,
        on_trial=reports.append,
        refit=False,
    )

    assert reports[0].params == {"n_neighbors": 31, "weights": "uniform"}
    assert reports[1].params != reports[0].params


def test_history_comes_before_the_portfolio_without_duplicates(
    store: WarmStartStore, tmp_path: Path
) -> None:
    path = tmp_path / "portfolio.json"
    path.write_text(
        json.dumps(
            {
                "configs": {
                    "classification": {
                        "knn": [
                            {"n_neighbors": 31, "weights": "uniform"},
                            {"n_neighbors": 9, "weights": "distance"},
                        ]
                    }
                }
            }
        )
    )
    meta = profile_table(_wide_frame(600, 36, 1), target="label").meta_features
    configs = warm_start_configs(meta, "knn", task="binary", store=store, k=2, portfolio_path=path)
    assert configs == [
        {"n_neighbors": 31, "weights": "uniform"},
        {"n_neighbors": 7, "weights": "distance"},
        {"n_neighbors": 9, "weights": "distance"},
    ]
    assert warm_start_configs(meta, "knn", task="regression", portfolio_path=path) == []


def test_shipped_portfolio_fits_the_search_spaces() -> None:
    data = json.loads(PORTFOLIO_PATH.read_text())
    assert set(data["configs"]) == {"classification", "regression"}
    assert {"lightgbm", "random_forest", "knn"} <= set(data["configs"]["classification"])
    assert {"lightgbm", "ridge"} <= set(data["configs"]["regression"])
    for kind, families in data["configs"].items():
        task = "binary" if kind == "classification" else "regression"
        for family, configs in families.items():
            assert configs == portfolio(family, task)
            for config in configs:
                params = trial_to_params(family, config)  # raises on a missing parameter
                assert params, (kind, family)
