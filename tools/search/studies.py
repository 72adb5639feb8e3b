"""Optuna studies: where they live (a journal file or a database URL), which families can be tuned, and trial parameters as model parameters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.errors import PlanError
from tools.models.families import MODEL_FAMILIES
from tools.plan import Plan

log = logging.getLogger(__name__)

"""Multiplier on time estimates before comparing them with the time left."""

_SCHEMA_ATTEMPTS = 5


def open_storage(storage: str | Path | None) -> Any:
    """An Optuna storage for a file path (journal file) or a database URL (RDB).

    Args:
        storage: ``Path``/plain path -> ``JournalStorage`` (safe for several
            processes on one machine); ``sqlite:///...`` or ``postgresql://...``
            -> ``RDBStorage`` (PostgreSQL for workers on several machines);
            None -> an in-memory storage that ends with the process.
    """
    import optuna
    import sqlalchemy.exc
    from optuna.storages.journal import JournalFileBackend

    if storage is None:
        return optuna.storages.InMemoryStorage()
    text = str(storage)
    if isinstance(storage, Path) or "://" not in text:
        path = Path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    url = text
    engine_kwargs: dict[str, Any] = {}
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        engine_kwargs = {"pool_pre_ping": True}
    elif url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 30}}
    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.DBAPIError:
            # Workers starting together race to create Optuna's tables; the loser retries
            # and finds them made.
            if attempt == _SCHEMA_ATTEMPTS - 1:
                raise
            log.info("storage_schema_race attempt=%d", attempt + 1)
    raise AssertionError("unreachable")


def tuning_storage(url: str | None, data_dir: Path) -> str | Path:
    """The storage to tune in: ``url`` when set (e.g. ``MLCHAT_TUNING_STORAGE``), else
    the journal file ``data_dir / "optuna" / "studies.journal"``."""
    if url and url.strip():
        return url.strip()
    return Path(data_dir) / "optuna" / "studies.journal"


def trial_to_params(family: str, trial_params: Mapping[str, Any]) -> dict[str, Any]:
    """Estimator parameters for a family from parameters as a study stores them."""
    import optuna

    space = _space(family)
    params = dict(space(optuna.trial.FixedTrial(dict(trial_params))))
    if trial_params.get("class_weight") is not None:  # the imbalance entry of the space
        params["class_weight"] = trial_params["class_weight"]
    return params


def tunable_families(task: str) -> list[str]:
    """Families with a search space that handle ``task``, cheapest first."""
    return [
        name
        for name, spec in sorted(MODEL_FAMILIES.items(), key=lambda kv: (kv[1].cost_rank, kv[0]))
        if spec.search_space is not None and spec.supports(task)
    ]


def _space(family: str) -> Callable[[Any], dict[str, Any]]:
    spec = MODEL_FAMILIES.get(family)
    if spec is None:
        raise PlanError(f"Unknown model family “{family}”. Known: {', '.join(MODEL_FAMILIES)}.")
    if spec.search_space is None:
        raise PlanError(f"{spec.label} has no parameters to tune.")
    return spec.search_space


def _families(families: Sequence[str] | None, plan: Plan) -> list[str]:
    if families is None:
        chosen = [name for name in plan.models if name in tunable_families(plan.task)]
        if not chosen:
            raise PlanError(
                "None of the plan's models has parameters to tune; "
                f"tunable models for this task: {', '.join(tunable_families(plan.task))}."
            )
        return chosen
    for name in families:
        _space(name)
        if not MODEL_FAMILIES[name].supports(plan.task):
            raise PlanError(f"{MODEL_FAMILIES[name].label} cannot be used for {plan.task} tasks.")
    if not families:
        raise PlanError("Name at least one model family to tune.")
    return list(dict.fromkeys(families))


def _study_best(studies: Mapping[str, Any]) -> tuple[str, Any] | None:
    import optuna

    best: tuple[str, Any] | None = None
    for name, study in studies.items():
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        for trial in complete:
            if best is None or trial.value > best[1].value:
                best = (name, trial)
    return best


def _natural(spec: Any, value: float) -> float:
    return float(value if spec.greater_is_better else -value)
