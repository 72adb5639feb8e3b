"""The last step of an automl run: the model that ships (the ensemble's members or the best
single model refit on all rows through :func:`tools.search.refit.refit_final`, else the
breadth winner's fold models), and the rows it is fit on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from tools.deadline import Deadline
from tools.models.families import MODEL_FAMILIES
from tools.search.ensemble import EnsembleSelection
from tools.search.keys import ENSEMBLE_KEY, base_family, candidate_label
from tools.search.refit import Fallback, refit_final, refit_time_allowed
from tools.search.results import TrainResult


def final_model(
    frame: pd.DataFrame,
    result: TrainResult,
    *,
    best_key: str,
    selection: EnsembleSelection | None,
    templates: Mapping[str, Any],
    deadline: Deadline,
    stopped: bool,
    refit_s: Callable[[Sequence[str]], float],
    emit: Callable[..., None],
    notes: list[str],
) -> tuple[Any, str, int]:
    """The final model: the ensemble's members or the best single model refit on all rows
    (:func:`tools.search.refit.refit_final`), else the breadth winner's fold models."""
    fallback = Fallback(
        result.model,
        "bagged" if result.model_source == "bagged" else "fold",
        result.refit_rows,
        _kept_words(result),
    )
    y = result.y
    if selection is not None:
        keys = list(selection.weights)
        if refit_s(keys) <= refit_time_allowed(deadline, stopped):
            final = refit_final(
                [templates[key] for key in keys],
                frame,
                y,
                weights=list(selection.weights.values()),
                label=f"the ensemble of {len(keys)} models",
                estimate_s=refit_s(keys),
                plan=result.plan,
                deadline=deadline,
                stopped=stopped,
                fallback=fallback,
                partial=False,
                emit=emit,
                notes=notes,
            )
            winner = ENSEMBLE_KEY if final.source == "refit" else result.best_family
            return final.model, winner, final.rows
        notes.append(
            "An ensemble scored better in cross-validation but there was no time to refit it; "
            "the best single model is used."
        )
    if best_key not in templates:
        notes.append(_not_refit_note(result))
        return result.model, result.best_family, result.refit_rows
    fallback = replace(fallback, words=_kept_words(result, best_key))
    final = refit_final(
        [templates[best_key]],
        frame,
        y,
        label=candidate_label(best_key),
        estimate_s=refit_s([best_key]),
        plan=result.plan,
        deadline=deadline,
        stopped=stopped,
        # Bagged fold models beat a sample; one fold's model does not.
        fallback=fallback,
        partial=result.model_source != "bagged",
        emit=emit,
        notes=notes,
    )
    winner = best_key if final.source == "refit" else result.best_family
    return final.model, winner, final.rows


def stops_at_deadline(key: str) -> bool:
    family = MODEL_FAMILIES.get(base_family(key))
    return family is not None and family.stops_at_deadline


def _kept_words(result: TrainResult, refit_key: str | None = None) -> str:
    """How a note on the breadth winner's fold models ends, said of ``refit_key``'s refit."""
    label = "its" if refit_key == result.best_family else f"{candidate_label(result.best_family)}'s"
    if result.model_source == "bagged":
        return (
            f"the average of {label}'s {len(result.fold_models)} cross-validation models is used."
        )
    return f"{label}'s first cross-validation model is used."


def _not_refit_note(result: TrainResult) -> str:
    return (
        f"{candidate_label(result.best_family)} was not refit on all rows (no time left); "
        f"{_kept_words(result, result.best_family)}"
    )


def rows_learned_from(frame: pd.DataFrame, result: TrainResult) -> pd.DataFrame:
    """The rows :func:`tools.search.train.train` learned from, positionally aligned with ``result.y``."""
    from tools.analyze.task import prepare_target

    table, _ = prepare_target(frame, result.plan.target)
    table = table.reset_index(drop=True)
    if len(table) != len(result.y) and result.classes is not None:
        # train() dropped classes with a single row
        table = table.loc[table[result.plan.target].isin(result.classes)].reset_index(drop=True)
    return table
