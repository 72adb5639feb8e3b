"""One training run from a file to a run folder: load -> profile -> plan -> search -> explain
-> export, inside one deadline, returning a typed :class:`RunReport`.

``mlchat train`` and the chat's train job (a worker process) both call
:func:`run_training`; what differs is only how they show progress (the
``on_*`` callbacks) and how they resolve the target the user named. The
report is plain frozen dataclasses, so it crosses the worker boundary as is.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.deadline import Deadline

TargetResolver = Callable[[list[str], str], tuple[str, str | None]]
"""``(columns, wanted) -> (column, note or None)``: the column the user meant."""


@dataclass(frozen=True, slots=True)
class ImportanceRow:
    """One feature's permutation importance (held-out rows), by rank."""

    column: str
    importance: float
    rank: int


@dataclass(frozen=True, slots=True)
class FigureFile:
    """A figure the run wrote, as its Plotly JSON and PNG files."""

    name: str
    title: str
    json: str
    png: str


@dataclass(frozen=True, slots=True)
class RunReport:
    """What a training run produced, as plain data (no frames, no models)."""

    target: str
    task: str
    metric: str
    metric_label: str
    greater_is_better: bool
    plan: dict[str, Any]
    """The plan as :meth:`tools.plan.Plan.model_dump` gives it."""
    plan_description: str
    n_rows: int
    n_columns: int
    rows_dropped: int
    warnings: tuple[str, ...]
    leaderboard: tuple[dict[str, Any], ...]
    """Best first, each a :class:`~tools.search.train.CandidateResult` as a dict (NaN scores: None)."""
    cv_metrics: dict[str, float]
    """Every metric on the rows that chose the model (optimistic)."""
    expected_metrics: dict[str, float]
    """Every metric as expected on new data (:mod:`tools.search.honest`); empty when not measured."""
    estimate_method: str
    importance: tuple[ImportanceRow, ...]
    insights: tuple[str, ...]
    figures: tuple[FigureFile, ...]
    files: dict[str, str]
    """File role ("model", "report", "card", "script", ...) -> path."""
    model_sha256: str
    meta_features: dict[str, float]
    run_dir: str
    best_family: str
    stopped: bool
    elapsed_s: float
    notes: tuple[str, ...]
    engine: str = "local"
    """"local" (pandas in one process) or "dask" (Dask DataFrames on the cluster)."""

    def metrics_record(self) -> dict[str, Any]:
        """What a run's store row keeps as its metrics (JSON-ready)."""
        return {
            "target": self.target,
            "task": self.task,
            "metric": self.metric,
            "metric_label": self.metric_label,
            "best_family": self.best_family,
            "cv_metrics": dict(self.cv_metrics),
            "expected_metrics": dict(self.expected_metrics),
            "importance": [dataclasses.asdict(row) for row in self.importance],
            "insights": list(self.insights),
            "figures": [dataclasses.asdict(figure) for figure in self.figures],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "n_rows": self.n_rows,
        }


@dataclass(frozen=True, slots=True)
class Loaded:
    """Progress: the file is read and profiled."""

    file_name: str
    profile: Any
    notes: tuple[str, ...]
    target_note: str | None


@dataclass(frozen=True, slots=True)
class Planned:
    """Progress: the plan is ready; the search starts."""

    plan: Any
    metric_label: str
    greater_is_better: bool


@dataclass(frozen=True, slots=True)
class Searched:
    """Progress: the search is over (the winner is ``result``); explaining starts."""

    result: Any


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: plan fields, plan changes, and where tuning studies live."""

    plan_fields: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of :func:`tools.plan.build_plan` (metric, models, budget_s, ...)."""
    plan_changes: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of :func:`tools.plan.update_plan` applied after building."""
    task: str | None = None
    """"classification" / "regression" to override the inferred task."""
    sheet: str | None = None
    max_bytes: int = 1 << 30
    seed: int = 0
    storage: str | Path | None = None
    study_prefix: str = "run"
    """Tuning studies are named ``study_key(study_prefix, target, metric)``."""
    history_path: Path | None = None
    """Warm-start history (:mod:`tools.warmstart`): read for first trials, written after."""
    data_sha256: str | None = None
    """The file's SHA-256 when the caller already has it."""


