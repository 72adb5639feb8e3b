"""Warm starts for tuning: configurations that did well on similar data before.

Two sources, tried in this order by :func:`warm_start_configs`:

1. History (:class:`WarmStartStore`): two tables in a small SQLite file (path
   given by the caller) or, given a ``postgresql://`` URL, in the schema
   ``mlchat`` of that database (so tuning workers on other machines share it),
   holding, per finished run, the dataset's meta-features
   (:attr:`tools.analyze.Profile.meta_features`) and the best configuration
   per model family. :meth:`WarmStartStore.similar` returns the best
   configurations of the k past datasets of the same task nearest to a new
   one: Euclidean distance over :data:`META_KEYS`, each feature scaled by its
   spread across the stored runs (plus the query).
2. The built-in portfolio (``tools/data/portfolio.json``, written offline by
   ``bench/build_portfolio.py``): a few configurations per family and task
   kind that did well across the bundled and generated datasets.

Configurations are trial parameters as an Optuna study stores them (for
:meth:`optuna.Study.enqueue_trial`); :func:`tools.search.tune.trial_to_params` turns
them into estimator parameters.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url

log = logging.getLogger(__name__)

PORTFOLIO_PATH = Path(__file__).parent / "data" / "portfolio.json"
META_KEYS: tuple[str, ...] = (
    "log_rows",
    "log_features",
    "missing_share",
    "mean_abs_skew",
    "share_numeric",
    "share_categorical",
    "share_boolean",
    "share_datetime",
    "share_text",
    "n_classes",
    "class_entropy",
    "minority_share",
    "target_skew",
)
"""Meta-features compared between datasets (absent ones count as 0)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS warmstart_run (
    run_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS warmstart_config (
    run_id TEXT NOT NULL REFERENCES warmstart_run(run_id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    params_json TEXT NOT NULL,
    score REAL,
    metric TEXT,
    PRIMARY KEY (run_id, family)
);
"""


@dataclass(frozen=True, slots=True)
class Neighbor:
    """A past run's best configuration for one family, and how far its data was."""

    run_id: str
    distance: float
    family: str
    params: dict[str, Any]
    score: float | None
    metric: str | None


def task_kind(task: str) -> str:
    """``"classification"`` or ``"regression"``: the portfolio's keys."""
    return "regression" if task == "regression" else "classification"


class WarmStartStore:
    """Meta-features and best configurations of finished runs (SQLite file or PostgreSQL URL)."""

    def __init__(self, location: Path | str) -> None:
        if isinstance(location, Path) or "://" not in str(location):
            path = Path(location)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = sqlalchemy.create_engine(
                f"sqlite:///{path}", connect_args={"timeout": 30}, poolclass=sqlalchemy.NullPool
            )
            sqlalchemy.event.listen(self.engine, "connect", _sqlite_foreign_keys)
            schema = _SCHEMA
        else:
            url = make_url(str(location))
            if url.drivername in ("postgres", "postgresql", "postgresql+asyncpg"):
                url = url.set(drivername="postgresql+psycopg2")
            self.engine = sqlalchemy.create_engine(
                url,
                connect_args={"options": f"-csearch_path={_PG_SCHEMA}"},
                poolclass=sqlalchemy.NullPool,
            )
            schema = _SCHEMA.replace(" REAL", " DOUBLE PRECISION")
        with self._connect() as db:
            if self.engine.dialect.name == "postgresql":
                db.execute(
                    sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext('mlchat.migrate'))")
                )
                db.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {_PG_SCHEMA}"))
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(sqlalchemy.text(statement))

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self.engine.begin() as db:
            yield db

    def record_run(
        self,
        run_id: str,
        *,
        task: str,
        meta_features: Mapping[str, float],
        best_configs: Mapping[str, Mapping[str, Any]],
        scores: Mapping[str, float] | None = None,
        metric: str | None = None,
    ) -> None:
        """Store (or replace) a finished run's meta-features and best configuration per family.

        Args:
            run_id: The run's id; recording it again replaces the earlier rows.
            task: ``binary``, ``multiclass`` or ``regression``.
            meta_features: ``Profile.meta_features`` of its data.
            best_configs: Family -> best trial parameters (as the study stores them).
            scores: Family -> that configuration's CV score (natural units).
            metric: The metric's canonical name.
        """
        meta = {k: float(v) for k, v in meta_features.items() if _finite(v)}
        with self._connect() as db:
            db.execute(_sql("DELETE FROM warmstart_config WHERE run_id = :run"), {"run": run_id})
            db.execute(_sql("DELETE FROM warmstart_run WHERE run_id = :run"), {"run": run_id})
            db.execute(
                _sql(
                    "INSERT INTO warmstart_run (run_id, task, meta_json, created_at)"
                    " VALUES (:run, :task, :meta, :at)"
                ),
                {
                    "run": run_id,
                    "task": task,
                    "meta": json.dumps(meta, sort_keys=True),
                    "at": time.time(),
                },
            )
            configs = [
                {
                    "run": run_id,
                    "family": family,
                    "params": json.dumps(_jsonable(params), sort_keys=True),
                    "score": _plain((scores or {}).get(family)),
                    "metric": metric,
                }
                for family, params in best_configs.items()
            ]
            if configs:
                db.execute(
                    _sql(
                        "INSERT INTO warmstart_config (run_id, family, params_json, score, metric)"
                        " VALUES (:run, :family, :params, :score, :metric)"
                    ),
                    configs,
                )

    def similar(
        self, meta_features: Mapping[str, float], family: str, *, task: str, k: int = 3
    ) -> list[Neighbor]:
        """The best ``family`` configurations of the ``k`` nearest past datasets of ``task``, nearest first."""
        with self._connect() as db:
            rows = db.execute(
                _sql(
                    "SELECT r.run_id, r.meta_json, c.params_json, c.score, c.metric"
                    " FROM warmstart_run r JOIN warmstart_config c ON c.run_id = r.run_id"
                    " WHERE r.task = :task AND c.family = :family ORDER BY r.created_at, r.run_id"
                ),
                {"task": task, "family": family},
            ).fetchall()
        if not rows:
            return []
        past = np.array([_vector(json.loads(row[1])) for row in rows])
        query = _vector(meta_features)
        spread = np.vstack([past, query]).std(axis=0)
        spread[spread < 1e-9] = 1.0
        distances = np.sqrt((((past - query) / spread) ** 2).sum(axis=1))
        order = np.argsort(distances, kind="stable")[: max(k, 0)]
        return [
            Neighbor(
                run_id=rows[i][0],
                distance=float(distances[i]),
                family=family,
                params=json.loads(rows[i][2]),
                score=rows[i][3],
                metric=rows[i][4],
            )
            for i in order
        ]

    def count_runs(self) -> int:
        """How many runs are stored."""
        with self._connect() as db:
            return int(db.execute(_sql("SELECT COUNT(*) FROM warmstart_run")).scalar() or 0)


_PG_SCHEMA = "mlchat"  # beside the store's tables (assistant/database.py)


def _sql(statement: str) -> sqlalchemy.TextClause:
    return sqlalchemy.text(statement)


def _plain(value: Any) -> float | None:
    return None if value is None else float(value)  # numpy floats are not bound by psycopg2


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


def portfolio(family: str, task: str, *, path: Path = PORTFOLIO_PATH) -> list[dict[str, Any]]:
    """The built-in configurations for ``family`` on ``task``'s kind, best first (may be empty)."""
    data = _load_portfolio(path)
    return [dict(c) for c in data.get(task_kind(task), {}).get(family, [])]


def warm_start_configs(
    meta_features: Mapping[str, float],
    family: str,
    *,
    task: str,
    store: WarmStartStore | None = None,
    k: int = 3,
    n_portfolio: int = 3,
    portfolio_path: Path = PORTFOLIO_PATH,
) -> list[dict[str, Any]]:
    """Configurations to try first for ``family``: nearest past runs' best, then the portfolio.

    Duplicates are dropped; at most ``k + n_portfolio`` configurations.
    """
    configs: list[dict[str, Any]] = []
    if store is not None:
        configs += [n.params for n in store.similar(meta_features, family, task=task, k=k)]
    configs += portfolio(family, task, path=portfolio_path)[:n_portfolio]
    unique: list[dict[str, Any]] = []
    seen: set[str] = set()
    for config in configs:
        key = json.dumps(config, sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(config)
    return unique


@cache
def _load_portfolio(path: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    if not path.exists():
        log.warning("portfolio_missing path=%s", path)
        return {}
    return json.loads(path.read_text(encoding="utf-8"))["configs"]


def _vector(meta: Mapping[str, float]) -> np.ndarray:
    values = []
    for key in META_KEYS:
        value = meta.get(key, 0.0)
        value = float(value) if _finite(value) else 0.0
        if key == "target_skew":
            value = math.copysign(math.log1p(abs(value)), value)
        values.append(value)
    return np.asarray(values, dtype=np.float64)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


__all__ = [
    "META_KEYS",
    "PORTFOLIO_PATH",
    "Neighbor",
    "WarmStartStore",
    "portfolio",
    "task_kind",
    "warm_start_configs",
]
