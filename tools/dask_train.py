"""Train on a table bigger than one worker: a Dask DataFrame, ``xgboost.dask`` and LightGBM's Dask
estimators, with the single-machine path's plan, metrics and saved pipeline.

How it maps onto the single-machine path:

- **Reading.** A sample of the file's first rows goes through ``load_table``, so the
  parse decisions (yes/no words, decimal commas, dates) and the profile are the ones
  the single-machine path would take; the whole file is read as a Dask DataFrame and
  every partition is parsed with those decisions (:class:`~tools.io.RawTableParser`).
- **Plan.** :func:`~tools.plan.build_plan` on the sample's profile, with a holdout
  validation and the families that have a Dask interface (XGBoost, LightGBM).
- **Preprocessing.** Each family's :class:`~tools.models.TabularModel` is fit on the
  sample; its fitted preprocessing (category codes, dates, numbers) transforms every
  partition, and the estimator is trained on all training rows through Dask.
- **Saved model.** The distributed booster becomes the local estimator (XGBoost's saved
  model, LightGBM's ``to_local``) inside that same ``TabularModel``, so the run exports a
  ``model.joblib`` that takes raw rows and returns the file's labels, as usual.
- **Metrics.** Every metric of the task on the holdout rows (the same
  :func:`~tools.metrics.evaluate_all`), computed through Dask.
- **Deadline.** Each family's fit gets its share of the budget left (a quarter of the
  budget is held back for scoring, explaining and export) and stops at it mid-fit,
  on the same boosting round on every worker (:class:`tools.dask_stop.ClusterDeadline`).

Only CSV, TSV and Parquet files are read this way (:func:`can_read`).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.analyze.profile import profile_table
from tools.dask_stop import ClusterDeadline, LightGBMStop, XGBoostStop, rounds_note
from tools.dask_stop import boosted_rounds as boosted_rounds  # re-exported
from tools.deadline import Deadline, fitting_until
from tools.errors import DataError
from tools.io.columns import RawTableParser
from tools.io.load import LoadedTable, load_table
from tools.io.raw_rows import label_target
from tools.metrics import evaluate_all, resolve_metric
from tools.models.estimator import TabularModel
from tools.plan import Plan, build_plan, update_plan
from tools.search.results import CandidateResult, TrainResult

log = logging.getLogger(__name__)

DASK_FAMILIES = ("xgboost", "lightgbm")
"""Families with a distributed trainer (``xgboost.dask``, ``lightgbm.DaskLGBM*``)."""
SAMPLE_ROWS = 20_000
"""Rows read with ``load_table`` to decide parsing, profile the table and fit preprocessing."""
_MAX_BLOCK_BYTES = 32 << 20
_MIN_BLOCK_BYTES = 48 << 10
_RESERVE_FRACTION = 0.25
"""Of the budget, held back after the fits for holdout scoring, explaining and export."""
_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": ",", ".parquet": None, ".pq": None}


def can_read(path: Path) -> bool:
    """Whether ``path`` can be read as a Dask DataFrame (CSV, TSV or Parquet)."""
    return path.suffix.lower() in _SUFFIXES


@dataclass(frozen=True, slots=True)
class DaskTraining:
    """What :func:`train_on_dask` produced: the run, and the rows to explain it on."""

    result: TrainResult
    loaded: LoadedTable
    """The holdout sample (parsed) with the file's parse decisions, for explain and export."""
    n_rows: int
    n_partitions: int


def read_sample(path: Path, *, rows: int = SAMPLE_ROWS, max_bytes: int) -> LoadedTable:
    """The file's first ``rows`` rows read by ``load_table`` (parse decisions, profile)."""
    with tempfile.TemporaryDirectory(prefix="mlchat-dask-sample-") as folder:
        sample = Path(folder) / f"sample{path.suffix.lower()}"
        head = _raw_head(path, rows)
        if _SUFFIXES[path.suffix.lower()] is None:
            head.to_parquet(sample, index=False)
        else:
            head.to_csv(sample, index=False, sep=_SUFFIXES[path.suffix.lower()])
        loaded = load_table(sample, max_bytes=max_bytes)
    return dataclasses.replace(loaded, path=path)


def _raw_head(path: Path, rows: int, dtypes: dict[str, Any] | None = None) -> pd.DataFrame:
    sep = _SUFFIXES[path.suffix.lower()]
    if sep is None:
        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        return next(file.iter_batches(batch_size=rows)).to_pandas()
    return pd.read_csv(path, sep=sep, nrows=rows, dtype=dtypes)