def run_training(
    path: Path,
    target: str,
    *,
    out_dir: Path,
    options: RunOptions = RunOptions(),
    started_at_s: float | None = None,
    table: Any | None = None,
    resolve_target: TargetResolver | None = None,
    on_loaded: Callable[[Loaded], None] | None = None,
    on_planned: Callable[[Planned], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_trial: Callable[[Any], None] | None = None,
    on_searched: Callable[[Searched], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunReport:
    """Train on the file at ``path`` to predict ``target`` and write the run folder.

    The budget (``plan.budget_s``) counts from ``started_at_s`` (``time.time()``
    seconds; default now) and covers loading, the search, explaining and exporting.
    ``table`` is the file already read with :func:`tools.io.load.load_table` (it is
    not read again).

    Raises:
        DataError, TargetError, PlanError: the file, the target or the plan is unusable.
        TrainingError: no candidate finished.
    """
    from tools.analyze.profile import profile_table
    from tools.io.load import load_table
    from tools.io.raw_rows import label_target
    from tools.metrics import resolve_metric
    from tools.plan import build_plan, update_plan
    from tools.search.automl import TUNED_SUFFIX, base_family, finish_reserve_s, fit_automl
    from tools.warmstart import WarmStartStore

    started_s = time.time() if started_at_s is None else started_at_s
    loaded = table or load_table(path, sheet=options.sheet, max_bytes=options.max_bytes)
    columns = [str(c) for c in loaded.frame.columns]
    column, target_note = (resolve_target or _resolve_column)(columns, target)
    loaded = dataclasses.replace(loaded, frame=label_target(loaded.frame, column, loaded.parser))
    profile = profile_table(loaded.frame, target=column, seed=options.seed, task=options.task)
    if on_loaded is not None:
        on_loaded(Loaded(Path(path).name, profile, tuple(loaded.notes), target_note))

    plan = build_plan(profile, target=column, seed=options.seed, **dict(options.plan_fields))
    if options.plan_changes:
        plan = update_plan(plan, profile, **dict(options.plan_changes))
    spec = resolve_metric(plan.metric, plan.task)
    if on_planned is not None:
        on_planned(Planned(plan, spec.label, spec.greater_is_better))
    deadline = Deadline.from_wall_start(started_s, plan.budget_s)

    key = study_key(options.study_prefix, plan.target, plan.metric)
    history = WarmStartStore(options.history_path) if options.history_path else None
    result = fit_automl(
        loaded.frame,
        plan,
        profile=profile,
        on_progress=on_progress,
        on_trial=on_trial,
        should_stop=should_stop,
        storage=options.storage,
        study_key=key,
        history=history,
        deadline=deadline.sooner(finish_reserve_s(plan.budget_s)),
    )
    if history is not None and result.tuned_configs:
        history.record_run(
            key,
            task=plan.task,
            meta_features=profile.meta_features,
            best_configs=result.tuned_configs,
            scores={
                base_family(r.family): r.score
                for r in result.leaderboard
                if r.status == "ok" and r.family.endswith(TUNED_SUFFIX)
            },
            metric=plan.metric,
        )
    if on_searched is not None:
        on_searched(Searched(result))
    notes = [*([target_note] if target_note else []), *loaded.notes, *result.notes]
    return explain_and_export(
        result,
        loaded,
        out_dir=out_dir,
        notes=notes,
        deadline=deadline,
        data_sha256=options.data_sha256,
    )


def explain_and_export(
    result: Any,
    loaded: Any,
    *,
    out_dir: Path,
    notes: Sequence[str],
    deadline: Deadline,
    data_sha256: str | None = None,
    time_limit_s: float | None = None,
) -> RunReport:
    """Explain a search's winner, write its run folder, and report both.

    ``loaded`` is the :class:`tools.io.load.LoadedTable` the search learned from.
    """
    from tools.explain.model import explain_result
    from tools.export.folder import export_run
    from tools.io.load import file_sha256
    from tools.metrics import resolve_metric

    plan = result.plan
    spec = resolve_metric(plan.metric, plan.task)
    explanation = explain_result(
        result,
        loaded.frame,
        out_dir=out_dir / "figures",
        time_limit_s=min(20.0, max(plan.budget_s / 3, 5.0))
        if time_limit_s is None
        else time_limit_s,
        deadline=deadline,
    )
    exported = export_run(
        result,
        out_dir=out_dir,
        frame=loaded.frame,
        data_path=Path(loaded.path).resolve(),
        data_sha256=data_sha256 or file_sha256(Path(loaded.path)),
        sheet=loaded.sheet,
        explanation=explanation,
        notes=list(notes),
        target_words=loaded.boolean_words.get(plan.target),
        parser=loaded.parser,
    )
    return report_of(
        result,
        explanation,
        exported,
        out_dir=out_dir,
        notes=notes,
        metric_label=spec.label,
        greater_is_better=spec.greater_is_better,
    )


def study_key(prefix: str, target: str, metric: str) -> str:
    """The name prefix of the tuning studies for one dataset, target and metric."""
    return f"{prefix}-{target}-{metric}"


def report_of(
    result: Any,
    explanation: Any,
    exported: Any,
    *,
    out_dir: Path,
    notes: Sequence[str],
    metric_label: str,
    greater_is_better: bool,
) -> RunReport:
    """The :class:`RunReport` of a search ``result`` explained and exported."""
    from tools.io.load import file_sha256

    plan, profile = result.plan, result.profile
    return RunReport(
        target=plan.target,
        task=plan.task,
        metric=plan.metric,
        metric_label=metric_label,
        greater_is_better=greater_is_better,
        plan=plan.model_dump(),
        plan_description=plan.describe(),
        n_rows=profile.n_rows,
        n_columns=profile.n_columns,
        rows_dropped=profile.n_rows_dropped_missing_target,
        warnings=tuple(w.message for w in profile.warnings),
        leaderboard=tuple(leaderboard_rows(result.leaderboard)),
        cv_metrics=dict(result.cv_metrics),
        expected_metrics=dict(result.expected_metrics),
        estimate_method=result.estimate_method,
        importance=tuple(
            ImportanceRow(i.column, i.mean, i.rank) for i in explanation.importance[:10]
        ),
        insights=tuple(explanation.insights),
        figures=tuple(
            FigureFile(f.name, f.title, str(f.json_path), str(f.png_path))
            for f in explanation.figures
        ),
        files={k: str(v) for k, v in exported.files.items() if not k.startswith("figure:")},
        model_sha256=file_sha256(exported.files["model"]),
        meta_features=dict(profile.meta_features),
        run_dir=str(out_dir),
        best_family=result.best_family,
        stopped=result.stopped,
        elapsed_s=result.elapsed_s,
        notes=tuple(notes),
    )


def leaderboard_rows(leaderboard: Sequence[Any]) -> list[dict[str, Any]]:
    """Leaderboard entries as plain dicts (NaN scores become ``None``)."""
    rows = []
    for candidate in leaderboard:
        row = dataclasses.asdict(candidate)
        for key in ("score", "std"):
            if isinstance(row[key], float) and math.isnan(row[key]):
                row[key] = None
        rows.append(row)
    return rows


def _resolve_column(columns: list[str], wanted: str) -> tuple[str, str | None]:
    from tools.io.load import resolve_column

    return resolve_column(columns, wanted), None
