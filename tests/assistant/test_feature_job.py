"""The engineer_features worker job returns a typed report that crosses the process boundary."""

from __future__ import annotations

import pickle
import queue
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from assistant.feature_jobs import FeatureRequest, feature_job
from assistant.worker import WorkerChannel
from tools.analyze.profile import profile_table
from tools.feature_grammar import DerivedFeature
from tools.plan import build_plan
from tools.search.feature_selection import FeatureSelection, FeatureTrial


def test_the_feature_job_returns_a_picklable_report_with_its_verdicts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 10, 200), rng.uniform(1, 10, 200)
    frame = pd.DataFrame({"a": a.round(3), "b": b.round(3), "y": (a / b).round(4)})
    frame.to_csv(tmp_path / "ratio.csv", index=False)
    plan = build_plan(profile_table(frame, target="y"), models=["ridge"], folds=3)
    request = FeatureRequest(
        data_path=tmp_path / "ratio.csv",
        plan=plan.model_dump(),
        proposals=(("ab_ratio", "a / b"),),
        family="ridge",
        params={},
        budget_s=30.0,
    )
    sent: queue.Queue = queue.Queue()

    report = feature_job(WorkerChannel(sent, threading.Event()), request)

    assert isinstance(report, FeatureSelection)
    assert pickle.loads(pickle.dumps(report)) == report
    [trial] = report.trials
    assert isinstance(trial, FeatureTrial) and trial.name == "ab_ratio" and trial.kept
    assert report.kept == (DerivedFeature("ab_ratio", "a / b"),)
    assert (report.family, report.metric, report.stopped) == (
        "ridge",
        "root_mean_squared_error",
        False,
    )
    assert report.final < report.baseline  # RMSE falls with the ratio
    messages = [sent.get_nowait()[1]["message"] for _ in range(sent.qsize())]
    assert messages[0] == "Scoring 1 feature(s) by cross-validation"
    assert messages[1].startswith("ab_ratio: kept (")
