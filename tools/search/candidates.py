"""Cross-validate one candidate family fold by fold under the deadline, keeping its out-of-fold predictions and fold models."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tools.deadline import Deadline
from tools.errors import UserFacingError
from tools.models.estimator import TabularModel
from tools.models.families import MODEL_FAMILIES
from tools.search.cv import Split
from tools.search.fold_pool import fold_plan, in_order
from tools.search.results import CandidateResult

log = logging.getLogger(__name__)


def _calibration(ratios: Sequence[float]) -> float:
    if not ratios:
        return 1.0
    return float(np.clip(np.exp(np.mean(np.log(ratios))), 0.25, 2.0))


@dataclass
class _Outcome:
    result: CandidateResult
    oof: np.ndarray
    fit_s_per_fold: float
    fold_model: TabularModel
    stopped: bool = False
    fold_models: list[TabularModel] = field(default_factory=list)


def _run_candidate(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    splits: Sequence[Split],
    *,
    columns: tuple[tuple[str, str], ...],
    task: str,
    classes: np.ndarray | None,
    spec: Any,
    seed: int,
    n_jobs: int,
    clock: Callable[[], float],
    deadline: Deadline,
    fit_deadline: Deadline,
    reserve: Callable[[float], float],
    stop: Callable[[], bool],
    n_oof: int,
    slot: dict[int, int] | None,
    must_finish: bool,
    overrides: Mapping[str, Any],
    derived: tuple[tuple[str, str], ...] = (),
    options: Mapping[str, Any],
) -> _Outcome:
    family = MODEL_FAMILIES[name]
    params = {**family.default_params, **overrides}
    oof = np.full((n_oof, len(classes)), np.nan) if classes is not None else np.full(n_oof, np.nan)
    index = {label: i for i, label in enumerate(classes)} if classes is not None else {}
    scores: list[float] = []
    fit_times: list[float] = []
    started = clock()
    first_model: TabularModel | None = None
    fold_models: list[TabularModel] = []

    def finish(status: str, message: str, stopped: bool = False) -> _Outcome:
        ok = status == "ok"
        result = CandidateResult(
            family=name,
            score=float(np.nanmean(scores)) if ok and scores else math.nan,
            std=float(np.nanstd(scores)) if ok and scores else math.nan,
            fit_time_s=clock() - started,
            status=status,  # type: ignore[arg-type]
            message=message,
            params=params,
            n_folds=len(scores),
        )
        model = first_model if first_model is not None else TabularModel(name, task, columns)  # type: ignore[arg-type]
        return _Outcome(
            result,
            oof,
            float(np.mean(fit_times)) if fit_times else 0.0,
            model,
            stopped,
            fold_models,
        )

    workers, threads = fold_plan(name, len(splits), n_jobs, n_rows=len(splits[0].train))

    def fold(split: Split) -> Callable[[Deadline], tuple[TabularModel, float, np.ndarray]]:
        def fit_and_predict(until: Deadline) -> tuple[TabularModel, float, np.ndarray]:
            fold_start = clock()
            model = TabularModel(
                name,
                task,  # type: ignore[arg-type]
                columns,
                params=dict(overrides) or None,
                seed=seed,
                n_jobs=threads,
                derived=derived,
                **options,
            )
            model.fit(X.iloc[split.train], y.iloc[split.train], deadline=until)
            fit_s = clock() - fold_start
            X_valid = X.iloc[split.valid]
            predicted = (
                model.predict_proba(X_valid) if classes is not None else model.predict(X_valid)
            )
            return model, fit_s, predicted

        return fit_and_predict

    with in_order(
        [fold(split) for split in splits],
        workers=workers,
        threads_per_fit=threads,
        deadline=fit_deadline,
    ) as folds:
        for number, split in enumerate(splits, start=1):
            try:
                model, fit_s, predicted = next(folds)
                fit_times.append(fit_s)
                y_valid = y.iloc[split.valid]
                positions = (
                    split.valid if slot is None else np.array([slot[int(r)] for r in split.valid])
                )
                if classes is not None:
                    proba = np.zeros((len(split.valid), len(classes)))
                    proba[:, [index[label] for label in model.classes_]] = predicted
                    y_pred = classes[np.argmax(proba, axis=1)]
                    oof[positions] = proba
                    score = _score(spec, y_valid, y_pred, proba, classes)
                else:
                    oof[positions] = predicted
                    score = _score(spec, y_valid, predicted, None, None)
                scores.append(float(score))
                fold_models.append(model)
                if first_model is None:
                    first_model = model
            except UserFacingError as exc:
                return finish("failed", str(exc))
            except Exception as exc:  # a candidate's failure must not end the run; it is reported
                log.warning("candidate_failed family=%s fold=%d", name, number, exc_info=True)
                return finish("failed", f"{type(exc).__name__}: {str(exc)[:300]}")
            if number == len(splits):
                break
            if stop():
                return finish(
                    "skipped", f"stopped after {number} of {len(splits)} folds.", stopped=True
                )
            # With folds side by side, the ones left finish `workers` at a time.
            per_fold = (clock() - started) / number
            needed = per_fold * (len(splits) - number) / workers + reserve(
                float(np.mean(fit_times))
            )
            if needed > deadline.left_s():
                if must_finish:  # the first candidate: keep its finished folds rather than nothing
                    return finish(
                        "ok",
                        f"scored on {number} of {len(splits)} folds to stay within the budget.",
                    )
                return finish(
                    "skipped",
                    f"abandoned after {number} of {len(splits)} folds: the rest would not fit in the budget.",
                )
    if not np.isfinite(scores).any():
        return finish("failed", f"{spec.label} could not be computed on the validation rows.")
    return finish("ok", "")


def _score(
    spec: Any, y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray | None, classes: Any
) -> float:
    """The fold's metric value; NaN when it is undefined on these rows (e.g. one class only)."""
    try:
        return float(spec.compute(y_true, y_pred, proba, classes=classes))
    except ValueError:
        return math.nan


def _describe(label: str, result: CandidateResult, metric_label: str) -> str:
    if result.status == "ok":
        return f"{label}: {metric_label} {result.score:.4g} ± {result.std:.2g} ({result.fit_time_s:.1f} s)"
    return f"{label} {result.status}: {result.message}"
