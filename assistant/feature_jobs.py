"""The worker-process job behind ``engineer_features``: score proposed features by CV.

Like :mod:`assistant.jobs`, it takes a :class:`~assistant.worker.WorkerChannel`
and a small picklable request, reads the data itself, sends one progress
message per verdict and returns the
:class:`~tools.search.feature_selection.FeatureSelection` (plain frozen dataclasses, so it
crosses the worker boundary as is, like the train and tune reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.worker import WorkerChannel
from tools.analyze.profile import profile_table
from tools.feature_grammar import DerivedFeature
from tools.io.load import load_table
from tools.io.raw_rows import label_target
from tools.plan import Plan, task_choice, update_plan
from tools.search.feature_selection import FeatureSelection, FeatureTrial, select_features


@dataclass(frozen=True, slots=True)
class FeatureRequest:
    """What the engineer_features tool asks the worker to do."""

    data_path: Path
    plan: dict[str, Any]
    """The current run's plan (its ``derived_features`` are the starting set)."""
    proposals: tuple[tuple[str, str], ...]
    """``(name, expression)`` pairs, already checked against the grammar."""
    family: str
    params: dict[str, Any]
    budget_s: float
    max_bytes: int = 1 << 30


def feature_job(channel: WorkerChannel, request: FeatureRequest) -> FeatureSelection:
    """Check the proposals against the table, then keep those that cross-validation favours."""
    loaded = load_table(request.data_path, max_bytes=request.max_bytes)
    plan = Plan(**request.plan)
    frame = label_target(loaded.frame, plan.target, loaded.parser)
    profile = profile_table(frame, target=plan.target, seed=plan.seed, task=task_choice(plan))
    proposals = [DerivedFeature(name, expression) for name, expression in request.proposals]
    # Raises FeatureError (a user-facing error the model sees) on a column that does not fit.
    update_plan(plan, profile, derived_features=[*plan.derived_features, *proposals])

    def on_trial(trial: FeatureTrial) -> None:
        verdict = "kept" if trial.kept else "not kept"
        channel.send({"kind": "feature", "message": f"{trial.name}: {verdict} ({trial.reason})"})

    channel.send(
        {"kind": "feature", "message": f"Scoring {len(proposals)} feature(s) by cross-validation"}
    )
    selection = select_features(
        frame,
        plan,
        proposals,
        family=request.family,
        params=request.params,
        profile=profile,
        budget_s=request.budget_s,
        should_stop=channel.should_stop,
        on_trial=on_trial,
    )
    return selection