def read_dask_frame(path: Path) -> Any:
    """The whole file as a Dask DataFrame of raw columns (numbers as floats, the rest as text)."""
    import dask.dataframe as dd

    sep = _SUFFIXES[path.suffix.lower()]
    if sep is None:
        return dd.read_parquet(path)
    head = pd.read_csv(path, sep=sep, nrows=1_000)
    dtypes = {
        name: "float64" if pd.api.types.is_numeric_dtype(head[name]) else "object"
        for name in head.columns
    }
    # at least a few partitions even for a small file, so every worker gets some rows
    blocksize = min(_MAX_BLOCK_BYTES, max(_MIN_BLOCK_BYTES, path.stat().st_size // 8))
    return dd.read_csv(path, sep=sep, dtype=dtypes, blocksize=blocksize)


def train_on_dask(
    path: Path,
    *,
    target: str,
    client: Any,
    changes: dict[str, Any],
    task: str | None = None,
    seed: int = 0,
    max_bytes: int,
    deadline: Deadline,
    on_plan: Callable[[Plan, Any], None] = lambda plan, profile: None,
    on_candidate: Callable[[CandidateResult], None] = lambda candidate: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DaskTraining:
    """Plan, train and score the Dask families on the whole file; return a ``TrainResult``.

    Args:
        path: A CSV, TSV or Parquet file (:func:`can_read`).
        target: The column to predict, spelled as in the file.
        client: A ``distributed.Client`` (inside a task: ``distributed.worker_client()``).
        changes: Plan fields and changes (as the single-machine job takes them).
        task: "classification" / "regression" when the user said so.
        seed: The plan's seed: holdout split, samples and estimators.
        max_bytes: Size limit of the sample ``load_table`` reads.
        deadline: When the run must end: each family's fit stops at its share of it.
        on_plan: Called with the plan and the sample's profile before training.
        on_candidate: Called with each family's holdout result.
        should_stop: Checked between families.
    """
    started = time.monotonic()
    sample = read_sample(path, max_bytes=max_bytes)
    sample = dataclasses.replace(sample, frame=label_target(sample.frame, target, sample.parser))
    profile = profile_table(sample.frame, target=target, seed=seed, task=task)
    plan = _dask_plan(profile, target=target, seed=seed, changes=changes)
    on_plan(plan, profile)
    spec = resolve_metric(plan.metric, plan.task)

    parsed = _parsed_rows(read_dask_frame(path), sample.parser, target)
    train_rows, holdout_rows = parsed.random_split(
        [1 - plan.holdout_fraction, plan.holdout_fraction], random_state=seed
    )
    sample_rows = _known_target(sample.frame, target)
    board: list[CandidateResult] = []
    fitted: dict[str, TabularModel] = {}
    metrics_of: dict[str, dict[str, float]] = {}
    stopped = False
    fits_end = deadline.sooner(_RESERVE_FRACTION * plan.budget_s)
    for index, family in enumerate(plan.models):
        fit_deadline = fits_end.share(1 / (len(plan.models) - index))
        if should_stop() or deadline.passed() or fit_deadline.left_s() <= 0:
            stopped = should_stop()
            board.append(_skipped(family, "stopped" if stopped else "out of time"))
            continue
        fit_started = time.monotonic()
        model = TabularModel.for_profile(
            family,
            profile,
            _features(profile, plan),
            task=plan.task,  # type: ignore[arg-type]
            seed=seed,
        )
        if plan.task == "binary":
            model.set_params(positive_class=plan.positive_class)
        with fitting_until(fit_deadline):
            model.fit(sample_rows.drop(columns=[target]), sample_rows[target])
        local = _fit_distributed(
            model,
            train_rows,
            target,
            client,
            example=sample_rows.head(1),
            deadline=fit_deadline,
        )
        model.pipeline_.steps[-1] = ("model", local)
        metrics = _holdout_metrics(model, holdout_rows, target)
        fitted[family], metrics_of[family] = model, metrics
        candidate = CandidateResult(
            family=family,
            score=metrics[spec.name],
            std=float("nan"),
            fit_time_s=time.monotonic() - fit_started,
            status="ok",
            message=f"trained with Dask on {parsed.npartitions} partition(s), "
            + rounds_note(local),
            params={},
            n_folds=1,
        )
        board.append(candidate)
        on_candidate(candidate)
    ok = [c for c in board if c.status == "ok"]
    if not ok:
        raise DataError("Training stopped before any model finished on the cluster.")
    best = max(ok, key=lambda c: spec.to_score(c.score))
    board = sorted(ok, key=lambda c: -spec.to_score(c.score)) + [c for c in board if c not in ok]
    model = fitted[best.family]
    first = holdout_rows.head(SAMPLE_ROWS, npartitions=min(4, holdout_rows.npartitions))
    explained = _known_target(first.reset_index(drop=True), target)
    y = explained[target].reset_index(drop=True)
    classes = getattr(model, "classes_", None)
    frame_x = explained.drop(columns=[target])
    oof = model.predict_proba(frame_x) if classes is not None else model.predict(frame_x)
    n_rows = len(parsed)
    result = TrainResult(
        plan=plan,
        profile=profile,
        leaderboard=board,
        best_family=best.family,
        model=model,
        oof={best.family: oof},
        y=y,
        cv_metrics=metrics_of[best.family],
        elapsed_s=time.monotonic() - started,
        stopped=stopped,
        oof_rows=np.arange(len(y)),
        classes=classes,
        features=list(model.input_columns_),
        refit_rows=n_rows - len(y),
        model_source="fold",  # trained without the holdout rows it is scored on
        notes=[
            f"The file was trained through Dask ({parsed.npartitions} partitions, {n_rows:,} "
            f"rows): {', '.join(plan.models)} on {1 - plan.holdout_fraction:.0%} of the rows, "
            f"scored on the other {plan.holdout_fraction:.0%}; parsing and preprocessing were "
            f"decided on the first {len(sample.frame):,} rows."
        ],
        oof_folds=np.zeros(len(y), dtype=np.int64),
    )
    loaded = dataclasses.replace(sample, frame=explained)
    return DaskTraining(result, loaded, n_rows, parsed.npartitions)


def _dask_plan(profile: Any, *, target: str, seed: int, changes: dict[str, Any]) -> Plan:
    """The single-machine plan restricted to the Dask families, validated on a holdout."""
    fields = {k: v for k, v in changes.items() if k in {"metric", "budget_s"} and v is not None}
    wanted = [m for m in changes.get("models") or DASK_FAMILIES if m in DASK_FAMILIES]
    plan = build_plan(
        profile,
        target=target,
        seed=seed,
        validation="holdout",
        models=wanted or list(DASK_FAMILIES),
        **fields,
    )
    extra = {k: v for k, v in changes.items() if k in {"drop_columns", "positive_class"} and v}
    return update_plan(plan, profile, **extra) if extra else plan


def _features(profile: Any, plan: Plan) -> list[str]:
    from tools.models.kinds import USED_KINDS

    excluded = {plan.target, *plan.drop_columns}
    return [
        name
        for name in profile.feature_columns()
        if name not in excluded and profile.column(name).kind in USED_KINDS
    ]


def _known_target(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    return frame.loc[frame[target].notna()].reset_index(drop=True)


def _parsed_rows(raw: Any, parser: RawTableParser, target: str) -> Any:
    """Every partition parsed as the sample was, the target labelled, rows without one dropped."""

    def parse(part: pd.DataFrame) -> pd.DataFrame:
        parsed = label_target(parser.transform(part), target, parser)
        return parsed.loc[parsed[target].notna()]

    meta = parse(raw._meta_nonempty).iloc[:0]
    return raw.map_partitions(parse, meta=meta)


def _design(model: TabularModel, rows: Any, target: str, example: pd.DataFrame) -> tuple[Any, Any]:
    """The preprocessed feature matrix and encoded target of ``rows``, as Dask collections."""
    prep = model.pipeline_[:-1]
    classes = getattr(model, "classes_", None)
    width = np.asarray(prep.transform(model._select(example))).shape[1]
    columns = [f"f{i}" for i in range(width)]

    def features(part: pd.DataFrame) -> pd.DataFrame:
        if classes is not None:
            part = part.loc[part[target].isin(list(classes))]
        values = np.asarray(prep.transform(model._select(part)), dtype=np.float32)
        return pd.DataFrame(values, columns=columns, index=part.index)

    def labels(part: pd.DataFrame) -> pd.Series:
        if classes is None:
            return part[target].astype("float64")
        part = part.loc[part[target].isin(list(classes))]
        codes = pd.Categorical(part[target], categories=list(classes)).codes
        return pd.Series(codes.astype(np.int64), index=part.index, name=target)

    meta_x = pd.DataFrame({c: pd.Series(dtype=np.float32) for c in columns})
    meta_y = pd.Series(dtype="int64" if classes is not None else "float64", name=target)
    return rows.map_partitions(features, meta=meta_x), rows.map_partitions(labels, meta=meta_y)


def _fit_distributed(
    model: TabularModel,
    rows: Any,
    target: str,
    client: Any,
    *,
    example: pd.DataFrame,
    deadline: Deadline,
) -> Any:
    """The family's estimator trained on every row of ``rows`` through Dask, as a local model;
    the fit stops at ``deadline`` (with the rounds it finished)."""
    local = model.pipeline_.steps[-1][1]
    x, y = _design(model, rows, target, example)
    classes = getattr(model, "classes_", None)
    params = _shared_params(local, _plain_estimator(model.family_, classes is not None))
    with ClusterDeadline.until(deadline, client) as stop:
        return fit_on_cluster(
            model.family_,
            x,
            y,
            client,
            params,
            n_classes=None if classes is None else len(classes),
            stop=stop,
        )


def _plain_estimator(family: str, classification: bool) -> Any:
    if family == "xgboost":
        import xgboost as xgb

        return xgb.XGBClassifier() if classification else xgb.XGBRegressor()
    import lightgbm as lgb

    return lgb.LGBMClassifier() if classification else lgb.LGBMRegressor()


def fit_on_cluster(
    family: str,
    x: Any,
    y: Any,
    client: Any,
    params: dict[str, Any],
    *,
    n_classes: int | None,
    stop: ClusterDeadline | None = None,
) -> Any:
    """``family`` ("xgboost" / "lightgbm") trained on the Dask collections ``x``, ``y`` with
    ``params``, stopping at ``stop``; returned as the plain (local) library estimator.

    ``n_classes``: the number of classes (codes 0..n-1 in ``y``), None for a regression.
    """
    classification = n_classes is not None
    if family == "xgboost":
        import xgboost as xgb
        from xgboost import dask as dxgb

        callbacks = [XGBoostStop(stop)] if stop is not None else None
        trainer = (dxgb.DaskXGBClassifier if classification else dxgb.DaskXGBRegressor)(
            **params, callbacks=callbacks
        )
        trainer.client = client
        trainer.fit(x, y)
        plain = xgb.XGBClassifier(**params) if classification else xgb.XGBRegressor(**params)
        plain.load_model(bytearray(trainer.get_booster().save_raw("json")))
        if classification:
            plain.n_classes_ = n_classes
        return plain
    import lightgbm as lgb

    trainer_class = lgb.DaskLGBMClassifier if classification else lgb.DaskLGBMRegressor
    trainer = trainer_class(client=client, **params)
    trainer.fit(x, y, callbacks=[LightGBMStop(stop)] if stop is not None else None)
    return trainer.to_local()


def _shared_params(fitted: Any, plain: Any) -> dict[str, Any]:
    """``fitted``'s parameters that the plain library estimator also takes (not callbacks)."""
    known = plain.get_params()
    skipped = {"n_jobs", "callbacks", "early_stopping_rounds", "eval_metric"}
    return {
        k: v
        for k, v in fitted.get_params().items()
        if k in known and k not in skipped and v is not None
    }


def _holdout_metrics(model: TabularModel, rows: Any, target: str) -> dict[str, float]:
    """Every metric of the task on the holdout rows, predicted partition by partition."""
    classes = getattr(model, "classes_", None)

    names = ["pred"] if classes is None else [f"p{i}" for i in range(len(classes))]

    def predict(part: pd.DataFrame) -> pd.DataFrame:
        if classes is not None:
            part = part.loc[part[target].isin(list(classes))]
        out = pd.DataFrame({"y": part[target].to_numpy()}, index=part.index)
        for name in names:
            out[name] = np.float64(0.0)
        if len(part):
            frame = part.drop(columns=[target])
            if classes is None:
                out["pred"] = model.predict(frame)
            else:
                out[names] = model.predict_proba(frame)
        return out

    meta = pd.DataFrame({"y": rows._meta[target], **{n: pd.Series(dtype="float64") for n in names}})
    scored = rows.map_partitions(predict, meta=meta).compute()
    if classes is None:
        return evaluate_all(
            scored["y"].to_numpy(), scored["pred"].to_numpy(), None, task=model.task_, classes=None
        )
    proba = scored[[f"p{i}" for i in range(len(classes))]].to_numpy()
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    return evaluate_all(
        scored["y"].to_numpy(), predicted, proba, task=model.task_, classes=list(classes)
    )


def _skipped(family: str, why: str) -> CandidateResult:
    return CandidateResult(
        family=family,
        score=float("nan"),
        std=float("nan"),
        fit_time_s=0.0,
        status="skipped",
        message=f"skipped: {why}",
        params={},
        n_folds=1,
    )
